"""Run a :class:`~sild.localnet.LocalNet` in a background event loop for synchronous tests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from sild.localnet import LocalNet

__all__ = ["NetThread"]

T = TypeVar("T")


class NetThread:
    def __init__(self, net: LocalNet) -> None:
        self.net = net
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> NetThread:
        self.thread.start()
        try:
            self.run(self.net.start())
        except BaseException:
            self.__exit__()  # stop what did start, so one failure is not followed by leaks
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.run(self.net.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)
