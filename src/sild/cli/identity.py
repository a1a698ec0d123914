"""``sild identity``: person identities for citizens and e-residents (docs/guide.md,
"Digital identity"; docs/spec/identity.md).

Thin: parse arguments, call :mod:`sild.identity`, print. Heavy imports happen inside
the handlers so ``sild --help`` stays fast. Every error caused by the operator's input
(malformed code, unknown id, wrong PIN, unreadable file, a step the state does not
allow) is one line on stderr and exit code 2; storage failures exit 1. PINs and PUKs
are read from files (``-`` = standard input), never from the command line, where any
user could see them in the process list.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sild.identity.home import IdentityHome
    from sild.identity.service import IdentityService, Issued
    from sild.identity.status import StatusSource
    from sild.identity.token import Pins

REVOCATION_CHOICES = ("unspecified", "keyCompromise", "affiliationChanged", "superseded",
                      "cessationOfOperation", "privilegeWithdrawn")


def _guarded(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Operator-input errors → one line, exit 2 (storage and internal errors stay exit 1)."""

    @functools.wraps(func)
    def run(args: argparse.Namespace) -> int:
        from sild.cli import err_console
        from sild.errors import InternalError, SildError, StorageError

        try:
            return func(args)
        except (StorageError, InternalError):
            raise
        except SildError as e:
            err_console.print(f"sild: error: {e}", markup=False)
            return 2

    return run


