"""``sild registers …``: the demo country's base registries (docs/spec/registers.md).

``generate`` fills the registers' database deterministically from a seed and a size;
``serve`` runs the registers' information systems over HTTP (default port 8486), one
service URL per register (``…/population``, ``…/health``, ``…/business``, ``…/tax``).
The database URL is kept in ``DIR/registers.toml``, each register's OpenAPI description
in ``DIR/openapi/<register>.json``. Heavy imports wait inside the
commands.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_LISTEN", "add_parser"]

DEFAULT_LISTEN = "127.0.0.1:8486"
_SIZES = ("small", "medium", "large")  # sild.registers.generate.SIZES, spelled out


def add_parser(sub: Any) -> None:
    from sild.cli.identity import _guarded

    p: argparse.ArgumentParser = sub.add_parser(
        "registers", help="the demo base registries: generate their data, serve them")
    s = p.add_subparsers(dest="registers_command", metavar="ACTION", required=True)

    c: argparse.ArgumentParser = s.add_parser(
        "generate", help="fill the registers' database from a seed (deterministic)")
    c.add_argument("--dir", metavar="DIR", required=True, help="the registers' folder")
    c.add_argument("--seed", type=int, default=2014, metavar="N", help="seed (default 2014)")
    c.add_argument("--size", choices=_SIZES, default="small",
                   help="small (100 persons), medium (1,000) or large (10,000)")
    c.add_argument("--database", metavar="URL",
                   help="sqlite:///… or postgresql://… (default: SQLite DIR/registers.db)")
    c.set_defaults(func=_guarded(run_generate))

    c = s.add_parser("serve", help="run the registers' information systems over HTTP")
    c.add_argument("--dir", metavar="DIR", required=True, help="the registers' folder")
    c.add_argument("--listen", default=DEFAULT_LISTEN,
                   help=f"host:port (default {DEFAULT_LISTEN})")
    c.set_defaults(func=_guarded(run_serve))


def _config(folder: Path) -> Path:
    return folder / "registers.toml"


def _database_url(folder: Path) -> str:
    import tomllib

    from sild.errors import ConfigurationError

    try:
        with _config(folder).open("rb") as f:
            url = tomllib.load(f)["registers"]["database"]
    except FileNotFoundError as e:
        raise ConfigurationError(f"{folder} holds no registers: run "
                                 f"`sild registers generate --dir {folder}` first") from e
    except (tomllib.TOMLDecodeError, KeyError, TypeError) as e:
        raise ConfigurationError(f"{_config(folder)}: no [registers] database") from e
    if not isinstance(url, str):
        raise ConfigurationError(f"{_config(folder)}: database must be a URL")
    return url


def run_generate(args: argparse.Namespace) -> int:
    import json
    import time

    from sild.cli._common import _engines, console
    from sild.errors import InvalidStateTransition
    from sild.registers.generate import generate, write
    from sild.registers.openapi import REGISTERS, openapi_json
    from sild.store import make_engine, migrate

    folder = Path(args.dir)
    if _config(folder).exists():
        raise InvalidStateTransition(f"{folder} already holds registers ({_config(folder)})")
    folder.mkdir(parents=True, exist_ok=True)
    url = args.database or f"sqlite:///{(folder / 'registers.db').resolve()}"
    start = time.perf_counter()
    data = generate(seed=args.seed, size=args.size)
    engine = make_engine(url)
    _engines.append(engine)
    migrate(engine, "registers")
    write(engine, data)
    (folder / "openapi").mkdir(exist_ok=True)
    for register in REGISTERS:  # for `sild gateway service add … --openapi FILE`
        (folder / "openapi" / f"{register}.json").write_bytes(openapi_json(register))
    _config(folder).write_text(f"[registers]\ndatabase = {json.dumps(url)}\n"
                               f"seed = {args.seed}\nsize = {json.dumps(args.size)}\n")
    counts = ", ".join(f"{len(rows)} {name}" for name, rows in data.items())
    console.print(f"registers generated in {folder} (seed {args.seed}, {args.size}) in "
                  f"{time.perf_counter() - start:.1f} s: {counts}", markup=False)
    return 0


def run_serve(args: argparse.Namespace) -> int:
    import asyncio
    import contextlib

    from sild.cli._common import console
    from sild.embedded import start_embedded
    from sild.instance import parse_listen
    from sild.registers.app import create_registers_app
    from sild.registers.openapi import REGISTERS
    from sild.store import make_engine, migrate

    host, port = parse_listen(args.listen)
    engine = make_engine(_database_url(Path(args.dir)))
    migrate(engine, "registers")
    app = create_registers_app(engine)

    async def serve() -> None:
        server, task = await start_embedded(app, host, port)
        url = f"http://{host}:{port}"
        console.print(f"registers on {url}: " + ", ".join(f"{url}/{r}" for r in REGISTERS)
                      + " (each with /openapi.json)", markup=False)
        try:
            await asyncio.shield(task)
        finally:
            server.should_exit = True
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(task, 10)

    try:
        asyncio.run(serve())
    finally:
        engine.dispose()
    return 0
