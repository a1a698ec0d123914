"""Several processes of one gateway on one host (``sild gateway serve --processes N``).

Each process runs a whole gateway; the IS and peer ports are bound with SO_REUSEPORT,
so the kernel spreads new connections over the processes (docs/operations.md
"Active-active topology"). Process 0 also serves the admin port. The processes share
the gateway's database exactly as nodes on different hosts do: one anchoring leader,
one shared replay window on PostgreSQL.

The command's own process only supervises: it forks the gateway processes (it never
runs an event loop or a thread, so forking is safe at any time) and waits for signals
with them blocked (``sigwaitinfo``), one wake per event:

* a gateway process that ends while the command is not stopping is started again
  under the same number, after 1 s, doubling up to 30 s while it keeps ending within
  10 s of its start. The survivors keep serving the port meanwhile. One that exits
  with an error within 10 s of the command's start (a port taken, a database missing)
  stops the command instead: that is a set-up error, and restarting would only hide
  it. A process killed by a signal is always started again;
* SIGTERM or SIGINT stops them all with SIGTERM and waits; the exit code is 0 when
  every process stopped cleanly, 1 otherwise;
* if the command itself dies (``kill -9``), each gateway process gets SIGTERM from the
  kernel (Linux ``PR_SET_PDEATHSIG``) and stops as it would on the command's SIGTERM:
  nothing keeps serving unsupervised.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

__all__ = ["Supervision", "run_processes"]

log = structlog.get_logger(__name__)

_STOP = {signal.SIGTERM, signal.SIGINT}
_WATCHED = {signal.SIGCHLD, *_STOP}


@dataclass(frozen=True)
class Supervision:
    """When a gateway process that ended is started again."""

    first_delay: float = 1.0
    max_delay: float = 30.0
    steady: float = 10.0  # a process that ran this long restarts after first_delay again


@dataclass
class _Slot:
    """One gateway process number: who runs it now, and when it ends up restarted."""

    index: int
    pid: int = 0
    started: float = 0.0
    delay: float = 0.0
    due: float | None = None  # when to start it again, while it is not running
    ever_steady: bool = False


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _stop_with(parent: int) -> None:
    """In a gateway process: SIGTERM from the kernel when the supervising ``parent``
    dies (prctl(2) PR_SET_PDEATHSIG; the supervisor has no threads, whose end would
    trigger it too). If it died before this call, stop now."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)


def _exit_text(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exit code {code}"


class _Supervisor:
    def __init__(self, count: int, run: Callable[[int], None], policy: Supervision) -> None:
        self.run = run
        self.policy = policy
        self.slots = [_Slot(i, delay=policy.first_delay) for i in range(count)]
        self.stopping = False
        self.failed = False
        self.began = time.monotonic()

    def spawn(self, slot: _Slot) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the child: its own gateway process, never back into the CLI
            _stop_with(parent)  # pending until the signals are unblocked next
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _WATCHED)
            code = 0
            try:
                self.run(slot.index)
            except KeyboardInterrupt:
                pass
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 1
            except BaseException as e:
                print(f"sild: gateway process {slot.index}: {e}", file=sys.stderr)
                code = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        slot.pid, slot.started, slot.due = pid, time.monotonic(), None

    def stop(self) -> None:
        self.stopping = True
        for slot in self.slots:
            slot.due = None
            if slot.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(slot.pid, signal.SIGTERM)

    def ended(self, slot: _Slot, code: int) -> None:
        now = time.monotonic()
        slot.pid = 0
        if self.stopping:
            if code not in (0, -signal.SIGTERM, -signal.SIGINT):
                self.failed = True
            return
        ran = now - slot.started
        if ran >= self.policy.steady:
            slot.ever_steady = True
            slot.delay = self.policy.first_delay
        if code > 0 and not slot.ever_steady and now - self.began < self.policy.steady:
            log.error("gateway process failed at start; stopping", process=slot.index,
                      ended=_exit_text(code))
            self.failed = True
            self.stop()
            return
        slot.due = now + slot.delay
        log.warning("gateway process ended; starting it again", process=slot.index,
                    ended=_exit_text(code), ran_s=round(ran, 1), restart_in_s=slot.delay)
        slot.delay = min(slot.delay * 2, self.policy.max_delay)

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            for slot in self.slots:
                if slot.pid == pid:
                    self.ended(slot, os.waitstatus_to_exitcode(status))

    def loop(self) -> None:
        while any(s.pid for s in self.slots) or any(s.due is not None for s in self.slots):
            now = time.monotonic()
            for slot in self.slots:
                if slot.due is not None and slot.due <= now:
                    self.spawn(slot)
            dues = [s.due for s in self.slots if s.due is not None]
            if dues:
                info = signal.sigtimedwait(_WATCHED, max(0.0, min(dues) - now))
            else:
                info = signal.sigwaitinfo(_WATCHED)
            if info is not None and info.si_signo in _STOP and not self.stopping:
                self.stop()
            self.reap()


def run_processes(count: int, run: Callable[[int], None], *,
                  policy: Supervision = Supervision()) -> int:
    """``run(i)`` for i in 0…count-1, each in a process of its own, kept running until
    SIGTERM or SIGINT; 0 when all stopped cleanly, 1 when one failed."""
    supervisor = _Supervisor(count, run, policy)
    signal.pthread_sigmask(signal.SIG_BLOCK, _WATCHED)
    try:
        for slot in supervisor.slots:
            supervisor.spawn(slot)
        supervisor.loop()
    finally:
        if any(s.pid for s in supervisor.slots):  # an error in this process: stop them all
            supervisor.stop()
            for slot in supervisor.slots:
                if slot.pid:
                    with contextlib.suppress(ChildProcessError):
                        os.waitpid(slot.pid, 0)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _WATCHED)
    return 1 if supervisor.failed else 0
