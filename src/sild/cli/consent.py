"""``sild consent …``: locks and consents, and the decision service (docs/spec/consent.md,
docs/guide.md "Consent and locks").

The operator commands (lock, unlock, locks, grant, show, revoke, …) work on the store
directly, as a person's requests through the portal will; ``serve`` runs the HTTP service
that provider gateways ask. Heavy imports (SQLAlchemy, Starlette, joserfc) wait inside
the commands.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["DEFAULT_LISTEN", "add_parser"]

DEFAULT_LISTEN = "127.0.0.1:8483"


def add_parser(sub: Any) -> None:
    from sild.cli._common import add_dir_arg
    from sild.cli.identity import _guarded

    p: argparse.ArgumentParser = sub.add_parser(
        "consent", help="data locks and consent artefacts; the decision service gateways ask")
    s = p.add_subparsers(dest="consent_command", metavar="ACTION", required=True)

    def cmd(name: str, help_: str, func: Any) -> argparse.ArgumentParser:
        c: argparse.ArgumentParser = s.add_parser(name, help=help_)
        add_dir_arg(c)
        c.set_defaults(func=_guarded(func))
        return c

    def by(c: argparse.ArgumentParser) -> None:
        c.add_argument("--by", default="operator", metavar="NAME",
                       help="who does this (recorded in the history; default operator)")

    c = cmd("init", "make the consent service's signing key, admin token and store", run_init)
    c.add_argument("--database", metavar="URL",
                   help="sqlite:///… or postgresql://… (default: SQLite in DIR/consent)")

    c = cmd("serve", "run the consent service over HTTP", run_serve)
    c.add_argument("--listen", default=DEFAULT_LISTEN,
                   help=f"host:port (default {DEFAULT_LISTEN})")

    c = cmd("lock", "close a data category of a person to everyone (or all but --except)",
            run_lock)
    c.add_argument("person", metavar="PERSON", help="personal code, e.g. EE38001085718")
    c.add_argument("category", metavar="CATEGORY", help="data category, e.g. health")
    c.add_argument("--except", dest="exceptions", action="append", default=[],
                   metavar="CLIENT", help="a consumer that may still receive it, e.g. "
                                          "EE/GOV/70008440/rr (repeatable)")
    c.add_argument("--expires", metavar="TIME", help="RFC 3339 UTC, e.g. 2027-01-01T00:00:00Z")
    by(c)

    c = cmd("unlock", "open a locked data category again", run_unlock)
    c.add_argument("person", metavar="PERSON")
    c.add_argument("category", metavar="CATEGORY")
    by(c)

    c = cmd("locks", "a person's locks and consents (--history: every change)", run_locks)
    c.add_argument("person", metavar="PERSON")
    c.add_argument("--history", action="store_true", help="every lock and consent change")

    c = cmd("grant", "record a person's consent for one consumer (ACTIVE, signed)", run_grant)
    c.add_argument("person", metavar="PERSON")
    c.add_argument("--consumer", required=True, metavar="CLIENT",
                   help="X-Road client id of the consumer")
    c.add_argument("--purpose", required=True, metavar="CODE", help="purpose code")
    c.add_argument("--purpose-text", default="", metavar="TEXT", help="shown to the person")
    c.add_argument("--category", dest="categories", action="append", required=True,
                   metavar="CATEGORY", help="a data category it covers (repeatable)")
    c.add_argument("--expires", required=True, metavar="TIME",
                   help="consentExpiry, RFC 3339 UTC")
    c.add_argument("--start", metavar="TIME", help="consentStart (default now)")
    c.add_argument("--data-life", default="0:DAY", metavar="N:UNIT",
                   help="how long the consumer may keep the data: N and DAY, MONTH, YEAR or "
                        "INF (default 0:DAY)")
    by(c)

    c = cmd("show", "one consent: status, use, signed artefact (JSON)", run_show)
    c.add_argument("consent_id", metavar="CONSENT_ID")

    for action, help_ in (("revoke", "withdraw a consent (final)"),
                          ("pause", "pause an active consent"),
                          ("resume", "resume a paused consent"),
                          ("approve", "approve a consumer's PENDING request (signs it)"),
                          ("reject", "reject a consumer's PENDING request")):
        c = cmd(action, help_, run_transition)
        c.add_argument("consent_id", metavar="CONSENT_ID")
        c.set_defaults(action=action)
        by(c)


def _service(args: argparse.Namespace) -> Any:
    from sild.cli._common import _engines, instance_of
    from sild.consent.home import ConsentHome

    home = ConsentHome.load(instance_of(args))
    engine = home.engine()
    _engines.append(engine)  # disposed when the command ends
    return home.service(engine)


def _time(text: str | None, what: str) -> Any:
    from sild.consent.model import parse_time

    return None if text is None else parse_time(text, what)


def run_init(args: argparse.Namespace) -> int:
    from sild.cli._common import console, instance_of
    from sild.consent.home import ConsentHome

    home = ConsentHome.create(instance_of(args), database_url=args.database)
    console.print(f"consent service set up in {home.root}: signing key ES256, kid "
                  f"{home.key().kid}; admin token in {home.root / 'admin-token'}",
                  markup=False)
    return 0


def run_serve(args: argparse.Namespace) -> int:
    import asyncio

    from sild.cli._common import console, instance_of
    from sild.consent.app import create_consent_app, serve_consent
    from sild.consent.home import ConsentHome
    from sild.instance import parse_listen

    host, port = parse_listen(args.listen)
    home = ConsentHome.load(instance_of(args))
    app = create_consent_app(home.service(home.engine()), admin_token=home.admin_token())
    asyncio.run(serve_consent(app, host, port, started=lambda url: console.print(
        f"consent service on {url} (decisions at {url}/v1/decision)", markup=False)))
    return 0


def run_lock(args: argparse.Namespace) -> int:
    from sild.cli._common import console

    lock = _service(args).lock(args.person, args.category, exceptions=args.exceptions,
                               expires_at=_time(args.expires, "--expires"), actor=args.by)
    but = f" except {', '.join(lock.exceptions)}" if lock.exceptions else ""
    until = f" until {args.expires}" if args.expires else ""
    console.print(f"{lock.subject}: {lock.category} locked for everyone{but}{until}",
                  markup=False)
    return 0


def run_unlock(args: argparse.Namespace) -> int:
    from sild.cli._common import console
    from sild.consent.model import parse_subject

    _service(args).unlock(args.person, args.category, actor=args.by)
    console.print(f"{parse_subject(args.person)}: {args.category} unlocked", markup=False)
    return 0


def run_locks(args: argparse.Namespace) -> int:
    from sild.cli._common import table

    svc = _service(args)
    if args.history:
        table("history", ["at", "what", "action", "detail", "by"],
              [(e["at"], e.get("category") or e.get("consentId"), e["action"],
                _detail(e), e["actor"]) for e in svc.history(args.person)])
        return 0
    table("locks", ["category", "closed to", "except", "expires", "since"],
          [(lk.category, "everyone", ", ".join(lk.exceptions), lk.to_json()["expires"] or "",
            lk.to_json()["since"]) for lk in svc.locks(args.person)])
    table("consents", ["consent id", "consumer", "purpose", "categories", "status",
                       "expires", "uses"],
          [(c.artefact.consent_id, c.artefact.consumer, c.artefact.purpose.code,
            ", ".join(c.artefact.categories), c.status.value,
            c.to_json()["detail"]["consentExpiry"], c.use_count)
           for c in svc.consents(args.person)])
    return 0


def _detail(e: dict[str, Any]) -> str:
    if e["kind"] == "consent":
        return f"{e['from'] or '-'} → {e['to']}"
    if e["action"] == "unlock":
        return ""
    but = f" except {', '.join(e['except'])}" if e["except"] else ""
    return f"everyone{but}" + (f" until {e['expires']}" if e["expires"] else "")


def run_grant(args: argparse.Namespace) -> int:
    from sild.cli._common import console
    from sild.errors import InvalidRequest

    n, _, unit = args.data_life.partition(":")
    if not n.isdigit() or not unit:
        raise InvalidRequest("--data-life is N:UNIT, e.g. 30:DAY")
    rec = _service(args).grant(
        subject=args.person, consumer=args.consumer,
        purpose={"code": args.purpose, "text": args.purpose_text}, categories=args.categories,
        data_life={"unit": unit.upper(), "value": int(n)},
        start=_time(args.start, "--start"), expiry=_time(args.expires, "--expires"),
        actor=args.by)
    console.print(f"consent {rec.artefact.consent_id} ACTIVE: {rec.artefact.consumer} may "
                  f"receive {', '.join(rec.artefact.categories)} of {rec.artefact.subject} "
                  f"for {rec.artefact.purpose.code} until {args.expires}", markup=False)
    console.print(f"signed artefact: {rec.signed}", markup=False)
    return 0


def run_show(args: argparse.Namespace) -> int:
    import json

    print(json.dumps(_service(args).get(args.consent_id).to_json(), indent=2))
    return 0


def run_transition(args: argparse.Namespace) -> int:
    from sild.cli._common import console
    from sild.consent.model import Action

    rec = _service(args).transition(args.consent_id, Action(args.action), actor=args.by)
    console.print(f"consent {rec.artefact.consent_id} is {rec.status.value}", markup=False)
    return 0
