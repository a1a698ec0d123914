"""Several writers on one gateway database (docs/operations.md "Active-active topology"):
one anchoring leader at a time, usage chains that survive races, one replay window, and
service configuration changes seen by every node — on real PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from sild.core.access import parse_subject
from sild.core.identifiers import SubsystemId
from sild.core.usage import CHAIN_START, chain_next
from sild.errors import InvalidMessage, StorageError
from sild.gateway.anchoring.anchorer import Anchorer, AnchoringLimits, LedgerPort
from sild.gateway.config import AnchoringSettings
from sild.gateway.messagelog.log import MessageLog
from sild.gateway.messagelog.usage import UsageRecord, chain_race
from sild.gateway.replay_shared import SharedReplay
from sild.gateway.serverconf.store import ServerConf
from sild.gateway.stores import migration_lock
from sild.store import make_engine, migrate
from sild.store.messagelog_tables import usage_log
from sild.testing.anchoring import record

REG = "EE/GOV/70000001/rr"
SUBJECT = "EE60001017869"
OTHER = "EE39901012239"


class NoLedger(LedgerPort):
    """A ledger that is down: rounds queue (the closer is what these tests watch)."""

    async def add_roots(self, imprints: object) -> list[str]:
        raise StorageError("ledger down")


@pytest.fixture
def pg(pg_url: str) -> Iterator[Callable[[], sa.Engine]]:
    """Engines on one migrated PostgreSQL database, one per simulated node."""
    engines: list[sa.Engine] = []

    def node() -> sa.Engine:
        engine = make_engine(pg_url)
        engines.append(engine)
        return engine

    first = node()
    for component in ("messagelog", "anchoring", "serverconf"):
        migrate(first, component)
    yield node
    for engine in engines:
        engine.dispose()


def _until(check: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def _rounds(engine: sa.Engine) -> list[tuple[int, int, int]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(  # type: ignore[misc]
            "SELECT id, first_record_id, last_record_id FROM anchor_rounds ORDER BY id"))]


def test_two_anchorers_one_leader_and_the_standby_takes_over(
        pg: Callable[[], sa.Engine]) -> None:
    """One node closes rounds; when it stops, the other leads on from its last round."""
    settings = AnchoringSettings(ledger_url="http://unused", period=0.1)
    limits = AnchoringLimits(gap_wait=0.0)

    async def main() -> None:
        writer = MessageLog(pg(), max_delay=0.001)
        await writer.start()
        a, b = (Anchorer(pg(), settings, limits=limits, ledger=NoLedger()) for _ in "ab")
        await a.start()
        await b.start()
        try:
            await asyncio.gather(*(writer.append(record(i)) for i in range(1, 41)))
            await asyncio.to_thread(_until, lambda: sum(1 for x in (a, b) if x.leading) == 1)
            leader, standby = (a, b) if a.leading else (b, a)
            await asyncio.to_thread(_until, lambda: _rounds(leader.engine)[-1:] != []
                                    and _rounds(leader.engine)[-1][2] == 40)
            await leader.stop()
            await asyncio.gather(*(writer.append(record(i)) for i in range(41, 81)))
            await asyncio.to_thread(_until, lambda: standby.leading
                                    and _rounds(standby.engine)[-1][2] == 80)
        finally:
            for x in (a, b):
                await x.stop()
            await writer.close()

    asyncio.run(main())
    rounds = _rounds(pg())
    assert [r[0] for r in rounds] == list(range(1, len(rounds) + 1))
    assert [r[1] for r in rounds[1:]] == [r[2] + 1 for r in rounds[:-1]]  # no record twice


def _usage(n: int, subject: str = SUBJECT) -> UsageRecord:
    return UsageRecord(register=REG, subject=subject, logged_at=datetime.now(UTC),
                       action=f"read {n}", receiver="EE/COM/10000001/his",
                       service=f"{REG}/echo", message_id=f"m{n}", request_id=f"r{n}")


def test_two_writers_on_one_chain_fail_no_append(pg: Callable[[], sa.Engine]) -> None:
    """Two nodes' writers extend the same people's usage chains at once: races (and
    deadlocks) are retried, every append succeeds, each chain stays one unbroken line."""
    async def main() -> list[BaseException | None]:
        logs = [MessageLog(pg(), max_delay=0.002) for _ in range(2)]
        for mlog in logs:
            await mlog.start()
        try:
            results = await asyncio.gather(*(
                # the two writers take the two chains in opposite order
                logs[i % 2].append(record(i), *((_usage(i), _usage(i, OTHER)) if i % 2
                                                else (_usage(i, OTHER), _usage(i))))
                for i in range(1, 201)), return_exceptions=True)
        finally:
            for mlog in logs:
                await mlog.close()
        return [r if isinstance(r, BaseException) else None for r in results]

    assert asyncio.run(main()) == [None] * 200
    for subject in (SUBJECT, OTHER):
        with pg().connect() as conn:
            rows = list(conn.execute(sa.select(
                usage_log.c.seq, usage_log.c.record_hash, usage_log.c.chain).where(
                    usage_log.c.subject == subject).order_by(usage_log.c.seq)))
        assert [r.seq for r in rows] == list(range(1, 201))
        chain = CHAIN_START
        for r in rows:
            chain = chain_next(chain, bytes(r.record_hash))
            assert bytes(r.chain) == chain


def test_only_the_chain_key_counts_as_a_race() -> None:
    """A constraint other than the chain's (seq) key is no race to retry."""
    orig = Exception('duplicate key value violates unique constraint "ux_message_log_request"')
    assert not chain_race(sa.exc.IntegrityError("INSERT", {}, orig))
    orig = Exception('duplicate key value violates unique constraint "ux_usage_log_seq"')
    assert chain_race(sa.exc.IntegrityError("INSERT", {}, orig))
    assert not chain_race(ValueError("ux_usage_log_seq"))


