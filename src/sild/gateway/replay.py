"""A bounded memory of recently seen request ids (the replay window).

A signed request is accepted only if its time is within ``window`` seconds of
ours (freshness), so a request id needs remembering only that long: entries
expire in insertion order, and memory is bounded by rate × window, never by the
number of messages logged. Past ``max_entries`` the gateway sheds load rather
than forgetting ids early (which would open a replay hole).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from sild.errors import InvalidMessage, ServiceUnavailable

__all__ = ["ReplayCache"]


class ReplayCache:
    def __init__(self, window: float, *, max_entries: int = 500_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self.max_entries = max_entries
        self.clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def check_and_add(self, request_id: str) -> None:
        """Remember ``request_id``; :class:`InvalidMessage` if it was seen in the window."""
        now = self.clock()
        seen = self._seen
        while seen:
            oldest, expires = next(iter(seen.items()))
            if expires > now:
                break
            del seen[oldest]
        if request_id in seen:
            raise InvalidMessage(f"request {request_id} was already received (replay)")
        if len(seen) >= self.max_entries:
            raise ServiceUnavailable("too many requests in the replay window; try again later")
        # twice the freshness window: a request may be dated up to `window` in the future
        seen[request_id] = now + 2 * self.window
