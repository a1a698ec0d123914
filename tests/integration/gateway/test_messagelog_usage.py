"""Usage records commit with their message-log records: both or neither
(docs/spec/tracker.md §2, issue #8), numbered and chained per subject (§3.2), on real
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from sild.core.usage import CHAIN_START, chain_next
from sild.gateway.messagelog.log import LoggingFailed, MessageLog
from sild.gateway.messagelog.usage import UsageRecord
from sild.store import make_engine, migrate
from sild.store.messagelog_tables import message_log, usage_heads, usage_log
from sild.testing.messagelog import make_record

REG = "EE/GOV/70000001/rr"


def usage(subject: str, n: int = 0) -> UsageRecord:
    return UsageRecord(register=REG, subject=subject, logged_at=datetime.now(UTC),
                       action=f"purpose {n}", receiver="EE/COM/10000001/his",
                       service=f"{REG}/echo", message_id=f"m{n}", request_id=f"r{n}",
                       categories=("health",))


def _engine(url: str) -> sa.Engine:
    engine = make_engine(url)
    migrate(engine, "messagelog")
    return engine


def _run(engine: sa.Engine, *appends: tuple[object, ...]) -> list[BaseException | None]:
    async def main() -> list[BaseException | None]:
        mlog = MessageLog(engine, max_delay=0.01)
        await mlog.start()
        try:
            results = await asyncio.gather(*(mlog.append(*a) for a in appends),  # type: ignore[arg-type]
                                           return_exceptions=True)
        finally:
            await mlog.close()
        return [r if isinstance(r, BaseException) else None for r in results]
    return asyncio.run(main())


def _usage_rows(engine: sa.Engine) -> list[sa.Row]:  # type: ignore[type-arg]
    with engine.connect() as conn:
        return list(conn.execute(sa.select(usage_log).order_by(usage_log.c.id)))


def test_one_batch_numbers_and_chains_each_subject(db_url: str) -> None:
    engine = _engine(db_url)
    ann, bob = "EE60001017869", "EE39901012239"
    errors = _run(engine, (make_record(1), usage(ann, 1), usage(bob, 1)),
                  (make_record(2), usage(ann, 2)), (make_record(3), usage(ann, 3)))
    assert errors == [None, None, None]
    rows = _usage_rows(engine)
    chain = CHAIN_START
    for i, r in enumerate([r for r in rows if r.subject == ann], start=1):
        assert r.seq == i
        chain = chain_next(chain, bytes(r.record_hash))
        assert bytes(r.chain) == chain
    with engine.connect() as conn:
        heads = {h.subject: (h.seq, bytes(h.chain)) for h in conn.execute(sa.select(usage_heads))}
    assert heads[ann] == (3, chain)
    assert heads[bob][0] == 1
    # a new writer (a restart) continues from the stored heads
    assert _run(engine, (make_record(4), usage(ann, 4))) == [None]
    assert [r.seq for r in _usage_rows(engine) if r.subject == ann] == [1, 2, 3, 4]
    engine.dispose()


def test_both_or_neither(db_url: str) -> None:
    """A usage row the database refuses takes its message-log rows with it, and only
    them: the other appends of the batch commit (§2)."""
    engine = _engine(db_url)
    ann, bob = "EE60001017869", "EE39901012239"
    # Another writer took seq 1 of Ann's chain behind this log's back.
    rec = usage(ann, 0)
    with engine.begin() as conn:
        conn.execute(usage_log.insert().values(rec.to_row(1, bytes(32), bytes(32))))
    errors = _run(engine, (make_record(1), usage(ann, 1)), (make_record(2), usage(bob, 2)))
    assert isinstance(errors[0], LoggingFailed)
    assert errors[1] is None
    with engine.connect() as conn:
        ids = {r.request_id for r in conn.execute(sa.select(message_log.c.request_id))}
    assert make_record(1).request_id not in ids
    assert make_record(2).request_id in ids
    assert [(r.subject, r.seq) for r in _usage_rows(engine)] == [(ann, 1), (bob, 1)]
    engine.dispose()


@pytest.mark.parametrize("bad", [{"subject": "x" * 40}, {"receiver": "a\x00b"},
                                 {"logged_at": datetime(2026, 1, 1)}])
def test_unstorable_usage_records_are_refused_before_the_batch(bad: dict[str, object]) -> None:
    fields = {"register": REG, "subject": "EE60001017869", "logged_at": datetime.now(UTC),
              "action": "a", "receiver": "EE/COM/1/x", "service": f"{REG}/echo"}
    with pytest.raises(ValueError, match=r"stored|timezone"):
        UsageRecord(**{**fields, **bad})  # type: ignore[arg-type]


def test_message_log_ids_are_never_reused(db_url: str) -> None:
    """Issue #12 defect: after the newest rows were purged, SQLite handed their ids out
    again, so new rows fell under the anchoring watermark and were never anchored
    (docs/spec/anchoring.md §3). AUTOINCREMENT semantics on both databases now."""
    engine = _engine(db_url)
    assert _run(engine, *((make_record(i),) for i in range(1, 6))) == [None] * 5
    with engine.begin() as conn:
        top = conn.execute(sa.select(sa.func.max(message_log.c.id))).scalar_one()
        conn.execute(message_log.delete().where(message_log.c.id > top - 2))  # purge newest
    assert _run(engine, (make_record(6),)) == [None]
    with engine.connect() as conn:
        new = conn.execute(sa.select(sa.func.max(message_log.c.id))).scalar_one()
    assert new > top
    engine.dispose()