def add_parser(sub: Any) -> None:
    from sild.cli._common import add_dir_arg, add_passphrase_arg

    p: argparse.ArgumentParser = sub.add_parser(
        "identity", help="person identities: citizens, e-Residency, suspension, drills")
    s = p.add_subparsers(dest="identity_command", metavar="ACTION", required=True)

    def cmd(parent: Any, name: str, help_: str, func: Callable[[argparse.Namespace], int],
            *, passphrase: bool = False) -> argparse.ArgumentParser:
        c: argparse.ArgumentParser = parent.add_parser(name, help=help_)
        add_dir_arg(c)
        if passphrase:
            add_passphrase_arg(c)
        c.set_defaults(func=_guarded(func))
        return c

    def by(c: argparse.ArgumentParser, default: str | None = "operator") -> None:
        c.add_argument("--by", default=default, required=default is None, metavar="NAME",
                       help="who does this (recorded in the event log)")

    def pins(c: argparse.ArgumentParser) -> None:
        c.add_argument("--pins-file", metavar="FILE",
                       help="three lines PIN1, PIN2, PUK for the new token (default: random, "
                            "printed once as the PIN envelope)")

    c = cmd(s, "init", "create the person CA (under the instance root) and the identity store",
            run_init, passphrase=True)
    c.add_argument("--database", metavar="URL",
                   help="sqlite:///… or postgresql://… (default: SQLite in DIR/identity)")
    c.add_argument("--ocsp-url", metavar="URL", help="OCSP URL to put into certificates (AIA)")
    c.add_argument("--key-type", choices=["p256", "ed25519"], default="p256",
                   help="person CA key type (default p256)")

    off = s.add_parser("officer", help="officers who check and decide e-Residency applications")
    os_ = off.add_subparsers(dest="officer_command", metavar="ACTION", required=True)
    c = cmd(os_, "add", "add an officer", run_officer_add)
    c.add_argument("name")
    c.add_argument("--role", required=True, choices=["police", "registrar"])

    cit = s.add_parser("citizen", help="citizens from the population register")
    cs = cit.add_subparsers(dest="citizen_command", metavar="ACTION", required=True)
    c = cmd(cs, "add", "issue identities to citizens (one, or every row of a CSV)",
            run_citizen_add, passphrase=True)
    c.add_argument("--country", default="EE", help="country of the personal code (default EE)")
    c.add_argument("--code", help="personal code")
    c.add_argument("--given", help="given name")
    c.add_argument("--surname")
    c.add_argument("--csv", metavar="FILE", help="population register CSV: "
                   "country,code,given_name,surname")
    pins(c)
    by(c)

    er = s.add_parser("eresidency", help="the e-Residency workflow")
    es = er.add_subparsers(dest="eresidency_command", metavar="ACTION", required=True)
    c = cmd(es, "apply", "submit an application", run_apply)
    c.add_argument("--citizenship", required=True, help="ISO 3166-1 alpha-2, e.g. JP")
    c.add_argument("--given", required=True)
    c.add_argument("--surname", required=True)
    c.add_argument("--birth-date", required=True, metavar="YYYY-MM-DD")
    c.add_argument("--sex", required=True, choices=["M", "F"])
    _document_args(c)
    c.add_argument("--reason", required=True, help="why the applicant wants e-Residency")
    c = cmd(es, "check", "record the background check (police officer)", run_check)
    c.add_argument("application", type=_record_id)
    c.add_argument("--result", required=True, choices=["clear", "flagged"])
    c.add_argument("--note", required=True)
    by(c, None)
    c = cmd(es, "decide", "approve or reject (registrar, not the checker)", run_decide)
    c.add_argument("application", type=_record_id)
    g = c.add_mutually_exclusive_group(required=True)
    g.add_argument("--approve", action="store_true")
    g.add_argument("--reject", action="store_true")
    c.add_argument("--reason", required=True)
    by(c, None)
    c = cmd(es, "issue", "issue the identity of an approved application", run_issue,
            passphrase=True)
    c.add_argument("application", type=_record_id)
    pins(c)
    by(c)
    c = cmd(es, "pickup", "hand the token to the applicant showing the same document",
            run_er_pickup)
    c.add_argument("application", type=_record_id)
    _document_args(c)
    c.add_argument("--out", required=True, metavar="FILE", help="new file for the token")
    by(c)
    c = cmd(es, "list", "applications", run_er_list)
    c.add_argument("--state", choices=["submitted", "checked", "approved", "rejected", "issued",
                                       "picked-up"])

    c = cmd(s, "pickup", "hand an identity's token over (writes --out, forgets our copy)",
            run_pickup)
    c.add_argument("identity", type=_record_id)
    c.add_argument("--out", required=True, metavar="FILE")
    by(c)
    c = cmd(s, "suspend", "suspend an identity (OCSP: revoked, certificateHold)", run_suspend)
    c.add_argument("identity", type=_record_id)
    c.add_argument("--reason", required=True)
    by(c)
    c = cmd(s, "resume", "lift a suspension", run_resume)
    c.add_argument("identity", type=_record_id)
    c.add_argument("--reason", required=True)
    by(c)
    c = cmd(s, "revoke", "revoke an identity for good", run_revoke)
    c.add_argument("identity", type=_record_id)
    c.add_argument("--reason", required=True, choices=REVOCATION_CHOICES,
                   help="RFC 5280 reason")
    c.add_argument("--note", default="", help="free text: why")
    by(c)
    c = cmd(s, "renew", "new keys and certificates; the old identity is superseded", run_renew,
            passphrase=True)
    c.add_argument("identity", type=_record_id)
    pins(c)
    by(c)
    c = cmd(s, "expire", "mark identities whose certificates ended as expired", run_expire)
    c = cmd(s, "list", "identities", run_list)
    c.add_argument("--state", choices=["active", "suspended", "revoked", "expired"])
    c.add_argument("--code", help="only this person: COUNTRY:CODE or an EE code")
    c.add_argument("--limit", type=_record_id, default=1000, help="at most this many rows")
    c = cmd(s, "show", "one identity with its history", run_show)
    c.add_argument("identity", type=_record_id)
    c.add_argument("--pem", choices=["auth", "sign"],
                   help="print only this certificate as PEM (for openssl)")
    c = cmd(s, "drill", "suspend every active identity whose keys match; optionally reissue",
            run_drill, passphrase=True)
    c.add_argument("--key-type", choices=["p256", "ed25519"])
    c.add_argument("--fingerprint-prefix", metavar="HEX",
                   help="SPKI SHA-256 prefix (a ROCA-style fingerprint test)")
    c.add_argument("--issued-from", metavar="YYYY-MM-DD")
    c.add_argument("--issued-to", metavar="YYYY-MM-DD")
    c.add_argument("--reason", required=True)
    c.add_argument("--reissue", action="store_true",
                   help="renew every suspended identity (new keys, token, PIN envelope)")
    pins(c)
    by(c)

    tok = s.add_parser("token", help="use a soft token: status, sign, authenticate, unblock a PIN")
    ts = tok.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    c = ts.add_parser("status", help="certificates and tries left")
    c.add_argument("token", metavar="TOKEN")
    c.set_defaults(func=_guarded(run_token_status))
    c = ts.add_parser("sign", help="sign a file with the signing key (PIN2); prints base64")
    c.add_argument("token", metavar="TOKEN")
    c.add_argument("file", metavar="FILE")
    c.add_argument("--pin2-file", required=True, metavar="FILE")
    c.set_defaults(func=_guarded(run_token_sign))
    c = ts.add_parser("authenticate", help="sign a challenge with the auth key (PIN1)")
    c.add_argument("token", metavar="TOKEN")
    c.add_argument("--challenge", required=True, help="hex bytes to sign")
    c.add_argument("--pin1-file", required=True, metavar="FILE")
    c.set_defaults(func=_guarded(run_token_auth))
    c = ts.add_parser("unblock", help="set a new PIN1 or PIN2 with the PUK")
    c.add_argument("token", metavar="TOKEN")
    c.add_argument("--pin", required=True, choices=["pin1", "pin2"])
    c.add_argument("--puk-file", required=True, metavar="FILE")
    c.add_argument("--new-pin-file", required=True, metavar="FILE")
    c.set_defaults(func=_guarded(run_token_unblock))

    # The OCSP responder (RFC 6960) and the timestamping authority (RFC 3161):
    # `sild identity ocsp init|serve`, `sild identity tsa init|serve|verify|extend`.
    from sild.cli.identity_services import add_ocsp_parser, add_tsa_parser

    add_ocsp_parser(s, source_factory=_status_source)
    add_tsa_parser(s)
    # The OpenID Connect provider: `sild identity oidc init|serve|challenge|client …`.
    from sild.cli.identity_oidc import add_oidc_parser

    add_oidc_parser(s)


