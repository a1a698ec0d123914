"""``sild ledger``: make, serve and use a ledger (docs/spec/ledger.md §7, §8)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sild.cli._common import console, read_text_arg
from sild.cli._exit import Exit
from sild.core.imprint import Imprint, parse_imprint
from sild.errors import ConfigurationError, InvalidRequest


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("ledger", help="the KSI-style ledger")
    s = p.add_subparsers(dest="ledger_command", metavar="ACTION", required=True)

    init = s.add_parser("init", help="create a ledger folder: keys, ledger.json, database")
    init.add_argument("dir", metavar="DIR")
    init.add_argument("--origin", default="sild.local/ledger",
                      help="checkpoint origin and key name (default: sild.local/ledger)")
    init.add_argument("--period-ms", type=int, default=1000, help="round length, 100..20000 ms")
    init.add_argument("--database-url", help="default: sqlite:///ledger.db in DIR")
    init.add_argument("--publication-every", type=int, metavar="ROUNDS",
                      help="rounds between publications (default: one day)")
    init.add_argument("--witness", action="append", default=[], metavar="URL=VKEY",
                      help="a witness to ask for cosignatures (repeatable)")
    init.add_argument("--quorum", type=int, default=0,
                      help="cosignatures a checkpoint should carry (verifiers' policy)")
    init.set_defaults(func=run_init)

    serve = s.add_parser("serve", help="run the ledger (rounds, calendar, tiles, receipts)")
    serve.add_argument("--dir", required=True, metavar="DIR")
    serve.add_argument("--listen", help="host:port (default from ledger.json)")
    serve.add_argument("--require-writer", action="store_true",
                       help="exit if another process is the writer, instead of standing by")
    serve.set_defaults(func=run_serve)

    submit = s.add_parser("submit", help="submit a file's or hash's imprint, wait for the receipt")
    submit.add_argument("--url", required=True)
    what = submit.add_mutually_exclusive_group(required=True)
    what.add_argument("--file", metavar="F")
    what.add_argument("--hash", metavar="H", help="hex imprint, or 64 hex digits of SHA-256")
    submit.add_argument("--algorithm", default="SHA-256", help="for --file (default SHA-256)")
    submit.add_argument("--out", required=True, metavar="RECEIPT")
    submit.set_defaults(func=run_submit)

    ext = s.add_parser("extend", help="upgrade a receipt to a later checkpoint or a "
                       "publication, from the ledger's public tiles")
    ext.add_argument("receipt", metavar="RECEIPT")
    ext.add_argument("--url", required=True,
                     help="the ledger, or any web server holding a copy of its tiles/ folder")
    ext.add_argument("--publication", metavar="CODE",
                     help="extend to this publication (default: the latest checkpoint)")
    ext.add_argument("--out", required=True, metavar="NEW")
    ext.set_defaults(func=run_extend)

    w = s.add_parser("witness", help="a C2SP tlog-witness for ledgers")
    ws = w.add_subparsers(dest="witness_command", metavar="ACTION", required=True)
    winit = ws.add_parser("init", help="create a witness folder: key, witness.json")
    winit.add_argument("dir", metavar="DIR")
    winit.add_argument("--name", required=True, help="the witness's key name, e.g. gw1.example/w")
    winit.add_argument("--log", action="append", required=True, metavar="VKEY",
                       help="a ledger's verifier key (or a file holding it) to witness")
    winit.add_argument("--listen", default="127.0.0.1:8471")
    winit.set_defaults(func=run_witness_init)
    wserve = ws.add_parser("serve", help="serve POST /add-checkpoint")
    wserve.add_argument("--dir", required=True, metavar="DIR")
    wserve.add_argument("--listen", help="host:port (default from witness.json)")
    wserve.set_defaults(func=run_witness_serve)


def imprint_of_hash(text: str, *, at: datetime) -> bytes:
    """``--hash``: a hex imprint, or a bare SHA-256 digest (64 hex digits)."""
    try:
        raw = bytes.fromhex(text.strip())
    except ValueError as e:
        raise InvalidRequest("--hash must be hexadecimal") from e
    if len(raw) == 32:
        raw = b"\x01" + raw
    return parse_imprint(raw, at=at).to_bytes()


def imprint_of_file(path: Path, *, algorithm: str, at: datetime) -> bytes:
    """The imprint of a file's contents."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ConfigurationError(f"cannot read {path}: {e}") from e
    return Imprint.of(data, algorithm=algorithm, at=at).to_bytes()


def _vkey_text(text: str) -> str:
    path = Path(text)
    return read_text_arg(path, "verifier key").strip() if path.is_file() else text


