"""Ctrl-C and SIGTERM for a command that starts a whole network in one process
(``sild demo``, its enterprise scenario): stopped cleanly at any moment (issue 12:
Ctrl-C during start-up printed tracebacks)."""

from __future__ import annotations

import asyncio
import contextlib
import signal

__all__ = ["Interrupted", "StartupSignals"]


class Interrupted(Exception):
    """Ctrl-C (or SIGTERM) while the network was starting: it was stopped cleanly."""


class StartupSignals:
    """Ctrl-C from the very start. During start-up it cancels the start-up task, whose
    ``finally`` stops what already runs, instead of KeyboardInterrupt tearing through
    every server's task at once; once ``started`` is set, it sets ``stop``."""

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self.started = False
        self._main = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._on_signal)

    def _on_signal(self) -> None:
        if self.stop.is_set():
            return
        self.stop.set()
        if not self.started and self._main is not None:
            self._main.cancel()