def _status_source(args: argparse.Namespace) -> StatusSource:
    """The identity store of the instance (--dir) answers the responder's questions."""
    from sild.cli._common import instance_of
    from sild.identity.home import IdentityHome

    home = IdentityHome.load(instance_of(args))
    return home.status_source(home.engine())  # kept open while the responder serves


def _record_id(text: str) -> int:
    """An identity or application id: a positive integer that fits the store's INTEGER."""
    if not text.isascii() or not text.isdigit() or not 0 < int(text) < 2**31:
        raise argparse.ArgumentTypeError(f"{text!r} is not an id (a positive integer)")
    return int(text)


def _document_args(c: argparse.ArgumentParser) -> None:
    g = c.add_mutually_exclusive_group(required=True)
    g.add_argument("--document-photo", metavar="FILE", help="the identity document's photo page")
    g.add_argument("--document-sha256", metavar="HEX", help="its SHA-256, if only that is at hand")


# -- helpers ----------------------------------------------------------------------------------


def _read(path: str, what: str, *, limit: int = 64 * 1024 * 1024) -> bytes:
    import sys
    from pathlib import Path

    from sild.errors import ConfigurationError

    if path == "-":
        return sys.stdin.buffer.read(limit)
    p = Path(path)
    if p.is_dir():
        raise ConfigurationError(f"{what} {path} is a folder, not a file")
    try:
        with p.open("rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise ConfigurationError(f"cannot read {what} {path}: {e.strerror}") from e
    if len(data) > limit:
        raise ConfigurationError(f"{what} {path} is larger than {limit} bytes")
    return data


def _text(path: str, what: str) -> str:
    from sild.errors import ConfigurationError

    try:
        return _read(path, what, limit=1024 * 1024).decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigurationError(f"{what} {path} is not UTF-8 text") from e


def _secret(path: str, what: str) -> str:
    lines = _text(path, what).splitlines()
    return lines[0].strip() if lines else ""


def _pins(args: argparse.Namespace) -> Callable[[], Pins]:
    """A source of PINs for new tokens: the pins file, or a fresh random envelope each."""
    from sild.identity.token import Pins

    if args.pins_file:
        fixed = Pins.parse_lines(_text(args.pins_file, "pins file"))
        return lambda: fixed
    return Pins.random


def _envelope(issued: Issued, pins: Pins, printed: bool) -> None:
    from sild.cli._common import console

    i = issued.identity
    console.print(f"issued identity {i.id} to {i.person.code} "
                  f"({i.person.given_name} {i.person.surname}), valid until "
                  f"{i.not_after:%Y-%m-%d}; token {issued.token_path}", markup=False)
    if printed:
        console.print(f"  PIN envelope for identity {i.id}: PIN1 {pins.pin1}  PIN2 {pins.pin2}  "
                      f"PUK {pins.puk}  (shown once, not stored)", markup=False)


@contextlib.contextmanager
def _open(args: argparse.Namespace, *, issuing: bool = False) -> Iterator[
        tuple[IdentityHome, IdentityService]]:
    from sild.cli._common import instance_of
    from sild.identity.home import IdentityHome
    from sild.instance import read_passphrase

    home = IdentityHome.load(instance_of(args))
    passphrase = read_passphrase(getattr(args, "passphrase_file", None)) if issuing else None
    engine = home.engine()
    try:
        yield home, home.service(engine, passphrase=passphrase, issuing=issuing)
    finally:
        engine.dispose()


def _issue_with(args: argparse.Namespace, make: Callable[[Callable[[], Pins]], list[
        tuple[Issued, Pins]]]) -> int:
    source = _pins(args)
    for issued, pins in make(source):
        _envelope(issued, pins, printed=not args.pins_file)
    return 0


def _document_hash(args: argparse.Namespace) -> str:
    import hashlib

    if args.document_photo:
        return hashlib.sha256(_read(args.document_photo, "document photo")).hexdigest()
    return str(args.document_sha256)


def _code(text: str) -> Any:
    from sild.core.personal_code import parse

    country, sep, code = text.partition(":")
    return parse(country.upper(), code) if sep else parse("EE", text)


# -- handlers ---------------------------------------------------------------------------------


def run_init(args: argparse.Namespace) -> int:
    from sild.cli._common import console, instance_of
    from sild.clock import utc_now
    from sild.crypto.keys import KeyType
    from sild.identity.home import IdentityHome
    from sild.instance import read_passphrase

    home = IdentityHome.create(instance_of(args), at=utc_now(),
                               passphrase=read_passphrase(args.passphrase_file),
                               database_url=args.database, ocsp_url=args.ocsp_url,
                               key_type=KeyType(args.key_type))
    console.print(f"identity ready in {home.root}\n  person CA: {home.ca_dir / 'chain.pem'}\n"
                  f"  store:     {home.database_url}", markup=False)
    return 0


def run_officer_add(args: argparse.Namespace) -> int:
    from sild.cli._common import console
    from sild.identity.records import OfficerRole

    with _open(args) as (_, svc):
        svc.add_officer(args.name, OfficerRole(args.role))
    console.print(f"officer {args.name} ({args.role}) added", markup=False)
    return 0


def run_citizen_add(args: argparse.Namespace) -> int:
    from sild.errors import ConfigurationError
    from sild.identity.population import parse_citizen_row, parse_citizens_csv

    if args.csv:
        if args.code or args.given or args.surname:
            raise ConfigurationError("give either --csv or --code/--given/--surname")
        records = parse_citizens_csv(_text(args.csv, "CSV file"))
    else:
        missing = [f"--{n}" for n in ("code", "given", "surname") if not getattr(args, n)]
        if missing:
            raise ConfigurationError(f"missing {', '.join(missing)} (or give --csv FILE)")
        records = [parse_citizen_row({"country": args.country, "code": args.code,
                                      "given_name": args.given, "surname": args.surname})]

    def make(source: Callable[[], Pins]) -> list[tuple[Issued, Pins]]:
        chosen = [source() for _ in records]
        by_code = {(r.code.country, r.code.code): p for r, p in zip(records, chosen,
                                                                   strict=True)}
        with _open(args, issuing=True) as (_, svc):
            issued = svc.issue_citizens(records, lambda r: by_code[(r.code.country,
                                                                    r.code.code)],
                                        actor=args.by)
        return list(zip(issued, chosen, strict=True))

    return _issue_with(args, make)


def run_apply(args: argparse.Namespace) -> int:
    import datetime as dt

    from sild.cli._common import console
    from sild.core.personal_code import Sex
    from sild.errors import InvalidRequest
    from sild.identity.eresidency import EResidency

    try:
        born = dt.date.fromisoformat(args.birth_date)
    except ValueError as e:
        raise InvalidRequest(f"--birth-date {args.birth_date!r} is not YYYY-MM-DD") from e
    photo = _document_hash(args)
    with _open(args) as (_, svc):
        app = EResidency(svc).apply(citizenship=args.citizenship, given_name=args.given,
                                    surname=args.surname, birth_date=born, sex=Sex(args.sex),
                                    document_photo_sha256=photo, reason=args.reason)
    console.print(f"application {app.id} submitted", markup=False)
    return 0


def run_check(args: argparse.Namespace) -> int:
    from sild.cli._common import console
    from sild.identity.eresidency import EResidency
    from sild.identity.records import CheckResult

    with _open(args) as (_, svc):
        app = EResidency(svc).check(args.application, officer=args.by,
                                    result=CheckResult(args.result), note=args.note)
    console.print(f"application {app.id}: background check {args.result} by {app.checked_by}",
                  markup=False)
    return 0


def run_decide(args: argparse.Namespace) -> int:
    from sild.cli._common import console
    from sild.identity.eresidency import EResidency

    with _open(args) as (_, svc):
        app = EResidency(svc).decide(args.application, officer=args.by, approve=args.approve,
                                     reason=args.reason)
    console.print(f"application {app.id} {app.state.value} by {app.decided_by}", markup=False)
    return 0


def run_issue(args: argparse.Namespace) -> int:
    from sild.identity.eresidency import EResidency

    def make(source: Callable[[], Pins]) -> list[tuple[Issued, Pins]]:
        pins = source()
        with _open(args, issuing=True) as (_, svc):
            return [(EResidency(svc).issue(args.application, pins, actor=args.by), pins)]

    return _issue_with(args, make)


def run_er_pickup(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sild.cli._common import console
    from sild.identity.eresidency import EResidency

    photo = _document_hash(args)
    with _open(args) as (_, svc):
        out = EResidency(svc).pickup(args.application, Path(args.out),
                                     document_photo_sha256=photo, actor=args.by)
    console.print(f"application {args.application}: token handed over → {out}", markup=False)
    return 0


def run_er_list(args: argparse.Namespace) -> int:
    from sild.cli._common import table
    from sild.identity.eresidency import EResidency
    from sild.identity.records import ApplicationState

    with _open(args) as (_, svc):
        apps = EResidency(svc).list_applications(
            state=ApplicationState(args.state) if args.state else None)
    table("e-Residency applications",
          ["id", "state", "name", "citizenship", "checked by", "decided by", "identity"],
          ((a.id, a.state.value, f"{a.given_name} {a.surname}", a.citizenship, a.checked_by,
            a.decided_by, a.identity_id) for a in apps))
    return 0


def run_pickup(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sild.cli._common import console

    with _open(args) as (_, svc):
        out = svc.pickup(args.identity, Path(args.out), actor=args.by)
    console.print(f"identity {args.identity}: token handed over → {out}", markup=False)
    return 0


def run_suspend(args: argparse.Namespace) -> int:
    from sild.cli._common import console

    with _open(args) as (_, svc):
        i = svc.suspend(args.identity, actor=args.by, reason=args.reason)
    console.print(f"identity {i.id} suspended at {i.state_changed_at:%Y-%m-%dT%H:%M:%SZ}",
                  markup=False)
    return 0


def run_resume(args: argparse.Namespace) -> int:
    from sild.cli._common import console

    with _open(args) as (_, svc):
        i = svc.resume(args.identity, actor=args.by, reason=args.reason)
    console.print(f"identity {i.id} active again", markup=False)
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    from cryptography import x509

    from sild.cli._common import console

    with _open(args) as (_, svc):
        i = svc.revoke(args.identity, actor=args.by, reason=x509.ReasonFlags(args.reason),
                       note=args.note)
    console.print(f"identity {i.id} revoked ({i.revocation_reason}) at "
                  f"{i.state_changed_at:%Y-%m-%dT%H:%M:%SZ}", markup=False)
    return 0


def run_renew(args: argparse.Namespace) -> int:
    def make(source: Callable[[], Pins]) -> list[tuple[Issued, Pins]]:
        pins = source()
        with _open(args, issuing=True) as (_, svc):
            return [(svc.renew(args.identity, pins, actor=args.by), pins)]

    return _issue_with(args, make)


def run_expire(args: argparse.Namespace) -> int:
    from sild.cli._common import console

    with _open(args) as (_, svc):
        done = svc.expire_due()
    console.print(f"{len(done)} identities expired", markup=False)
    return 0


def run_list(args: argparse.Namespace) -> int:
    from sild.cli._common import console, table
    from sild.identity.records import IdentityState

    code = _code(args.code) if args.code else None
    with _open(args) as (_, svc):
        rows = svc.list_identities(state=IdentityState(args.state) if args.state else None,
                                   code=code, limit=args.limit)
    table("Identities", ["id", "state", "person", "name", "kind", "key", "valid until",
                         "picked up"],
          ((i.id, i.state.value, i.person.code, f"{i.person.given_name} {i.person.surname}",
            i.person.kind.value, i.key_type, f"{i.not_after:%Y-%m-%d}",
            "yes" if i.picked_up_at else "no") for i in rows))
    if len(rows) == args.limit:
        console.print(f"(first {args.limit} shown; use --limit or --state to see others)",
                      markup=False)
    return 0


def run_show(args: argparse.Namespace) -> int:
    from sild.cli._common import console, table
    from sild.crypto.certs import cert_pem

    with _open(args) as (_, svc):
        i = svc.get(args.identity)
        history = svc.history(i.id)
    if args.pem:
        console.print(cert_pem(i.auth_certificate if args.pem == "auth" else i.sign_certificate),
                      end="", markup=False)
        return 0
    console.print(
        f"identity {i.id}: {i.state.value}\n"
        f"  person       {i.person.code} {i.person.given_name} {i.person.surname} "
        f"({i.person.kind.value})\n"
        f"  auth serial  {i.auth_serial}\n  sign serial  {i.sign_serial}\n"
        f"  key type     {i.key_type}\n  valid until  {i.not_after:%Y-%m-%dT%H:%M:%SZ}\n"
        + (f"  revoked at   {i.revoked_at:%Y-%m-%dT%H:%M:%SZ} ({i.revocation_reason})\n"
           if i.revoked_at else "")
        + (f"  replaces     {i.replaces_id}\n" if i.replaces_id else ""), end="", markup=False)
    table("History", ["at", "action", "by", "reason"],
          ((f"{at:%Y-%m-%dT%H:%M:%SZ}", a, who, why) for at, a, who, why in history))
    return 0


def run_drill(args: argparse.Namespace) -> int:
    import datetime as dt

    from sild.cli._common import console
    from sild.errors import ConfigurationError, InvalidRequest
    from sild.identity.drill import (
        KeyPredicate,
        fingerprint_prefix,
        issued_between,
        key_type_is,
        reissue,
        suspend_matching,
    )

    preds: list[KeyPredicate] = []
    if args.key_type:
        preds.append(key_type_is(args.key_type))
    if args.fingerprint_prefix is not None:
        preds.append(fingerprint_prefix(args.fingerprint_prefix))
    if args.issued_from or args.issued_to:
        try:
            start = dt.datetime.fromisoformat(args.issued_from or "1900-01-01")
            end = dt.datetime.fromisoformat(args.issued_to or "9999-12-31")
        except ValueError as e:
            raise InvalidRequest("--issued-from/--issued-to must be YYYY-MM-DD") from e
        preds.append(issued_between(start.replace(tzinfo=dt.UTC), end.replace(tzinfo=dt.UTC)))
    if not preds:
        raise ConfigurationError("a drill needs a predicate: --key-type, --fingerprint-prefix "
                                 "or --issued-from/--issued-to")
    pred = preds[0]
    for p in preds[1:]:
        pred = pred & p
    source = _pins(args) if args.reissue else None
    with _open(args, issuing=args.reissue) as (_, svc):
        result = suspend_matching(svc, pred, actor=args.by, reason=args.reason)
        console.print(f"drill ({pred.description}): scanned {result.scanned} active identities, "
                      f"suspended {len(result.suspended)} in "
                      f"{result.select_seconds + result.suspend_seconds:.2f} s",
                      markup=False)
        if source is not None:
            chosen: dict[int, Pins] = {}

            def pins_for(i: int) -> Pins:
                chosen[i] = source()
                return chosen[i]

            for issued in reissue(svc, result.suspended, pins_for, actor=args.by):
                assert issued.identity.replaces_id is not None
                _envelope(issued, chosen[issued.identity.replaces_id],
                          printed=not args.pins_file)
    return 0


def run_token_status(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sild.cli._common import console
    from sild.identity.profiles import person_of
    from sild.identity.token import Secret, SoftToken

    tok = SoftToken.open(Path(args.token))
    auth = tok.certificate("auth")
    console.print(f"token {tok.token_id}: {person_of(auth)}\n"
                  f"  auth serial {auth.serial_number:x}, sign serial "
                  f"{tok.certificate('sign').serial_number:x}\n"
                  f"  tries left: PIN1 {tok.tries_left(Secret.PIN1)}, "
                  f"PIN2 {tok.tries_left(Secret.PIN2)}, PUK {tok.tries_left(Secret.PUK)}",
                  markup=False)
    return 0


def run_token_sign(args: argparse.Namespace) -> int:
    import base64
    from pathlib import Path

    from sild.cli._common import console
    from sild.identity.token import SoftToken

    tok = SoftToken.open(Path(args.token))
    data = _read(args.file, "file")
    sig = tok.sign(pin2=_secret(args.pin2_file, "PIN2 file"), data=data)
    console.print(base64.b64encode(sig).decode(), markup=False)
    return 0


def run_token_auth(args: argparse.Namespace) -> int:
    import base64
    from pathlib import Path

    from sild.cli._common import console
    from sild.errors import InvalidRequest
    from sild.identity.token import SoftToken

    try:
        challenge = bytes.fromhex(args.challenge)
    except ValueError as e:
        raise InvalidRequest("--challenge must be hex") from e
    if not challenge:
        # An empty challenge is what "$(sild identity oidc challenge …)" gives when that
        # command failed: signing nothing would only fail later, at the provider.
        raise InvalidRequest("--challenge is empty: nothing to sign")
    tok = SoftToken.open(Path(args.token))
    sig = tok.authenticate(pin1=_secret(args.pin1_file, "PIN1 file"), data=challenge)
    console.print(base64.b64encode(sig).decode(), markup=False)
    return 0


def run_token_unblock(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sild.cli._common import console
    from sild.identity.token import Secret, SoftToken

    tok = SoftToken.open(Path(args.token))
    tok.unblock(Secret(args.pin), puk=_secret(args.puk_file, "PUK file"),
                new_pin=_secret(args.new_pin_file, "new PIN file"))
    console.print(f"{args.pin.upper()} unblocked and set; 3 tries", markup=False)
    return 0