def test_a_deadlock_between_two_writers_counts_as_a_race() -> None:
    """PostgreSQL aborting one of two writers' batches (deadlock) is retried too."""
    class Deadlock(Exception):
        sqlstate = "40P01"

    assert chain_race(sa.exc.OperationalError("INSERT", {}, Deadlock("deadlock detected")))
    assert not chain_race(sa.exc.OperationalError("INSERT", {}, Exception("disk full")))


def test_a_replay_to_the_other_node_is_refused(pg: Callable[[], sa.Engine]) -> None:
    """A request id claimed through one node is refused by the other."""
    async def main() -> None:
        a, b = SharedReplay.open(pg()), SharedReplay(pg())
        try:
            await a.claim("req-1", expires_at=time.time() + 60)
            with pytest.raises(InvalidMessage, match="replay"):
                await b.claim("req-1", expires_at=time.time() + 60)
            await b.claim("req-2", expires_at=time.time() + 60)
        finally:
            a.close()
            b.close()

    asyncio.run(main())


def test_stale_replay_claims_are_purged(pg: Callable[[], sa.Engine]) -> None:
    """Claims past their window are deleted; fresh ones stay."""
    async def main() -> None:
        a = SharedReplay.open(pg())
        try:
            await a.claim("old", expires_at=time.time() - 1)
            a._purged = 0.0  # the next claim purges
            await a.claim("new", expires_at=time.time() + 60)
        finally:
            a.close()

    asyncio.run(main())
    with pg().connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM replay_claims")).scalar() == 1


def test_shared_replay_needs_postgresql(tmp_path: object) -> None:
    """On SQLite (one host) there is nothing to share: refused in words."""
    engine = make_engine("sqlite://")
    with pytest.raises(StorageError, match="PostgreSQL"):
        SharedReplay(engine)
    engine.dispose()


def test_a_service_added_through_one_node_is_seen_by_the_other(
        pg: Callable[[], sa.Engine]) -> None:
    """The service configuration lives in the database: node B sees node A's change
    within its refresh period, with no copying of files."""
    a, b = ServerConf(pg()), ServerConf(pg(), ttl=0.2)
    sub = SubsystemId.parse("EE/GOV/70000001/rr")
    assert b.services(sub) == []
    a.add_service(sub, "echo", "http://127.0.0.1:9/echo", timeout=5)
    service = sub.service("echo")
    a.grant(service, parse_subject("EE/COM/10000001/his"))
    _until(lambda: [d.id for d in b.services(sub)] == [service], timeout=2)


def test_nodes_migrating_at_once_take_turns(pg_url: str) -> None:
    """Two nodes starting together migrate one after the other (no CREATE TABLE race)."""
    engines = [make_engine(pg_url) for _ in range(2)]
    try:
        async def node(engine: sa.Engine) -> None:
            def work() -> None:
                with migration_lock(engine):
                    for component in ("messagelog", "serverconf", "anchoring", "replay"):
                        migrate(engine, component)
            await asyncio.to_thread(work)

        async def both() -> None:
            await asyncio.gather(*(node(e) for e in engines))

        asyncio.run(both())
        with engines[0].connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM replay_claims")).scalar() == 0
    finally:
        for e in engines:
            e.dispose()
