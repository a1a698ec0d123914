"""Serving commands stop the same way on SIGTERM and Ctrl-C (docs/operations.md,
"Stopping services"): the server coroutine is cancelled, its ``finally`` shuts down
gracefully, and the command exits 0 — not −15 (SIGTERM's default) or a traceback."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

__all__ = ["run_until_signal"]


def run_until_signal(coro: Coroutine[Any, Any, Any]) -> int:
    """Run ``coro`` (a server that runs until cancelled) until SIGTERM or SIGINT; 0."""
    import asyncio
    import contextlib
    import signal

    async def main() -> None:
        task = asyncio.ensure_future(coro)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        waiter = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if task in done:
            task.result()  # the server ended by itself: its error, if any
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(main())
    return 0
