"""A bounded memory of recently seen request ids (the replay window).

A signed request is accepted only while its own time ``t`` is within ``window``
seconds of ours (freshness, docs/spec/exchange.md §4 step 2); after ``t + window`` it
is refused as stale anyway, so its id needs remembering only until then. Entries are
16-byte digests of the id in an insertion-ordered dict (≈ 110 bytes each), dropped from
the front as they expire: memory is bounded by rate × window, never by the number of
messages logged. Past ``max_entries`` the gateway sheds load rather than forgetting
ids early (which would open a replay hole).

Pure: the caller passes the current time (``now``, Unix seconds); nothing here reads
a clock.
"""

from __future__ import annotations

import hashlib
import itertools

from sild.errors import InvalidMessage, ServiceUnavailable

__all__ = ["ReplayCache"]


class ReplayCache:
    def __init__(self, window: float, *, max_entries: int = 500_000) -> None:
        self.window = window
        self.max_entries = max_entries
        self._seen: dict[bytes, float] = {}

    def __len__(self) -> int:
        return len(self._seen)

    def check_and_add(self, request_id: str, *, sent_at: float, now: float) -> None:
        """Remember ``request_id`` (signed at ``sent_at``, Unix seconds) until it is stale;
        :class:`InvalidMessage` if it is already remembered."""
        seen = self._seen
        expired = []
        for key in itertools.islice(seen, 64):  # expire from the front, a little at a time
            if seen[key] > now:
                break
            expired.append(key)
        for key in expired:
            del seen[key]
        digest = hashlib.blake2b(request_id.encode(), digest_size=16).digest()
        if digest in seen:
            raise InvalidMessage(f"request {request_id} was already received (replay)")
        if len(seen) >= self.max_entries:
            raise ServiceUnavailable("too many requests in the replay window; try again later")
        seen[digest] = sent_at + self.window
