"""The configuration client against an in-memory fetcher (docs/spec/globalconf.md §4)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from structlog.testing import capture_logs

from sild.confclient import ConfClient, backoff_delay
from sild.confclient._cache import CONF_FILE, STATE_FILE
from sild.core.anchor import Anchor
from sild.core.globalconf import sign_globalconf, signing_key_of
from sild.errors import (
    ConfigurationError,
    GlobalConfError,
    GlobalConfExpired,
    GlobalConfRollback,
    GlobalConfSignatureError,
    TransportError,
)
from sild.testing.confdouble import MemoryFetcher, make_anchor, make_conf

T = TypeVar("T")
T0 = datetime(2026, 11, 22, 16, 0, 0, tzinfo=UTC)
OLD = Ed25519PrivateKey.from_private_bytes(b"o" * 32)
NEW = Ed25519PrivateKey.from_private_bytes(b"n" * 32)
STRANGER = Ed25519PrivateKey.from_private_bytes(b"s" * 32)
A, B = "http://a.test/globalconf", "http://b.test/globalconf"


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def doc(version: int = 1, *, signers: tuple[Ed25519PrivateKey, ...] = (OLD,),
        lists: tuple[Ed25519PrivateKey, ...] = (OLD,), issued: datetime = T0,
        refresh: int = 60) -> bytes:  # fmt: skip
    conf = make_conf(list(lists), version=version, issued_at=issued, refresh_interval=refresh)
    return sign_globalconf(conf, list(signers))


def client(
    tmp_path: Path, fetcher: MemoryFetcher, clock: Clock, anchor: Anchor | None = None
) -> ConfClient:
    return ConfClient(
        anchor or make_anchor([OLD], [A, B]), tmp_path / "cache", clock=clock, fetcher=fetcher
    )


@pytest.fixture
def fetcher() -> MemoryFetcher:
    return MemoryFetcher()


@pytest.fixture
def clock() -> Clock:
    return Clock(T0 + timedelta(seconds=1))


def test_refresh_accepts_first_source(tmp_path: Path, fetcher: MemoryFetcher, clock: Clock) -> None:
    """A good document from the first source becomes current; the second is not asked."""
    fetcher.serve(A, doc())
    c = client(tmp_path, fetcher, clock)
    v = run(c.refresh())
    assert c.current() is v
    assert fetcher.requests == [A]


def test_refresh_persists_envelope_and_state(
    tmp_path: Path, fetcher: MemoryFetcher, clock: Clock
) -> None:
    """An accepted document is written to the cache with its state, and no temp files remain."""
    fetcher.serve(A, doc(3))
    run(client(tmp_path, fetcher, clock).refresh())
    cache = tmp_path / "cache"
    assert (cache / CONF_FILE).read_bytes() == doc(3)
    assert json.loads((cache / STATE_FILE).read_text())["last_version"] == 3
    assert sorted(p.name for p in cache.iterdir()) == sorted([CONF_FILE, STATE_FILE])


def test_falls_back_to_second_source(tmp_path: Path, fetcher: MemoryFetcher, clock: Clock) -> None:
    """When the first source is down the second is tried."""
    fetcher.down(A)
    fetcher.serve(B, doc())
    assert run(client(tmp_path, fetcher, clock).refresh()).conf.version == 1
    assert fetcher.requests == [A, B]


def test_bad_document_is_reported_and_next_source_tried(
    tmp_path: Path, fetcher: MemoryFetcher, clock: Clock
) -> None:
    """A source serving a forged document is logged and skipped; the next one wins."""
    fetcher.serve(A, doc(signers=(STRANGER,)))
    fetcher.serve(B, doc())
    with capture_logs() as logs:
        v = run(client(tmp_path, fetcher, clock).refresh())
    assert v.conf.version == 1
    assert any(e["event"] == "globalconf source failed" and e["url"] == A for e in logs)


def test_bad_document_outranks_a_down_source(
    tmp_path: Path, fetcher: MemoryFetcher, clock: Clock
) -> None:
    """When every source fails, a forged document is the error raised, naming its URL."""
    fetcher.down(A)
    fetcher.serve(B, doc(signers=(STRANGER,)))
    with pytest.raises(GlobalConfSignatureError, match=f"^{B}: globalconf: signed by unknown"):
        run(client(tmp_path, fetcher, clock).refresh())


def test_all_sources_down_is_transport_error(
    tmp_path: Path, fetcher: MemoryFetcher, clock: Clock
) -> None:
    """When every source is down, the transport error is raised."""
    fetcher.down(A)
    fetcher.down(B)
    with pytest.raises(TransportError, match="connection refused"):
        run(client(tmp_path, fetcher, clock).refresh())


def test_no_configuration_yet(tmp_path: Path, fetcher: MemoryFetcher, clock: Clock) -> None:
    """Before the first accepted document current() refuses."""
    with pytest.raises(GlobalConfError, match="no global configuration yet"):
        client(tmp_path, fetcher, clock).current()


def test_rollback_is_refused_and_last_copy_kept(
    tmp_path: Path, fetcher: MemoryFetcher, clock: Clock
) -> None:
    """After version 2, a source serving version 1 is a rollback; version 2 stays current."""
    c = client(tmp_path, fetcher, clock)
    fetcher.serve(A, doc(2))
    run(c.refresh())
    fetcher.serve(A, doc(1))
    fetcher.down(B)
    with pytest.raises(GlobalConfRollback):
        run(c.refresh())
    assert c.current().conf.version == 2


def test_last_copy_serves_until_expiry(
    tmp_path: Path, fetcher: MemoryFetcher, clock: Clock
) -> None:
    """With the registry down the last copy serves until expires_at, then fails closed."""
    c = client(tmp_path, fetcher, clock)
    fetcher.serve(A, doc())
    run(c.refresh())
    fetcher.down(A)
    fetcher.down(B)
    clock.now = T0 + timedelta(seconds=599)
    with pytest.raises(TransportError):
        run(c.refresh())
    assert c.current().conf.version == 1
    clock.now = T0 + timedelta(seconds=600)
    with pytest.raises(GlobalConfExpired, match="expired at 2026-11-22T16:10:00Z"):
        c.current()


def test_cache_survives_restart(tmp_path: Path, fetcher: MemoryFetcher, clock: Clock) -> None:
    """A new client on the same cache directory starts with the cached document."""
    fetcher.serve(A, doc(4))
    run(client(tmp_path, fetcher, clock).refresh())
    again = client(tmp_path, MemoryFetcher(), clock)
    loaded = again.load_cached()
    assert loaded is not None
    assert again.current().conf.version == 4


def test_rollback_floor_survives_restart(
    tmp_path: Path, fetcher: MemoryFetcher, clock: Clock
) -> None:
    """After a restart an older version is still refused."""
    fetcher.serve(A, doc(4))
    run(client(tmp_path, fetcher, clock).refresh())
    again = client(tmp_path, fetcher, clock)
    again.load_cached()
    fetcher.serve(A, doc(3))
    fetcher.down(B)
    with pytest.raises(GlobalConfRollback):
        run(again.refresh())


def test_rotated_keys_survive_restart(tmp_path: Path, fetcher: MemoryFetcher, clock: Clock) -> None:
    """After rotating to the new key and restarting, the client trusts only the new key."""
    c = client(tmp_path, fetcher, clock)
    fetcher.serve(A, doc(1, signers=(OLD,), lists=(OLD, NEW)))
    run(c.refresh())
    fetcher.serve(A, doc(2, signers=(NEW,), lists=(NEW,)))
    run(c.refresh())
    again = client(tmp_path, fetcher, clock)
    assert again.load_cached() is not None
    assert set(again.trusted_keys) == {signing_key_of(NEW).key_id}
    fetcher.serve(A, doc(3, signers=(OLD,)))
    fetcher.down(B)
    with pytest.raises(GlobalConfSignatureError):
        run(again.refresh())


def test_corrupt_cached_document_is_ignored(
    tmp_path: Path, fetcher: MemoryFetcher, clock: Clock
) -> None:
    """A damaged globalconf.json is ignored with a warning; the rollback floor still holds."""
    fetcher.serve(A, doc(4))
    run(client(tmp_path, fetcher, clock).refresh())
    path = tmp_path / "cache" / CONF_FILE
    path.write_bytes(path.read_bytes()[:-7])
    again = client(tmp_path, fetcher, clock)
    with capture_logs() as logs:
        assert again.load_cached() is None
    assert any(e["log_level"] == "warning" for e in logs)
    assert again.rollback_floor == (4, T0)


def test_corrupt_state_file_is_ignored(
    tmp_path: Path, fetcher: MemoryFetcher, clock: Clock
) -> None:
    """A damaged state file is ignored; the cached document is re-checked against the anchor."""
    fetcher.serve(A, doc(4))
    run(client(tmp_path, fetcher, clock).refresh())
    (tmp_path / "cache" / STATE_FILE).write_bytes(b'{"format": "sild-conf')
    again = client(tmp_path, fetcher, clock)
    with capture_logs() as logs:
        loaded = again.load_cached()
    assert loaded is not None
    assert loaded.conf.version == 4
    assert any("unusable" in e["event"] for e in logs)


def test_expired_cache_is_not_served(tmp_path: Path, fetcher: MemoryFetcher, clock: Clock) -> None:
    """A cached copy that expired while we were down is not loaded, but its floor is."""
    fetcher.serve(A, doc(4))
    run(client(tmp_path, fetcher, clock).refresh())
    clock.now = T0 + timedelta(hours=1)
    again = client(tmp_path, fetcher, clock)
    assert again.load_cached() is None
    assert again.rollback_floor == (4, T0)
    with pytest.raises(GlobalConfError, match="no global configuration yet"):
        again.current()


def test_state_of_another_instance_is_ignored(
    tmp_path: Path, fetcher: MemoryFetcher, clock: Clock
) -> None:
    """A cache written for instance EE is not used by a client anchored to FI."""
    fetcher.serve(A, doc(4))
    run(client(tmp_path, fetcher, clock).refresh())
    fi = client(tmp_path, fetcher, clock, make_anchor([OLD], [A], instance="FI"))
    assert fi.load_cached() is None
    assert fi.rollback_floor is None


def test_newer_anchor_replaces_learnt_keys(
    tmp_path: Path, fetcher: MemoryFetcher, clock: Clock
) -> None:
    """An anchor generated after the cache was written decides the trusted keys again."""
    fetcher.serve(A, doc(1, signers=(OLD,), lists=(OLD,)))
    run(client(tmp_path, fetcher, clock).refresh())
    newer = make_anchor([NEW], [A], generated_at=T0 + timedelta(seconds=30))
    again = client(tmp_path, fetcher, clock, newer)
    assert again.load_cached() is None  # the cached copy is signed by OLD only
    assert set(again.trusted_keys) == {signing_key_of(NEW).key_id}
    assert again.rollback_floor == (1, T0)


def test_crash_between_cache_writes_recovers(
    tmp_path: Path, fetcher: MemoryFetcher, clock: Clock
) -> None:
    """A new envelope written without its state (a crash in between) still loads."""
    c = client(tmp_path, fetcher, clock)
    fetcher.serve(A, doc(1, signers=(OLD,), lists=(NEW,)))
    run(c.refresh())
    state = (tmp_path / "cache" / STATE_FILE).read_bytes()
    fetcher.serve(A, doc(2, signers=(NEW,), lists=(NEW,)))
    run(c.refresh())
    (tmp_path / "cache" / STATE_FILE).write_bytes(state)
    again = client(tmp_path, fetcher, clock)
    loaded = again.load_cached()
    assert loaded is not None
    assert loaded.conf.version == 2


def test_unwritable_cache_is_a_local_error(
    tmp_path: Path, fetcher: MemoryFetcher, clock: Clock
) -> None:
    """If the cache cannot be written the document is not adopted and the error is ours."""
    (tmp_path / "cache").write_bytes(b"not a directory")
    fetcher.serve(A, doc())
    c = client(tmp_path, fetcher, clock)
    with pytest.raises(ConfigurationError, match="cannot write the configuration cache"):
        run(c.refresh())
    with pytest.raises(GlobalConfError, match="no global configuration yet"):
        c.current()


@pytest.mark.parametrize(
    ("failures", "interval", "expected"),
    [(1, 60, 2.0), (2, 60, 4.0), (3, 60, 8.0), (5, 60, 32.0), (6, 60, 60.0), (200, 60, 60.0),
     (3, 5, 5.0)],
)  # fmt: skip
def test_backoff_doubles_up_to_interval(failures: int, interval: float, expected: float) -> None:
    """Back-off is 2 s, 4 s, 8 s, ... capped at the refresh interval (before jitter)."""
    assert backoff_delay(failures, interval, lambda lo, hi: hi) == expected


def test_backoff_jitter_stays_within_a_fifth() -> None:
    """Jitter shortens a delay by at most 20% and never lengthens it."""
    delays = [backoff_delay(3, 60) for _ in range(200)]
    assert all(6.4 <= d <= 8.0 for d in delays)
    assert len(set(delays)) > 1


def test_run_retries_after_failure_and_stops(
    tmp_path: Path, fetcher: MemoryFetcher, clock: Clock
) -> None:
    """The loop survives a bad document, picks up a good one on retry, and stops on request."""
    fetcher.serve(A, b"garbage")
    fetcher.down(B)
    c = client(tmp_path, fetcher, clock)

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(c.run(stop))
        await asyncio.sleep(0.05)
        assert fetcher.requests == [A, B]
        fetcher.serve(A, doc(refresh=1))
        for _ in range(60):  # the first retry comes after at most 2 s
            await asyncio.sleep(0.05)
            if c.rollback_floor is not None:
                break
        stop.set()
        await asyncio.wait_for(task, timeout=1)

    with capture_logs() as logs:
        run(scenario())
    assert c.current().conf.version == 1
    assert any(e["event"] == "globalconf refresh failed" for e in logs)
