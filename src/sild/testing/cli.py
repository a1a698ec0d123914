"""Run ``sild`` commands in tests as an operator runs them.

:func:`sild` calls :func:`sild.cli.main` in this process (one-line errors, exit codes of
sild/cli/_exit.py); :func:`running` starts a serving command (``… serve``) in a child
process, waits until ``GET /healthz`` answers, and stops it with SIGINT (Ctrl-C) when the
block ends.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

__all__ = ["default_sigint", "running", "sild"]


def sild(*argv: str) -> int:
    """``sild ARGV…`` in this process; its exit code."""
    from sild.cli import main

    return main(list(argv))


def default_sigint() -> None:
    """In a child before exec: Ctrl-C acts as in a terminal. A test run started in the
    background by a non-interactive shell inherits SIGINT *ignored*, and Python then
    installs no KeyboardInterrupt handler, so the child would never see the test's
    SIGINT (seen in CI: serve commands killed after the wait, exit -9)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextlib.contextmanager
def running(*argv: str, port: int, timeout: float = 20) -> Iterator[dict[str, object]]:
    """``sild ARGV…`` in a child process until SIGINT; after the block the yielded dict
    holds its exit ``code``, ``out`` and ``err``."""
    proc = subprocess.Popen([sys.executable, "-m", "sild.cli", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    done: dict[str, object] = {}
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("server did not start") from None
                time.sleep(0.05)
        yield done
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            # Graceful shutdown may wait up to 10 s for open connections and workers
            # (sild.embedded); a loaded CI machine needs more than that to finish.
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        done.update(code=proc.returncode, out=out, err=err)


def own_lines(err: str) -> str:
    """A command's own stderr lines, without JSON log events: those come from a background
    service thread another in-process test left running (seen in CI: a gateway's
    configuration refresh logging "globalconf accepted" into later tests' capture)."""
    return "\n".join(line for line in err.strip().splitlines()
                     if not (line.startswith('{"') and '"event"' in line))
