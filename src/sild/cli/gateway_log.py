"""``sild gateway log export|verify|purge|stats``: the message log's archives (X-Road §3.4).

X-Road archives its message log every 6 hours into digest-chained ZIP files and
purges records after ``keep-records-for`` days (research/xroad.md §3.4); here the
operator (or a cron job) runs export and purge, with the same guarantees: an archive
is signed with the gateway's sign key, and purge never deletes an unexported record.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sild.cli._common import _engines, add_passphrase_arg, console, table
from sild.core.timefmt import format_rfc3339, parse_rfc3339
from sild.errors import ConfigurationError, InvalidRequest
from sild.gateway.config import GatewaySettings
from sild.instance import read_passphrase

if TYPE_CHECKING:
    from sild.crypto.keys import PrivateKey, PublicKey

__all__ = ["add_subcommands"]

_T = "RFC 3339 UTC time, e.g. 2026-11-22T00:00:00Z"


def add_subcommands(s: Any) -> None:
    """Add ``log`` and its actions to the `sild gateway` sub-parser group ``s``."""
    p: argparse.ArgumentParser = s.add_parser("log", help="message log: export, verify, purge")
    a = p.add_subparsers(dest="log_command", metavar="ACTION", required=True)

    exp = a.add_parser("export", help="write a signed archive of a time range")
    _dir_arg(exp)
    exp.add_argument("--from", dest="start", required=True, metavar="T", help=_T)
    exp.add_argument("--to", dest="end", required=True, metavar="T", help=f"exclusive; {_T}")
    exp.add_argument("--out", required=True, metavar="DIR", help="folder for the archive")
    add_passphrase_arg(exp)
    exp.set_defaults(func=run_export)

    ver = a.add_parser("verify", help="check an archive's signature and digests")
    ver.add_argument("archive", metavar="ARCHIVE")
    ver.add_argument("--cert", required=True, metavar="PEM",
                     help="the sign certificate (or public key PEM) of the gateway's member")
    ver.set_defaults(func=run_verify)

    pur = a.add_parser("purge", help="delete exported records past retention")
    _dir_arg(pur)
    pur.add_argument("--before", metavar="T",
                     help=f"cut-off ({_T}); default: now − [messagelog] retention_days")
    pur.set_defaults(func=run_purge)

    st = a.add_parser("stats", help="record and archive counts")
    _dir_arg(st)
    st.set_defaults(func=run_stats)


def _dir_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", required=True, metavar="GWDIR", help="the gateway's folder")


def _time(text: str, option: str) -> datetime:
    try:
        return parse_rfc3339(text)
    except ValueError as e:
        raise ConfigurationError(f"{option}: {e}") from e


def _open(settings: GatewaySettings) -> Any:
    from sild.store import make_engine, migrate

    engine = make_engine(settings.database_url)
    _engines.append(engine)  # disposed by the CLI root when the command ends
    migrate(engine, "messagelog")
    return engine


def _sign_key(settings: GatewaySettings, passphrase_file: str | None) -> tuple[Path, PrivateKey]:
    from sild.crypto.keys import load_private_key

    keys = sorted(settings.sign_dir.glob("*.key"))
    if not keys:
        raise ConfigurationError(f"no sign key in {settings.sign_dir} (keys/sign/*.key)")
    return keys[0], load_private_key(keys[0], passphrase=read_passphrase(passphrase_file))


def run_export(args: argparse.Namespace) -> int:
    from sild.gateway.messagelog.archive import export_archive, verify_archive

    start, end = _time(args.start, "--from"), _time(args.end, "--to")
    settings = GatewaySettings.load(Path(args.dir))
    key_path, key = _sign_key(settings, args.passphrase_file)
    path = export_archive(_open(settings), start=start, end=end, sign_key=key,
                          out_dir=Path(args.out))
    summary = verify_archive(path, key.public_key())
    console.print(f"wrote {path} ({summary.records} records, signed with {key_path.name}, "
                  f"sha256 {summary.file_sha256.hex()})")
    return 0


def _public_key(path: str) -> PublicKey:
    from sild.crypto.certs import load_certificate
    from sild.crypto.keys import key_type_of, load_public_key_pem

    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ConfigurationError(f"cannot read {path}: {e.strerror}") from e
    if b"PUBLIC KEY" in data:
        return load_public_key_pem(data)
    key = load_certificate(data).public_key()
    key_type_of(key)  # InvalidRequest for anything but Ed25519 / P-256
    return key  # type: ignore[return-value]  # checked by key_type_of just above


def run_verify(args: argparse.Namespace) -> int:
    from sild.gateway.messagelog.archive import verify_archive

    path = Path(args.archive)
    if not path.is_file():
        raise InvalidRequest(f"no archive file {path}")
    s = verify_archive(path, _public_key(args.cert))
    prev = s.previous_sha256.hex() if s.previous_sha256 else "none (first archive)"
    console.print(f"{path.name}: OK — {s.records} records, {s.start:%Y-%m-%dT%H:%M:%SZ} to "
                  f"{s.end:%Y-%m-%dT%H:%M:%SZ}, signed by key {s.key_id}\n"
                  f"  sha256 {s.file_sha256.hex()}\n  previous archive {prev}")
    return 0


def run_purge(args: argparse.Namespace) -> int:
    from sild.gateway.messagelog.archive import purge

    settings = GatewaySettings.load(Path(args.dir))
    if args.before:
        before = _time(args.before, "--before")
    else:
        now = datetime.now(UTC).replace(microsecond=0)
        before = now - timedelta(days=settings.retention_days)
    result = purge(_open(settings), before=before)
    console.print(f"purged {result.message_log} archived message-log records and "
                  f"{result.opmon_records} monitoring records before {format_rfc3339(before)}")
    return 0


def run_stats(args: argparse.Namespace) -> int:
    from sild.gateway.messagelog.archive import log_stats

    settings = GatewaySettings.load(Path(args.dir))
    s = log_stats(_open(settings))
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ"
    table("message log", ("what", "count"), [
        ("records", s.records),
        ("archived", s.archived),
        ("not yet archived", s.unarchived),
        ("with body", s.with_body),
        ("monitoring records", s.opmon_records),
        ("archives", s.archives),
        ("oldest", s.oldest.strftime(fmt) if s.oldest else "—"),
        ("newest", s.newest.strftime(fmt) if s.newest else "—"),
    ])
    return 0
