"""Helpers shared by the CLI modules: the console, instance lookup, tables.

Start-up speed (issue 7): building the parser imports every CLI module, so this module
and the top of every ``sild.cli`` module import only light things (argparse,
sild.errors, sild.core identifiers); databases, web frameworks, HTTP clients,
cryptography, rich, logging and asyncio are imported inside the command functions or
on first use (tests/unit/cli/test_startup.py checks it in a fresh interpreter).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from rich.console import Console
    from sqlalchemy.engine import Engine

    from sild.instance import Instance
    from sild.registry.service import Registry

# logging's levels, named here so that building the parser does not import logging.
INFO, WARNING, ERROR = 20, 30, 40


class _LazyConsole:
    """A rich Console made on first use: importing rich costs 30 ms that --help need not pay."""

    def __init__(self, *, wide_when_piped: bool, **options: Any) -> None:
        self._options = options
        self._wide = wide_when_piped
        self._console: Console | None = None

    def _get(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
            if self._wide and not self._console.is_terminal:
                # Piped output (scripts, tests, CI logs): wide enough that ids are not folded.
                self._console.width = 200
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:  # e.g. console.width = 80 sets the real console's width
            setattr(self._get(), name, value)


def lazy_console(*, wide_when_piped: bool = True, **options: Any) -> Console:
    """A :class:`rich.console.Console` with ``options``, created when first used."""
    return cast("Console", _LazyConsole(wide_when_piped=wide_when_piped, **options))


console = lazy_console(highlight=False, soft_wrap=True)


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
    p.set_defaults(log_level=ERROR)


def sild_command(*, argv0: str | None = None, executable: str | None = None,
                 cwd: str | None = None) -> str:
    """How to run this same ``sild`` from the user's shell, for the commands we print.

    README installs into ``.venv`` without activating it, so a bare ``sild`` is not on
    PATH: hints name the console script as it was started (``.venv/bin/sild``), relative
    to the current folder when it lies under it, else absolute. Started as
    ``python -m sild.cli`` (or from tests): the console script next to the interpreter,
    else ``PYTHON -m sild.cli``. Arguments default to ``sys.argv[0]``,
    ``sys.executable`` and the current folder (parameters for tests).
    """
    argv0 = sys.argv[0] if argv0 is None else argv0
    executable = sys.executable if executable is None else executable
    if cwd is None:
        try:
            cwd = os.getcwd()
        except OSError:  # the current folder was deleted: only an absolute path works
            cwd = os.sep
    here = os.path.abspath(cwd)
    script = Path(argv0)
    if script.name != "sild" or not os.path.isfile(os.path.join(here, script)):
        script = Path(executable).parent / "sild"  # not resolved: a venv's python is a link
        if not os.path.isfile(os.path.join(here, script)):
            return f"{shlex.quote(executable)} -m sild.cli"
    full = os.path.normpath(os.path.join(here, script))
    if full.startswith(here.rstrip(os.sep) + os.sep):
        rel = os.path.relpath(full, here)
        return shlex.quote(rel if os.sep in rel else f".{os.sep}{rel}")
    return shlex.quote(full)


def read_text_arg(path: Path, what: str) -> str:
    """A text file named on the command line (key, policy): one-line errors, no traceback.

    Unreadable (missing, a folder, no permission) is :class:`ConfigurationError` (exit 1);
    not UTF-8 text (a binary file given by mistake) is :class:`InvalidRequest` (exit 2).
    """
    from sild.errors import ConfigurationError, InvalidRequest

    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise InvalidRequest(f"{what} {path} is not UTF-8 text") from e
    except OSError as e:
        raise ConfigurationError(f"cannot read {what} {path}: {e.strerror}") from e


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
