"""The ``sild`` command: parse arguments, call the library, print with Rich.

Every role has one module here exposing ``add_parser(subparsers)``; each
sub-command sets ``func`` to a function taking the parsed namespace and
returning an exit code. Errors of the :class:`~sild.errors.SildError` tree
become one line on stderr and the exit code :func:`sild.cli._exit.exit_code`
gives (docs/operations.md, "Exit codes"); a traceback is a bug.

Start-up: the parser is built from every module, so their tops import only light
modules; heavy libraries are imported inside the command functions (see _common).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sild import __version__
from sild.cli._common import INFO, lazy_console
from sild.cli._exit import Exit, exit_code
from sild.errors import SildError

__all__ = ["build_parser", "main"]

err_console = lazy_console(wide_when_piped=False, stderr=True, highlight=False, soft_wrap=True)


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors in one line and exits 2 (bad input)."""

    def error(self, message: str) -> None:  # type: ignore[override]  # argparse API
        self.exit(Exit.BAD_INPUT, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from sild.cli import (
        audit,
        ca,
        conf,
        demo,
        embassy,
        exercise,
        gateway,
        init,
        keys,
        ledger,
        registry,
        verify,
    )
    from sild.cli import consent as consent_cli
    from sild.cli import doc as doc_cli
    from sild.cli import identity as identity_cli
    from sild.cli import notify as notify_cli
    from sild.cli import portal as portal_cli
    from sild.cli import registers as registers_cli
    from sild.cli import tracker as tracker_cli

    parser = _Parser(prog="sild", description="Sild: a secure data exchange layer.")
    parser.add_argument("--version", action="version", version=f"sild {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for module in (init, demo, keys, ca, registry, gateway, conf, ledger, verify, audit,
                   identity_cli, doc_cli, tracker_cli, consent_cli, embassy, notify_cli,
                   exercise, registers_cli, portal_cli):
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sild`` console script; returns the exit code."""
    try:
        parser = build_parser()
    except KeyboardInterrupt as e:  # Ctrl-C while the command starts (imports)
        err_console.print("sild: interrupted")
        return int(exit_code(e))
    args = parser.parse_args(argv)
    level = getattr(args, "log_level", INFO)  # None: an offline command, no logs
    try:
        if level is not None:
            from sild.logs import configure_logging

            configure_logging(level)  # JSON lines on stderr; stdout stays for results
        code: int = args.func(args)
    except SildError as e:
        # One line, even when a wrapped library message has several (psycopg's do).
        one_line = " ".join(line.strip() for line in str(e).splitlines() if line.strip())
        err_console.print(f"sild: error: {one_line}", markup=False)
        return int(exit_code(e))
    except KeyboardInterrupt as e:
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C: no traceback
        err_console.print("sild: interrupted")
        return int(exit_code(e))
    except OSError as e:  # a file or folder problem a command did not word itself
        where = f": {e.filename}" if e.filename else ""
        err_console.print(f"sild: error: {e.strerror or e}{where}", markup=False)
        return int(Exit.LOCAL)
    finally:
        from sild.cli._common import close_all

        close_all()
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
