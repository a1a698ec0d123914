"""``sild embassy keygen|backup|list|verify|restore``: snapshots at a second site.

docs/operations.md, "Data embassy". Exit codes (sild/cli/_exit.py): 0 done; 1 local
(a key that does not fit, a target that is not empty); 2 a snapshot that is unsigned,
untrusted or altered (``restore`` refuses it before writing anything); 5 ``verify`` found
the snapshot altered, or the restore drill (``--ledger-key``) found records missing or
altered; 130 Ctrl-C (a backup then leaves no snapshot behind).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sild.cli._common import console, quiet_logs
from sild.cli._exit import Exit
from sild.errors import ConfigurationError

if TYPE_CHECKING:
    import pyrage

    from sild.core.note import Ed25519Verifier
    from sild.embassy.site import Site

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "embassy", help="encrypted, signed snapshots of a role's state at a second site")
    esub = p.add_subparsers(dest="embassy_command", metavar="COMMAND")
    esub.required = True

    k = esub.add_parser("keygen", help="make a site key: NAME.key (secret) and NAME.pub")
    k.add_argument("--name", required=True, help="the site's name, e.g. tallinn-gw1")
    k.add_argument("--out", required=True, metavar="DIR", help="an existing folder")
    k.set_defaults(func=run_keygen)
    quiet_logs(k)

    b = esub.add_parser("backup", help="snapshot a gateway, instance or ledger folder")
    b.add_argument("--dir", required=True, metavar="DIR",
                   help="the gateway, instance (registry, identity) or ledger folder")
    b.add_argument("--site", required=True, metavar="SITE",
                   help="the second site: a folder, or s3://BUCKET/PREFIX (endpoint: "
                        "$SILD_S3_ENDPOINT; credentials: the usual AWS_* variables)")
    b.add_argument("--key", required=True, metavar="KEY",
                   help="this site's NAME.key: signs the snapshot (and can decrypt it)")
    b.add_argument("--recipient", action="append", default=[], metavar="PUB",
                   help="another site's NAME.pub or age1… key that may decrypt (repeatable)")
    b.add_argument("--chunk-mib", type=_chunk_mib, default=32, metavar="N",
                   help="plaintext per encrypted chunk, in MiB (default 32)")
    b.set_defaults(func=run_backup)
    quiet_logs(b)

    ls = esub.add_parser("list", help="the snapshots at a site")
    ls.add_argument("--site", required=True, metavar="SITE")
    ls.add_argument("--trust", action="append", default=[], metavar="PUB",
                    help="a site's NAME.pub: show whose signature verifies (repeatable)")
    ls.set_defaults(func=run_list)
    quiet_logs(ls)

    v = esub.add_parser("verify", help="check a snapshot's signature and every chunk")
    _snapshot_args(v)
    v.set_defaults(func=run_verify)
    quiet_logs(v)

    r = esub.add_parser("restore", help="rebuild a folder and its databases from a snapshot")
    _snapshot_args(r)
    r.add_argument("--identity", required=True, metavar="KEY",
                   help="a NAME.key the snapshot was encrypted to")
    r.add_argument("--to", required=True, metavar="DIR", help="a new or empty folder")
    r.add_argument("--database", action="append", default=[], metavar="[NAME=]URL",
                   help="where a database goes (a new, empty one); needed for PostgreSQL "
                        "snapshots; default: SQLite files in --to")
    r.add_argument("--ledger-key", action="append", default=[], metavar="VKEY",
                   help="run the restore drill: audit the restored log against this "
                        "ledger key (repeatable)")
    r.set_defaults(func=run_restore)
    quiet_logs(r)


def _snapshot_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--site", required=True, metavar="SITE")
    p.add_argument("snapshot", metavar="SNAPSHOT", help="a snapshot id, or 'latest'")
    p.add_argument("--trust", action="append", default=[], metavar="PUB", required=True,
                   help="the NAME.pub of a site whose snapshots are trusted (repeatable)")


def _chunk_mib(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= n <= 1024:
        raise argparse.ArgumentTypeError("must be 1 to 1024")
    return n


def _trusted(paths: list[str]) -> list[Ed25519Verifier]:
    from sild.embassy.keys import load_public

    return [load_public(Path(p)).verifier for p in paths]


def _recipient(text: str) -> pyrage.x25519.Recipient:
    from sild.embassy.keys import load_public, parse_recipient

    if text.startswith("age1"):
        return parse_recipient(text)
    return load_public(Path(text)).recipient


def _site(text: str, *, create: bool = False) -> Site:
    from sild.embassy.site import open_site

    return open_site(text, create=create)


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def run_keygen(args: argparse.Namespace) -> int:
    from sild.embassy.keys import generate, write_new

    key = generate(args.name)
    secret, public = write_new(Path(args.out), key)
    console.print(f"secret key: {secret} (0600; keep it at this site, never at the embassy)",
                  markup=False)
    console.print(f"public key: {public} (give it to the sites that send or trust snapshots)",
                  markup=False)
    return int(Exit.OK)


def run_backup(args: argparse.Namespace) -> int:
    from sild.embassy.keys import load_key
    from sild.embassy.snapshot import backup

    key = load_key(Path(args.key))
    recipients = [_recipient(r) for r in args.recipient]
    site = _site(args.site, create=True)
    result = backup(Path(args.dir), site, key=key, recipients=recipients,
                    at=datetime.now(UTC), chunk_size=args.chunk_mib << 20)
    m = result.manifest
    console.print(f"snapshot {m.id}: {m.kind}, {len(m.chunks)} chunks, "
                  f"{_human(m.size)} encrypted to {len(m.recipients)} recipients, "
                  f"signed by {key.name}", markup=False)
    for db in result.meta["databases"]:
        rows = sum(db["rows"].values())
        console.print(f"  database {db['name']}: {db['engine']} ({db['format']}), "
                      f"{rows} rows", markup=False)
    console.print(f"  at {result.path}", markup=False)
    return int(Exit.OK)


def run_list(args: argparse.Namespace) -> int:
    from sild.embassy.manifest import peek_manifest, verify_manifest
    from sild.errors import SnapshotInvalid

    site = _site(args.site)
    trusted = _trusted(args.trust)
    for sid in site.ids():
        raw = site.manifest(sid)
        try:
            m = peek_manifest(raw)
            who = "unchecked (give --trust)"
            if trusted:
                who = f"signed by {verify_manifest(raw, trusted=trusted).signer}"
        except SnapshotInvalid as e:
            console.print(f"{sid}  INVALID: {e}", markup=False)
            continue
        console.print(f"{sid}  {m.kind:8}  {m.created_at}  {len(m.chunks)} chunks  "
                      f"{_human(m.size)}  {who}", markup=False)
    for name in site.partials():
        console.print(f"{name}  incomplete (an interrupted backup; ignored)", markup=False)
    if not site.ids():
        console.print(f"no snapshots at {site.where}", markup=False)
    return int(Exit.OK)


def run_verify(args: argparse.Namespace) -> int:
    from sild.embassy.snapshot import verify
    from sild.errors import SnapshotInvalid

    site = _site(args.site)
    sid = site.resolve(args.snapshot)
    try:
        v = verify(site, sid, trusted=_trusted(args.trust))
    except SnapshotInvalid as e:
        console.print(f"FAIL: {sid}: {e}", markup=False)
        return int(Exit.FAILED)
    m = v.manifest
    console.print(f"OK: {sid}: signed by {v.signer}, {len(m.chunks)} chunks "
                  f"({_human(m.size)}) match the manifest", markup=False)
    return int(Exit.OK)


def _database_args(values: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for v in values:
        name, sep, url = v.partition("=")
        if not sep or "://" in name:
            name, url = "", v
        if name in out:
            raise ConfigurationError(f"--database {name or 'URL'} given twice")
        out[name] = url
    return out


def run_restore(args: argparse.Namespace) -> int:
    from sild.cli.audit import summary
    from sild.embassy.keys import load_key
    from sild.embassy.manifest import peek_manifest
    from sild.embassy.snapshot import restore

    site = _site(args.site)
    sid = site.resolve(args.snapshot)
    identity = load_key(Path(args.identity)).identity
    trusted = _trusted(args.trust)
    policy = _ledger_policy(args.ledger_key) if args.ledger_key else None
    dbs = _database_args(args.database)
    if "" in dbs:  # one URL without a name: the snapshot's only database
        kind = peek_manifest(site.manifest(sid)).kind
        dbs[{"gateway": "gateway", "ledger": "ledger"}.get(kind, "registry")] = dbs.pop("")
    result = restore(site, sid, trusted=trusted, identities=[identity],
                     target=Path(args.to), databases=dbs)
    console.print(f"restored {sid} ({result.verified.manifest.kind}, signed by "
                  f"{result.verified.signer}) into {result.target}", markup=False)
    for name, url in result.urls.items():
        console.print(f"  database {name}: {_redact(url)}", markup=False)
    if policy is None:
        return int(Exit.OK)
    from sild.embassy.drill import drill

    code = Exit.OK
    if all(db.get("anchoring") is None for db in result.meta["databases"]):
        console.print("drill: this snapshot holds no anchored message log; nothing to audit",
                      markup=False)
    for db in result.meta["databases"]:
        if db.get("anchoring") is None:
            continue
        report = drill(result.urls[db["name"]], db["anchoring"], policy=policy,
                       at=datetime.now(UTC))
        for f in [*report.audit.findings, *report.tail]:
            console.print(f.line(), markup=False)
        console.print(summary(report.audit), markup=False)
        exp = db["anchoring"]
        verdict = "complete" if report.clean else "NOT complete"
        console.print(f"drill: {verdict}: the snapshot recorded {exp['records']} records, "
                      f"rounds up to {exp['last_anchored_round']} anchored", markup=False)
        if not report.clean:
            code = Exit.FAILED
    return int(code)


def _ledger_policy(keys: list[str]) -> Any:
    from sild.cli.audit import _vkey
    from sild.core.verification import TrustPolicy

    return TrustPolicy(log_keys=tuple(_vkey(k) for k in keys))


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # printing only: any URL the parser refuses is shown cut
        return url.split("@")[-1]