def run_init(args: argparse.Namespace) -> int:
    from sild.ledger.home import init_ledger, open_ledger

    folder = Path(args.dir)
    witnesses = []
    for w in args.witness:
        url, sep, vkey = w.partition("=")
        if not sep:
            raise ConfigurationError("--witness must be URL=VKEY")
        witnesses.append((url, _vkey_text(vkey)))
    s = init_ledger(folder, origin=args.origin, period_ms=args.period_ms,
                    database_url=args.database_url, publication_every=args.publication_every,
                    witnesses=witnesses, quorum=args.quorum)
    open_ledger(folder).close()  # create the tables and the first checkpoint now
    vkey = (folder / "ledger.vkey").read_text().strip()
    console.print(f"ledger {s.origin} in {folder}: {s.period_ms} ms rounds; verifier key {vkey}")
    return 0


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from sild.instance import parse_listen
    from sild.ledger.api import create_app
    from sild.ledger.home import open_ledger
    from sild.ledger.witness import WitnessCosigner
    from sild.web.deadlines import shell_http

    folder = Path(args.dir)
    from sild.ledger.settings import LedgerSettings

    settings = LedgerSettings.load(folder / "ledger.json")
    cosigner = WitnessCosigner(settings) if settings.witnesses else None
    ledger = open_ledger(folder, cosigner=cosigner, settings=settings,
                         require_writer=args.require_writer)
    host, port = parse_listen(args.listen or settings.listen)
    role = ("writer" if ledger.role == "writer" else
            "standby: another process is the writer; serving reads, taking over if it stops")
    console.print(f"ledger {settings.origin} on http://{host}:{port} "
                  f"(size {ledger.size}, {settings.period_ms} ms rounds; {role})")
    try:
        uvicorn.run(create_app(ledger), host=host, port=port, log_level="warning",
                    access_log=False, loop="uvloop", http=shell_http())
    finally:
        ledger.close()
    return 0


def run_submit(args: argparse.Namespace) -> int:
    import asyncio

    from sild.ledger.client import LedgerClient

    now = datetime.now(UTC)
    if args.file:
        imprint = imprint_of_file(Path(args.file), algorithm=args.algorithm, at=now)
    else:
        imprint = imprint_of_hash(args.hash, at=now)

    async def go() -> bytes:
        async with LedgerClient(args.url) as client:
            return (await client.submit([imprint]))[0]

    receipt = asyncio.run(go())
    Path(args.out).write_bytes(receipt)
    console.print(f"receipt for {imprint.hex()} written to {args.out}")
    return 0


def run_extend(args: argparse.Namespace) -> int:
    """Exit 0 when extended, 5 (as ``sild verify``'s FAIL) when the tiles do not prove it."""
    import asyncio

    from sild.core.calendar import Publication
    from sild.core.checkpoint import parse_checkpoint
    from sild.core.ledger_errors import ProofError
    from sild.core.note import parse_note
    from sild.ledger.client import LedgerClient

    try:
        raw = Path(args.receipt).read_bytes()
    except OSError as e:
        raise ConfigurationError(f"cannot read {args.receipt}: {e}") from e
    pub = Publication.from_code(args.publication) if args.publication else None

    async def go() -> bytes:
        async with LedgerClient(args.url) as client:
            return await client.extend(raw, publication=pub)

    try:
        new = asyncio.run(go())
    except ProofError as e:
        console.print(f"FAIL {e.xroad_code}: cannot extend: {e.message}")
        return int(Exit.FAILED)
    Path(args.out).write_bytes(new)
    size = parse_checkpoint(parse_note(new.partition(b"\n\n")[2]).text).size
    target = f"publication {pub.code()}" if pub else f"checkpoint of size {size}"
    console.print(f"receipt extended to {target}, written to {args.out}")
    return 0


def run_witness_init(args: argparse.Namespace) -> int:
    from sild.ledger.witness import init_witness

    folder = Path(args.dir)
    vkey = init_witness(folder, name=args.name, logs=[_vkey_text(v) for v in args.log],
                        listen=args.listen)
    console.print(f"witness {args.name} in {folder}; cosigning key {vkey}")
    return 0


def run_witness_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from sild.instance import parse_listen
    from sild.ledger.witness import create_witness_app, open_witness
    from sild.web.deadlines import shell_http

    folder = Path(args.dir)
    witness, listen = open_witness(folder)
    host, port = parse_listen(args.listen or listen)
    console.print(f"witness {witness.signer.name} on http://{host}:{port}/add-checkpoint")
    uvicorn.run(create_witness_app(witness), host=host, port=port, log_level="warning",
                access_log=False, loop="uvloop", http=shell_http())
    witness.engine.dispose()
    return 0


__all__ = ["add_parser", "imprint_of_file", "imprint_of_hash"]
