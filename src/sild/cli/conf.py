"""`sild conf`: check, download and show the global configuration (docs/spec/globalconf.md).

* ``sild conf verify --anchor ANCHOR FILE``: §4 steps 1-6 on a downloaded envelope,
  offline, at the current time;
* ``sild conf fetch --anchor ANCHOR --cache DIR``: one refresh with the real client;
* ``sild conf show --cache DIR``: the cached document's members and gateways.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sild.cli._common import lazy_console, no_logs, quiet_logs
from sild.clock import utc_now
from sild.core.timefmt import format_rfc3339
from sild.errors import ConfigurationError, GlobalConfError, InvalidRequest

if TYPE_CHECKING:
    from sild.core.anchor import Anchor
    from sild.core.globalconf import GlobalConf, VerifiedGlobalConf

console = lazy_console(wide_when_piped=False, highlight=False)


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("conf", help="global configuration")
    conf_sub = p.add_subparsers(dest="conf_command", metavar="ACTION", required=True)

    v = conf_sub.add_parser("verify", help="verify a downloaded document against an anchor")
    v.add_argument("--anchor", type=Path, required=True, help="configuration anchor file")
    v.add_argument("file", type=Path, help="the signed global configuration (DSSE envelope)")
    v.set_defaults(func=_verify)
    no_logs(v)

    f = conf_sub.add_parser("fetch", help="download, verify and cache the current document")
    f.add_argument("--anchor", type=Path, required=True, help="configuration anchor file")
    f.add_argument("--cache", type=Path, required=True, help="cache directory")
    f.set_defaults(func=_fetch)
    quiet_logs(f)  # a source that failed is in the one-line error, not in log lines

    s = conf_sub.add_parser("show", help="show the cached document's members and gateways")
    s.add_argument("--cache", type=Path, required=True, help="cache directory")
    s.set_defaults(func=_show)
    no_logs(s)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise ConfigurationError(f"cannot read {what} {path}: {e.strerror}") from e


def _anchor(path: Path) -> Anchor:
    from sild.core.anchor import parse_anchor

    return parse_anchor(_read(path, "anchor"))


def _summary(verified: VerifiedGlobalConf, title: str) -> None:
    from rich.table import Table
    from rich.text import Text

    conf = verified.conf
    table = Table(title=Text(title), show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for name, value in (
        ("instance", conf.instance),
        ("version", str(conf.version)),
        ("issued at", format_rfc3339(conf.issued_at)),
        ("expires at", format_rfc3339(conf.expires_at)),
        ("members", str(len(conf.members))),
        ("gateways", str(len(conf.gateways))),
        ("CAs", str(len(conf.cas))),
        ("verified by", ", ".join(verified.key_ids)),
    ):
        table.add_row(name, value)
    console.print(table)


def _verify(args: argparse.Namespace) -> int:
    from sild.core.globalconf import verify_globalconf

    anchor = _anchor(args.anchor)
    verified = verify_globalconf(
        _read(args.file, "global configuration"),
        trusted_keys=anchor.trusted_keys,
        instance=anchor.instance,
        at=utc_now(),
        last=None,
    )
    _summary(verified, f"{args.file}: valid")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    import asyncio

    from sild.confclient import ConfClient

    client = ConfClient(_anchor(args.anchor), args.cache)
    client.load_cached()
    verified = asyncio.run(client.refresh())
    _summary(verified, f"fetched into {args.cache}")
    return 0


def _show(args: argparse.Namespace) -> int:
    """Display only: the cache holds what the client verified before writing it."""
    from sild.confclient._cache import CONF_FILE
    from sild.core.dsse import Envelope
    from sild.core.globalconf import parse_document

    path = args.cache / CONF_FILE
    try:
        conf = parse_document(Envelope.parse(_read(path, "cached configuration")).payload)
    except InvalidRequest as e:
        raise GlobalConfError(f"{path}: {e}") from e
    _tables(conf, expired=utc_now() >= conf.expires_at)
    return 0


def _tables(conf: GlobalConf, *, expired: bool) -> None:
    from rich.table import Table
    from rich.text import Text

    status = "[red]EXPIRED[/red]" if expired else "valid"
    console.print(
        f"{conf.instance} version {conf.version}, issued {format_rfc3339(conf.issued_at)},"
        f" expires {format_rfc3339(conf.expires_at)} ({status})"
    )
    members = Table(title="Members")
    for col in ("id", "name", "subsystems"):
        members.add_column(col, overflow="fold")
    for m in conf.members:
        members.add_row(str(m.id), Text(m.name), ", ".join(m.subsystems))
    gateways = Table(title="Gateways")
    for col in ("id", "address", "auth cert", "clients"):
        gateways.add_column(col, overflow="fold")
    for g in conf.gateways:
        clients = "\n".join(str(c) for c in g.clients)
        gateways.add_row(str(g.id), g.address, g.auth_fingerprint[:12] + "…", clients)
    console.print(members)
    console.print(gateways)
