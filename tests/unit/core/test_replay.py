"""The replay window: ids remembered until stale, bounded memory, load shed when full."""

from __future__ import annotations

import pytest

from sild.core.replay import ReplayCache
from sild.errors import InvalidMessage, ServiceUnavailable

NOW = 1_000_000.0


def test_second_sight_is_a_replay() -> None:
    """The same request id within the window is refused."""
    cache = ReplayCache(120)
    cache.check_and_add("a", sent_at=NOW, now=NOW)
    with pytest.raises(InvalidMessage, match="replay"):
        cache.check_and_add("a", sent_at=NOW, now=NOW + 1)


def test_ids_are_forgotten_once_stale() -> None:
    """After sent_at + window the id is dropped (the request would be stale anyway)."""
    cache = ReplayCache(120)
    for i in range(100):
        cache.check_and_add(f"id-{i}", sent_at=NOW, now=NOW)
    later = NOW + 121
    cache.check_and_add("new", sent_at=later, now=later)
    cache.check_and_add("newer", sent_at=later, now=later)
    assert len(cache) == 2  # the 100 stale ids are gone; "new" and "newer" remain


def test_full_window_sheds_load_instead_of_forgetting() -> None:
    """Past max_entries new requests are refused with 503, old ids are kept."""
    cache = ReplayCache(120, max_entries=3)
    for i in range(3):
        cache.check_and_add(str(i), sent_at=NOW, now=NOW)
    with pytest.raises(ServiceUnavailable):
        cache.check_and_add("x", sent_at=NOW, now=NOW)
    with pytest.raises(InvalidMessage):
        cache.check_and_add("0", sent_at=NOW, now=NOW)
