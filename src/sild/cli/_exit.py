"""Exit codes of the ``sild`` command, in one place (table: docs/operations.md "Exit codes").

An error's exit code says who must act, as the error tree does (sild/errors.py):

====  ===========================================================================
0     done (``sild verify``: the receipt is OK; ``sild audit``: the log is clean)
1     our side: local state, the instance folder, a key file, the database
      (:class:`~sild.errors.LocalError`)
2     bad input or usage: a malformed argument, file or request, or one the other
      side refused (:class:`~sild.errors.RemoteError`, argparse usage errors)
3     a service we need is unavailable: registry, ledger or gateway not reachable,
      or refusing on purpose (:class:`~sild.errors.TransportError`,
      :class:`~sild.errors.ServiceUnavailable`); try again later
4     inconclusive: ``sild verify`` NA (no trusted key or publication to check against)
5     checked and failed: ``sild verify`` FAIL, ``sild ledger extend`` not proven by the
      tiles, ``sild audit`` findings
130   interrupted (Ctrl-C)
====  ===========================================================================
"""

from __future__ import annotations

from enum import IntEnum

from sild.errors import LocalError, RemoteError, ServiceUnavailable, SildError, TransportError

__all__ = ["Exit", "exit_code"]


class Exit(IntEnum):
    OK = 0
    LOCAL = 1
    BAD_INPUT = 2
    UNAVAILABLE = 3
    INCONCLUSIVE = 4
    FAILED = 5
    INTERRUPTED = 130


def exit_code(error: BaseException) -> Exit:
    """The exit code for an error that ended a command (the only place that decides)."""
    if isinstance(error, KeyboardInterrupt):
        return Exit.INTERRUPTED
    if isinstance(error, TransportError | ServiceUnavailable):
        return Exit.UNAVAILABLE
    if isinstance(error, RemoteError):
        return Exit.BAD_INPUT
    if isinstance(error, LocalError | SildError):
        return Exit.LOCAL  # a bare SildError is ours too: nothing says the input was wrong
    raise TypeError(f"not an error the CLI reports: {type(error).__name__}")
