"""Several processes of one gateway on one host (``sild gateway serve --processes N``).

Each process runs a whole gateway; the IS and peer ports are bound with SO_REUSEPORT,
so the kernel spreads new connections over the processes (docs/operations.md
"Active-active topology"). Process 0 also serves the admin port. The processes share
the gateway's database exactly as nodes on different hosts do: one anchoring leader,
one shared replay window on PostgreSQL.

The parent forks the others before any event loop or thread exists, runs process 0
itself, and on its way out (SIGTERM, SIGINT or an error) stops the others with SIGTERM
and waits for them. A child that dies is not restarted: the survivors keep serving
the port, and the service manager sees the parent's exit code once it stops.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable

__all__ = ["run_processes"]


def run_processes(count: int, run: Callable[[int], None]) -> int:
    """``run(i)`` in ``count`` processes (``run(0)`` in this one); 0 when all stopped
    cleanly, 1 when one of the others failed."""
    children: list[int] = []
    for index in range(1, count):
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: its own gateway process, never back into the CLI
            code = 0
            try:
                run(index)
            except KeyboardInterrupt:
                pass
            except BaseException as e:
                print(f"sild: gateway process {index}: {e}", file=sys.stderr)
                code = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        children.append(pid)
    try:
        run(0)
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        failed = False
        for pid in children:
            _, status = os.waitpid(pid, 0)
            failed = failed or os.waitstatus_to_exitcode(status) not in (0, -signal.SIGTERM)
    return 1 if failed else 0
