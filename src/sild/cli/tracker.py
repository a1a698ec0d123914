"""``sild tracker …``: the data tracker of a provider gateway (docs/spec/tracker.md).

* ``serve``   the register's findUsage v2 information system (port 8484), over the
              gateway's usage records; register it as the service ``findUsage``;
* ``find``    a person's usage records, as the operator sees them (sealed ones marked);
* ``proof``   write a person's usage proof for a period (JSON), for ``verify``;
* ``verify``  check a usage proof offline (sild.cli.tracker_verify: exit 0 complete, 5 a
              record is missing, altered, withheld or inserted — the message names it —
              4 when the head's anchoring in the ledger could not be shown);
* ``sealed``  the sealed (covert) records not yet released;
* ``unseal``  release a sealed record by a court decision (itself a usage record);
* ``expire``  delete records past the retention period (proofs of later periods stay).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sild.cli._common import _engines, console, table
from sild.cli.tracker_verify import add_verify_parser

if TYPE_CHECKING:
    from sild.gateway.config import GatewaySettings
    from sild.tracker.store import UsageStore

__all__ = ["add_parser"]

DEFAULT_LISTEN = "127.0.0.1:8484"


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "tracker", help="data tracker: who used a person's data (findUsage v2), proofs")
    a = p.add_subparsers(dest="tracker_command", metavar="ACTION", required=True)

    serve = a.add_parser("serve", help="serve findUsage v2 over this gateway's usage records")
    _dir_arg(serve)
    serve.add_argument("--listen", default=DEFAULT_LISTEN, metavar="HOST:PORT",
                       help=f"where to listen (default {DEFAULT_LISTEN})")
    serve.set_defaults(func=run_serve)

    find = a.add_parser("find", help="a person's usage records in one register")
    _dir_arg(find)
    _person_args(find)
    find.add_argument("--json", action="store_true", help="findUsage's JSON answer")
    find.add_argument("--limit", type=int, default=50, help="most records shown (default 50)")
    find.set_defaults(func=run_find, log_level=None)

    proof = a.add_parser("proof", help="write a person's usage proof (JSON) for a period")
    _dir_arg(proof)
    _person_args(proof)
    proof.add_argument("--out", required=True, metavar="FILE", help="where to write it")
    proof.add_argument("--anchor", action="store_true", help="with the anchored head and "
                       "its ledger receipt (docs/spec/tracker.md §3.4)")
    proof.set_defaults(func=run_proof, log_level=None)

    add_verify_parser(a)  # sild.cli.tracker_verify: the chain and the anchored head

    sealed = a.add_parser("sealed", help="sealed (covert) records not yet released")
    _dir_arg(sealed)
    sealed.set_defaults(func=run_sealed, log_level=None)

    unseal = a.add_parser("unseal", help="release a sealed record by a court decision")
    _dir_arg(unseal)
    unseal.add_argument("record", type=int, metavar="RECORD_ID", help="from `sild tracker sealed`")
    unseal.add_argument("--decision", required=True, metavar="REF",
                        help="the court decision's reference")
    unseal.set_defaults(func=run_unseal, log_level=None)

    expire = a.add_parser("expire", help="delete usage records past the retention period")
    _dir_arg(expire)
    expire.set_defaults(func=run_expire, log_level=None)


def _dir_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", required=True, metavar="GWDIR", help="the provider gateway's folder")


def _person_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("register", metavar="SUBSYSTEM_ID", help="the register (provider subsystem)")
    p.add_argument("subject", metavar="PERSONAL_CODE", help="e.g. EE38001085718")
    p.add_argument("--from", dest="start", metavar="TIME", help="RFC 3339 period start")
    p.add_argument("--to", dest="end", metavar="TIME", help="RFC 3339 period end")


def _open(args: argparse.Namespace) -> tuple[GatewaySettings, UsageStore]:
    from sild.gateway.config import GatewaySettings
    from sild.store import make_engine, migrate
    from sild.tracker.store import UsageStore

    settings = GatewaySettings.load(Path(args.dir))
    engine = make_engine(settings.database_url)
    _engines.append(engine)  # disposed by the CLI root when the command ends
    migrate(engine, "messagelog")
    return settings, UsageStore(engine)


def _person(args: argparse.Namespace) -> tuple[str, str, Any, Any]:
    from datetime import datetime

    from sild.core.identifiers import SubsystemId
    from sild.core.usage import parse_subject
    from sild.errors import InvalidRequest

    register = str(SubsystemId.parse(args.register))
    subject = parse_subject(args.subject)
    times = []
    for name, text in (("--from", args.start), ("--to", args.end)):
        when = None
        if text is not None:
            try:
                when = datetime.fromisoformat(text)
            except ValueError:
                when = None
            if when is None or when.tzinfo is None:
                raise InvalidRequest(f"{name} must be an RFC 3339 time with a zone, "
                                     f"like 2026-12-01T00:00:00Z")
        times.append(when)
    return register, subject, times[0], times[1]


def run_serve(args: argparse.Namespace) -> int:
    import asyncio

    from sild.identity._http import serve_app
    from sild.instance import parse_listen
    from sild.tracker.app import create_tracker_app

    host, port = parse_listen(args.listen)
    settings, store = _open(args)
    app = create_tracker_app(store, retention_days=settings.tracker.retention_for)
    asyncio.run(serve_app(app, host, port, started=lambda url: console.print(
        f"findUsage v2 for {settings.server} on {url} — register it as the service "
        f"findUsage of each register's subsystem (OpenAPI: {url}/openapi.yaml)",
        markup=False)))
    return 0


def run_find(args: argparse.Namespace) -> int:
    from sild.tracker.app import logtime
    from sild.tracker.store import receiver_parts

    _, store = _open(args)
    register, subject, start, end = _person(args)
    total, page = store.find(register, subject, start=start, end=end, limit=max(args.limit, 0),
                             include_hidden=True)
    if args.json:
        usages = []
        for u in page:
            if u.hidden:
                continue
            code, system = receiver_parts(u.receiver)
            usages.append({"logtime": logtime(u.logged_at), "action": u.action,
                           "receiverCode": code, "receiverName": u.receiver_name,
                           "receiverSystem": system})
        print(json.dumps({"totalUsages": sum(1 for u in page if not u.hidden),
                          "usages": usages}, ensure_ascii=False, indent=2))
        return 0
    table(f"{subject} in {register}: {total} records", (
        "id", "seq", "time (UTC)", "receiver", "acting person", "purpose", "flags"),
        [(u.id, u.seq, logtime(u.logged_at), u.receiver, u.user_id, u.action,
          ",".join(u.flags) + (" (not released)" if u.hidden else "")) for u in page])
    return 0


def run_proof(args: argparse.Namespace) -> int:
    from sild.files import atomic_write
    from sild.tracker.proof import usage_proof

    out = Path(args.out)
    _check_out(out)
    _, store = _open(args)
    register, subject, start, end = _person(args)
    proof = usage_proof(store, register, subject, start=start, end=end, anchor=args.anchor)
    atomic_write(out, json.dumps(proof, ensure_ascii=False, indent=1).encode())
    console.print(f"proof of {len(proof['records'])} records up to seq {proof['head']['seq']} "
                  f"written to {out}", markup=False)
    return 0


def _check_out(out: Path) -> None:
    from sild.errors import InvalidRequest

    if out.is_dir():
        raise InvalidRequest(f"--out {out} is a folder; give a file name")
    if not out.parent.is_dir():
        raise InvalidRequest(f"--out {out}: the folder {out.parent} does not exist")


def run_sealed(args: argparse.Namespace) -> int:
    from sild.tracker.app import logtime

    _, store = _open(args)
    rows = store.sealed()
    table(f"{len(rows)} sealed records", ("id", "register", "subject", "time (UTC)",
                                          "receiver", "purpose"),
          [(u.id, u.register, u.subject, logtime(u.logged_at), u.receiver, u.action)
           for u in rows])
    return 0


def run_unseal(args: argparse.Namespace) -> int:
    from sild.clock import utc_now

    _, store = _open(args)
    released = store.unseal(args.record, args.decision, at=utc_now())
    console.print(f"record {released.id} of {released.subject} released "
                  f"(decision {args.decision!r}); the person now sees it", markup=False)
    return 0


def run_expire(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from sild.clock import utc_now

    settings, store = _open(args)
    now, t = utc_now(), settings.tracker
    days = t.retention_days
    own = tuple(register for register, _ in t.register_retention)
    deleted = store.expire(now - timedelta(days=days), except_registers=own)
    console.print(f"{deleted} usage records older than {days} days deleted; "
                  f"chain heads and cut-offs kept for later proofs", markup=False)
    for register, kept in t.register_retention:  # [tracker.retention] (§5.3)
        n = store.expire(now - timedelta(days=kept), register=register)
        console.print(f"{register}: {n} usage records older than {kept} days deleted",
                      markup=False)
    return 0
