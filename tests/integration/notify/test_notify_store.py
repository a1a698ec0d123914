"""The notification store on SQLite and PostgreSQL (docs/spec/notify.md §3–§5): events
once each, deliveries by rule, leases, retries, dead letters, the inbox."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace

import pytest
import sqlalchemy as sa

from sild.errors import DuplicateEntry, InvalidPersonalCode, InvalidRequest, NotFound
from sild.notify.model import NotifyLimits, parse_event, parse_networks
from sild.notify.store import NotifyStore
from sild.store import make_engine, migrate
from sild.testing.clock import SettableClock
from sild.testing.notify import sample_event

ANN, BOB = "EE38001085718", "EE49002124277"
HOOK = "https://hooks.example.com/sild"


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock()


@pytest.fixture
def store(db_url: str, clock: SettableClock) -> Iterator[NotifyStore]:
    engine = make_engine(db_url)
    migrate(engine, "notify")
    yield NotifyStore(engine, clock=clock, limits=NotifyLimits(max_attempts=3, lease=30),
                      allowed=parse_networks(["127.0.0.0/8"]))
    engine.dispose()


def events(*seqs: int, **kw: object) -> list:  # type: ignore[type-arg]
    return [parse_event(sample_event(s, **kw)) for s in seqs]  # type: ignore[arg-type]


def _count(store: NotifyStore, table: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())  # noqa: S608


def test_an_event_sent_twice_is_stored_once(store: NotifyStore) -> None:
    """Dedupe by event id: the second batch adds no event and no delivery."""
    store.subscribe(ANN, webhook=HOOK)
    assert store.add_events(events(1, 2, 3)) == (3, 0)
    assert store.add_events(events(2, 3, 4)) == (1, 2)
    assert store.add_events(events(4, 4)) == (0, 2)
    assert _count(store, "notify_events") == 4
    assert _count(store, "notify_deliveries") == 4


def test_racing_batches_store_each_event_once(store: NotifyStore) -> None:
    """Two gateway nodes sending the same batch at once: one copy, no error."""
    store.subscribe(ANN, webhook=HOOK)
    batch = events(*range(1, 21))
    results: list[tuple[int, int]] = []
    errors: list[BaseException] = []

    def send() -> None:
        try:
            results.append(store.add_events(batch))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert sum(a for a, _ in results) == 20
    assert _count(store, "notify_events") == 20
    assert _count(store, "notify_deliveries") == 20


def test_rules_choose_the_deliveries(store: NotifyStore) -> None:
    """Every use, a category, break-glass only; break-glass reaches them all; inbox too."""
    every, _ = store.subscribe(ANN, webhook=HOOK)
    tax, _ = store.subscribe(ANN, webhook=HOOK + "/tax", categories=["tax"])
    glass, _ = store.subscribe(ANN, webhook=HOOK + "/glass", emergency_only=True)
    box, secret = store.subscribe(ANN, inbox=True)
    assert secret is None
    store.add_events(events(1) + events(2, flags=("emergency",)) + events(3, subject=BOB))
    counts = {s.id: dict(s.counts) for s in store.subscriptions(ANN)}
    assert counts[every.id] == {"pending": 2}
    assert counts[tax.id] == {"pending": 1}  # only the break-glass one
    assert counts[glass.id] == {"pending": 1}
    assert counts[box.id] == {"inbox": 2}
    assert store.subscriptions(BOB) == []


def test_subscribe_checks_its_input(store: NotifyStore) -> None:
    with pytest.raises(InvalidPersonalCode):
        store.subscribe("EE38001085710", webhook=HOOK)
    with pytest.raises(InvalidRequest):
        store.subscribe(ANN, webhook=HOOK, inbox=True)
    with pytest.raises(InvalidRequest):
        store.subscribe(ANN)
    with pytest.raises(InvalidRequest):
        store.subscribe(ANN, webhook=HOOK, categories=["Health!"])
    store.subscribe(ANN, inbox=True)
    with pytest.raises(DuplicateEntry):
        store.subscribe(ANN, inbox=True)
    store.subscribe(ANN, webhook=HOOK)
    with pytest.raises(DuplicateEntry):
        store.subscribe(ANN, webhook=HOOK)
    for i in range(4):
        store.subscribe(ANN, webhook=f"{HOOK}/{i}")
    with pytest.raises(InvalidRequest, match="at most 5"):
        store.subscribe(ANN, webhook=f"{HOOK}/6")


def test_unsubscribe_removes_deliveries_and_only_ones_own(store: NotifyStore) -> None:
    sub, _ = store.subscribe(ANN, webhook=HOOK)
    store.add_events(events(1))
    with pytest.raises(NotFound):
        store.unsubscribe(BOB, sub.id)
    store.unsubscribe(ANN, sub.id)
    assert store.subscriptions(ANN) == []
    assert _count(store, "notify_deliveries") == 0
    with pytest.raises(NotFound):
        store.unsubscribe(ANN, sub.id)


def test_claim_retry_and_dead_letter(store: NotifyStore, clock: SettableClock) -> None:
    """A failed attempt waits its backoff; after max_attempts the delivery is dead."""
    store.subscribe(ANN, webhook=HOOK)
    store.add_events(events(1))
    (c,) = store.claim(limit=10, busy={})
    assert (c.attempts, c.url) == (1, HOOK)
    assert b'"type":"sild.usage"' in c.body
    assert c.event_id.endswith(f"/{ANN}/1")
    assert store.claim(limit=10, busy={}) == []  # leased
    assert store.finish(c.id, ok=False, status=500, error="HTTP 500", retry_in=10) == "pending"
    assert store.claim(limit=10, busy={}) == []  # not yet due
    clock.advance(10)
    (c,) = store.claim(limit=10, busy={})
    assert c.attempts == 2
    store.finish(c.id, ok=False, status=None, error="timeout", retry_in=1)
    clock.advance(1)
    (c,) = store.claim(limit=10, busy={})
    assert store.finish(c.id, ok=False, status=500, error="HTTP 500", retry_in=None) == "dead"
    (d,) = store.deliveries(ANN, state="dead")
    assert (d.attempts, d.last_status, d.last_error) == (3, 500, "HTTP 500")
    clock.advance(3600)
    assert store.claim(limit=10, busy={}) == []


def test_a_lease_that_ran_out_is_claimed_again(store: NotifyStore, clock: SettableClock) -> None:
    """A worker that died mid-send: its delivery is due again after the lease (restart)."""
    store.subscribe(ANN, webhook=HOOK)
    store.add_events(events(1))
    (first,) = store.claim(limit=1, busy={})
    clock.advance(31)
    (again,) = store.claim(limit=1, busy={})
    assert again.id == first.id
    assert again.attempts == 2
    store.finish(again.id, ok=True, status=204, error=None, retry_in=None)
    assert store.deliveries(ANN, state="delivered")[0].id == first.id


def test_claim_respects_the_per_subscription_limit_and_break_glass_goes_first(
        store: NotifyStore) -> None:
    slow, _ = store.subscribe(ANN, webhook=HOOK)
    other, _ = store.subscribe(BOB, webhook=HOOK)
    store.add_events(events(1, 2, 3) + events(4, flags=("lock-overridden",)))
    store.add_events(events(1, subject=BOB))
    got = store.claim(limit=10, busy={slow.id: 1})
    assert [c.subscription_id for c in got] == [slow.id, other.id]
    assert got[0].event_id.endswith("/4")  # break-glass first


def test_inbox_pages_and_marks_read(store: NotifyStore) -> None:
    store.subscribe(ANN, inbox=True)
    store.add_events(events(1, 2, 3))
    total, unread, page = store.inbox(ANN, limit=2)
    assert (total, unread) == (3, 3)
    assert [n.event["seq"] for n in page] == [3, 2]  # newest first
    assert store.mark_read(ANN, [page[0].id]) == 1
    total, unread, page = store.inbox(ANN, unread_only=True)
    assert (total, unread, [n.event["seq"] for n in page]) == (3, 2, [2, 1])
    assert store.mark_read(BOB) == 0
    assert store.mark_read(ANN) == 2
    assert store.inbox(ANN)[1] == 0
    with pytest.raises(InvalidRequest):
        store.mark_read(ANN, ["1"])  # type: ignore[list-item]


def test_a_limit_change_needs_no_migration(store: NotifyStore) -> None:
    """Limits are settings (NotifyLimits), not schema: a new instance reads the same rows."""
    store.subscribe(ANN, webhook=HOOK)
    store.add_events(events(1))
    other = NotifyStore(store.engine, limits=replace(store.limits, per_subscription=1))
    assert len(other.claim(limit=5, busy={})) == 1


def test_a_backlog_of_one_subscription_hides_no_one_else(store: NotifyStore) -> None:
    """Ann's receiver is slow and 300 of her deliveries are due first: Bob's is still
    claimed in the same call (docs/spec/notify.md §5.4)."""
    ann, _ = store.subscribe(ANN, webhook=HOOK)
    bob, _ = store.subscribe(BOB, webhook=HOOK)
    store.add_events(events(*range(1, 301)))
    store.add_events(events(1, subject=BOB))
    got = store.claim(limit=4, busy={})
    assert [c.subscription_id for c in got] == [ann.id, ann.id, bob.id]
    got = store.claim(limit=4, busy={ann.id: 2})
    assert got == []  # Bob's is in flight, Ann's at her limit
