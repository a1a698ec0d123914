"""One row that cannot be stored fails only its own append, never its batch neighbours
(issue 7 §1; docs/operations.md "Message log"), on real SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
import sqlalchemy as sa

from sild.gateway.messagelog.log import LoggingFailed, LogRecord, MessageLog, MessageLogStats
from sild.gateway.messagelog.opmon import OpMonRecord
from sild.store import make_engine, migrate
from sild.testing.messagelog import count_rows, make_record


def _engine(url: str) -> sa.Engine:
    engine = make_engine(url)
    migrate(engine, "messagelog")
    return engine


def _planted(i: int, how: str) -> LogRecord:
    """A record the database refuses, planted past LogRecord's own checks (a bug upstream)."""
    rec = make_record(i)
    if how == "check":  # violates ck_message_log_side in the database
        object.__setattr__(rec, "side", "both")
    elif how == "nul":  # PostgreSQL text cannot hold NUL
        object.__setattr__(rec, "message_id", "EE-\x00")
    elif how == "surrogate":  # not encodable as UTF-8: the row cannot even be built
        object.__setattr__(rec, "message_id", "EE-\udcff")
    return rec


def _run_batch(url: str, appends: list[tuple[Any, ...]], **kw: Any
               ) -> tuple[list[BaseException | None], MessageLogStats, int]:
    """All appends concurrently in one batch; (outcomes, stats, transactions begun)."""
    engine = _engine(url)
    begun: list[int] = []
    sa.event.listen(engine, "begin", lambda _c: begun.append(1))
    out: list[BaseException | None] = []

    async def main() -> MessageLogStats:
        mlog = MessageLog(engine, max_delay=0.2, **kw)
        await mlog.start()
        results = await asyncio.gather(*(mlog.append(*a) for a in appends),
                                       return_exceptions=True)
        out.extend(r if isinstance(r, BaseException) else None for r in results)
        await mlog.append(make_record(10_000))  # the writer survives (counted in stats)
        stats = mlog.stats()
        await mlog.close()
        return stats

    stats = asyncio.run(main())
    engine.dispose()
    return out, stats, len(begun)


@pytest.mark.parametrize("how", ["check", "surrogate"])
def test_a_planted_bad_record_fails_only_its_own_append(db_url: str, how: str) -> None:
    """20 good appends beside one unstorable record: 20 succeed, 1 gets LoggingFailed."""
    appends = [(make_record(i),) for i in range(10)] + [(_planted(99, how),)] + [
        (make_record(i),) for i in range(10, 20)]
    out, stats, _ = _run_batch(db_url, appends)
    assert [type(r) for r in out] == [type(None)] * 10 + [LoggingFailed] + [type(None)] * 10
    assert out[10].xroad_code == "Server.LoggingFailed"  # type: ignore[union-attr]
    assert count_rows(db_url) == 21  # 20 good + the one appended afterwards
    assert (stats.records, stats.failed_records) == (20 + 1, 1)


@pytest.mark.postgres
def test_a_nul_in_a_row_fails_only_its_append_on_postgres(pg_url: str) -> None:
    """PostgreSQL refuses NUL in text: only the append holding it fails (issue 7 §1)."""
    appends = [(make_record(i),) for i in range(5)] + [(_planted(99, "nul"),)]
    out, stats, _ = _run_batch(pg_url, appends)
    assert [r is None for r in out] == [True] * 5 + [False]
    assert isinstance(out[5], LoggingFailed)
    assert count_rows(pg_url) == 6
    assert stats.failed_records == 1


def test_scattered_bad_records_fail_only_themselves_in_few_transactions(db_url: str) -> None:
    """3 bad appends among 61: exactly those 3 fail, in far fewer commits than appends."""
    bad_at = {3, 30, 57}
    appends = [(_planted(i, "check") if i in bad_at else make_record(i),) for i in range(61)]
    out, stats, _ = _run_batch(db_url, appends)
    assert {i for i, r in enumerate(out) if r is not None} == bad_at
    assert count_rows(db_url) == 58 + 1
    assert stats.failed_records == 3
    assert stats.commits < 25  # halving, not one transaction per append (61)


def test_a_duplicate_request_record_fails_only_the_second_append(db_url: str) -> None:
    """The same record appended twice in one batch: the first is stored, the second fails."""
    dup = make_record(99)
    appends = [(make_record(i),) for i in range(10)] + [(dup,), (dup,)]
    out, stats, _ = _run_batch(db_url, appends)
    assert [r is None for r in out] == [True] * 11 + [False]
    assert count_rows(db_url) == 12
    assert (stats.records, stats.failed_records) == (11 + 1, 1)


def test_an_append_is_never_half_written(db_url: str) -> None:
    """A good record appended together with a bad one is not stored either."""
    good_in_bad = make_record(50)
    opmon = OpMonRecord(security_server_type="Client", request_in_ts=1, succeeded=True)
    appends = [(make_record(1), opmon), (good_in_bad, _planted(51, "check")),
               (make_record(2),)]
    out, stats, _ = _run_batch(db_url, appends)
    assert [r is None for r in out] == [True, False, True]
    engine = make_engine(db_url)
    with engine.connect() as conn:
        ids = set(conn.execute(sa.text("SELECT message_id FROM message_log")).scalars())
    engine.dispose()
    assert good_in_bad.message_id not in ids
    assert {"EE-00000001", "EE-00000002"} <= ids
    assert count_rows(db_url, "opmon_records") == 1
    assert (stats.records, stats.failed_records) == (3 + 1, 2)  # + the one after


def test_a_broken_database_fails_the_batch_without_row_by_row_retries(db_url: str) -> None:
    """A missing table is the database's fault: one failed transaction, no retry storm."""
    engine = _engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE opmon_records"))
    engine.dispose()
    opmon = OpMonRecord(security_server_type="Client", request_in_ts=1, succeeded=True)
    engine = make_engine(db_url)
    begun: list[int] = []
    sa.event.listen(engine, "begin", lambda _c: begun.append(1))
    out: list[BaseException | None] = []

    async def main() -> None:
        mlog = MessageLog(engine, max_delay=0.2)
        await mlog.start()
        out.extend(await asyncio.gather(*(mlog.append(make_record(i), opmon)
                                          for i in range(30)), return_exceptions=True))
        await mlog.close()

    asyncio.run(main())
    engine.dispose()
    assert all(isinstance(r, LoggingFailed) for r in out)
    assert len(begun) == 1
    assert count_rows(db_url) == 0


def test_retried_appends_are_durable_when_released(db_url: str) -> None:
    """Each append released after a retry is already visible from a new connection."""
    engine = _engine(db_url)
    seen: dict[int, int] = {}

    async def main() -> None:
        mlog = MessageLog(engine, max_delay=0.2)
        await mlog.start()

        async def one(i: int) -> None:
            await mlog.append(make_record(i))
            seen[i] = count_rows(db_url)

        await asyncio.gather(*(one(i) for i in range(5)),
                             mlog.append(_planted(9, "check")), return_exceptions=True)
        await mlog.close()

    asyncio.run(main())
    engine.dispose()
    assert sorted(seen) == list(range(5))
    assert all(n >= 5 for n in seen.values())


def test_records_still_refuse_bad_text_before_any_batch() -> None:
    """The first line of defence: the record itself refuses what a row cannot hold."""
    with pytest.raises(ValueError, match="cannot be stored"):
        dataclasses.replace(make_record(1), message_id="EE-\x00")
