"""``sild ledger``: make, serve and use a ledger (docs/spec/ledger.md §7, §8)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sild.cli._common import console, read_text_arg
from sild.cli._exit import Exit
from sild.cli._out import check_out, write_out
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
    submit.add_argument("--credential", metavar="FILE",
                        help="a file holding the API key from `sild ledger key add` "
                             "(default: $SILD_LEDGER_CREDENTIAL, a file name)")
    submit.set_defaults(func=run_submit)

    key = s.add_parser("key", help="API keys of submitters (who may add hashes, how many)")
    ks = key.add_subparsers(dest="key_command", metavar="ACTION", required=True)
    kadd = ks.add_parser("add", help="issue a key; the credential is shown once")
    kadd.add_argument("name", metavar="NAME", help="e.g. the gateway's name: gw1, tsa")
    kadd.add_argument("--dir", required=True, metavar="DIR")
    kadd.add_argument("--rate", type=int, default=10_000,
                      help="hashes per second (default 10000)")
    kadd.add_argument("--share", type=float, default=0.25,
                      help="largest share of one round, 0..1 (default 0.25)")
    kadd.add_argument("--out", metavar="FILE",
                      help="write the credential to FILE (0600) instead of printing it")
    kadd.set_defaults(func=run_key_add)
    klist = ks.add_parser("list", help="the keys issued (names and quotas, no secrets)")
    klist.add_argument("--dir", required=True, metavar="DIR")
    klist.set_defaults(func=run_key_list)
    krev = ks.add_parser("revoke", help="revoke a key (a running ledger refuses it within 1 s)")
    krev.add_argument("name", metavar="NAME")
    krev.add_argument("--dir", required=True, metavar="DIR")
    krev.set_defaults(func=run_key_revoke)

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
    from sild.instance import parse_listen
    from sild.ledger.api import create_app
    from sild.ledger.home import open_ledger
    from sild.ledger.settings import LedgerSettings
    from sild.ledger.submitters import Submitters
    from sild.ledger.witness import WitnessCosigner

    folder = Path(args.dir)
    settings = LedgerSettings.load(folder / "ledger.json")
    submitters = Submitters.of_folder(folder, max_batch=settings.limits.max_batch,
                                      max_round=settings.limits.max_round)
    cosigner = WitnessCosigner(settings) if settings.witnesses else None
    ledger = open_ledger(folder, cosigner=cosigner, settings=settings,
                         require_writer=args.require_writer)
    try:
        host, port = parse_listen(args.listen or settings.listen)
        role = ("writer" if ledger.role == "writer" else
                "standby: another process is the writer; serving reads, taking over if it stops")
        app = create_app(ledger, submitters=submitters)
        console.print(f"ledger {settings.origin} on http://{host}:{port} "
                      f"(size {ledger.size}, {settings.period_ms} ms rounds; {role}; "
                      f"{len(submitters.names())} submitter key(s))")
        if not submitters.names():
            console.print("no submitter keys yet: every POST /add is refused (401) until "
                          f"`sild ledger key add NAME --dir {folder}` issues one")
        serve_until_signal(app, host, port)
    finally:
        ledger.close()
    return 0


def serve_until_signal(app: Any, host: str, port: int, *, lifespan: bool = True) -> None:
    """Serve ``app`` (with ASGI lifespan) until SIGTERM or SIGINT, then shut down
    gracefully: open requests finish, the app's shutdown runs, the command exits 0
    (docs/operations.md, "Stopping services")."""
    import asyncio
    import signal

    import uvloop

    from sild.embedded import start_embedded

    async def serve() -> None:
        # Handlers first: a signal that lands once the port answers but before they
        # were installed killed the process (-15) or read as Ctrl-C at start-up (130).
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        server, task = await start_embedded(app, host, port,
                                             lifespan="on" if lifespan else "off")
        waiter = asyncio.ensure_future(stop.wait())
        await asyncio.wait([waiter, task], return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        server.should_exit = True
        await task

    uvloop.run(serve())


def _credential(args: argparse.Namespace) -> str | None:
    import os

    from sild.ledger.submitters import read_credential

    name = args.credential or os.environ.get("SILD_LEDGER_CREDENTIAL")
    return read_credential(Path(name)) if name else None


def run_submit(args: argparse.Namespace) -> int:
    import asyncio

    from sild.ledger.client import LedgerClient

    out = Path(args.out)
    # Refuse before submitting: once the ledger holds the hash, a receipt that cannot be
    # written would be lost.
    check_out(out)
    credential = _credential(args)
    now = datetime.now(UTC)
    if args.file:
        imprint = imprint_of_file(Path(args.file), algorithm=args.algorithm, at=now)
    else:
        imprint = imprint_of_hash(args.hash, at=now)

    async def go() -> bytes:
        async with LedgerClient(args.url, credential=credential) as client:
            return (await client.submit([imprint]))[0]

    receipt = asyncio.run(go())
    write_out(out, receipt)
    console.print(f"receipt for {imprint.hex()} written to {args.out}")
    return 0


def run_key_add(args: argparse.Namespace) -> int:
    import sys

    from sild.clock import utc_now
    from sild.ledger.submitters import add_key

    if args.out:
        check_out(Path(args.out), overwrite=False)
    credential = add_key(Path(args.dir), args.name, rate=args.rate, share=args.share,
                         now=utc_now().isoformat(timespec="seconds"))
    if args.out:
        write_out(Path(args.out), (credential + "\n").encode(), private=True)
        console.print(f"key {args.name} issued ({args.rate} hashes/s, {args.share:g} of a "
                      f"round); credential written to {args.out}")
    else:
        sys.stdout.write(credential + "\n")
    return 0


def run_key_list(args: argparse.Namespace) -> int:
    from sild.cli._common import table
    from sild.ledger.submitters import load_keys

    table("Submitter keys", ["name", "hashes/s", "round share", "issued"],
          ((k.name, k.rate, f"{k.share:g}", k.created) for k in load_keys(Path(args.dir))))
    return 0


def run_key_revoke(args: argparse.Namespace) -> int:
    from sild.ledger.submitters import revoke_key

    revoke_key(Path(args.dir), args.name)
    console.print(f"key {args.name} revoked")
    return 0


def run_extend(args: argparse.Namespace) -> int:
    """Exit 0 when extended, 5 (as ``sild verify``'s FAIL) when the tiles do not prove it."""
    import asyncio

    from sild.core.calendar import Publication
    from sild.core.checkpoint import parse_checkpoint
    from sild.core.ledger_errors import ProofError
    from sild.core.note import parse_note
    from sild.ledger.client import LedgerClient

    check_out(Path(args.out))
    try:
        raw = Path(args.receipt).read_bytes()
    except OSError as e:
        raise ConfigurationError(f"cannot read {args.receipt}: {e.strerror or e}") from e
    pub = Publication.from_code(args.publication) if args.publication else None

    async def go() -> bytes:
        async with LedgerClient(args.url) as client:
            return await client.extend(raw, publication=pub)

    try:
        new = asyncio.run(go())
    except ProofError as e:
        console.print(f"FAIL {e.xroad_code}: cannot extend: {e.message}")
        return int(Exit.FAILED)
    write_out(Path(args.out), new)
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
    from sild.instance import parse_listen
    from sild.ledger.witness import create_witness_app, open_witness

    folder = Path(args.dir)
    witness, listen = open_witness(folder)
    host, port = parse_listen(args.listen or listen)
    console.print(f"witness {witness.signer.name} on http://{host}:{port}/add-checkpoint")
    try:
        serve_until_signal(create_witness_app(witness), host, port, lifespan=False)
    finally:
        witness.engine.dispose()
    return 0


__all__ = ["add_parser", "imprint_of_file", "imprint_of_hash"]
