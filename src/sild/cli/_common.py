"""Helpers shared by the CLI modules: the console, instance lookup, tables.

Start-up speed: building the parser imports every CLI module, so this module and the
top of every ``sild.cli`` module import only light things (argparse, rich, sild.errors,
sild.core identifiers); databases, web frameworks, HTTP clients and cryptography are
imported inside the command functions (tests/unit/cli/test_startup.py checks it).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from sild.instance import Instance
    from sild.registry.service import Registry

console = Console(highlight=False, soft_wrap=True)
if not console.is_terminal:
    # Piped output (scripts, tests, CI logs): wide enough that ids are not folded.
    console.width = 200


def add_dir_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", metavar="DIR",
                   help="instance folder (default: $SILD_HOME or the current folder)")


def add_passphrase_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--passphrase-file", metavar="FILE",
                   help="file whose first line is the key passphrase "
                        "(default: $SILD_PASSPHRASE_FILE; none = unencrypted keys)")


def no_logs(p: argparse.ArgumentParser) -> None:
    """Mark an offline command that never logs: it skips importing structlog (60 ms).

    Only for commands whose code imports no module that logs; tests/unit/cli/test_startup.py
    runs each marked command and checks that structlog stays unimported.
    """
    p.set_defaults(log_level=None)


def quiet_logs(p: argparse.ArgumentParser) -> None:
    """A one-shot command whose result or one-line error says it all: log errors only.

    (Services log at INFO; JSON lines on stderr never mix with results on stdout.)
    """
    p.set_defaults(log_level=logging.ERROR)


def instance_of(args: argparse.Namespace) -> Instance:
    from sild.instance import find_instance

    return find_instance(getattr(args, "dir", None))


_engines: list[Engine] = []


def open_registry(instance: Instance) -> Registry:
    """The instance's registry; its engine is disposed when the command ends."""
    from sild.registry.service import Registry
    from sild.store import make_engine, migrate

    engine = make_engine(instance.database_url)
    _engines.append(engine)
    migrate(engine)
    return Registry(engine, instance.instance_id)


def close_all() -> None:
    """Dispose every engine a command opened (closes database connections cleanly)."""
    while _engines:
        _engines.pop().dispose()


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for c in columns:
        t.add_column(c, overflow="fold")
    n = 0
    for row in rows:
        t.add_row(*("" if v is None else str(v) for v in row))
        n += 1
    if n:
        console.print(t)
    else:
        console.print(f"{title}: none")
