"""Group commit of the message log on real SQLite and PostgreSQL (ARCHITECTURE.md §4)."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sild.core.identifiers import ServiceId, SubsystemId
from sild.gateway.messagelog.log import LoggingFailed, MessageLog
from sild.gateway.messagelog.opmon import OpMonRecord
from sild.store import make_engine, migrate
from sild.store.messagelog_tables import message_log, opmon_records
from sild.testing.messagelog import count_rows, make_record, write_lock


def _engine(url: str) -> sa.Engine:
    engine = make_engine(url)
    migrate(engine, "messagelog")
    return engine


def test_append_returns_after_the_row_is_visible(db_url: str) -> None:
    """When append returns, a brand-new connection already sees the row."""
    engine = _engine(db_url)
    seen: list[int] = []

    async def main() -> None:
        mlog = MessageLog(engine)
        await mlog.start()
        await mlog.append(make_record(1))
        seen.append(count_rows(db_url))
        await mlog.close()

    asyncio.run(main())
    engine.dispose()
    assert seen == [1]


def test_group_commit_uses_far_fewer_transactions_than_records(db_url: str) -> None:
    """200 concurrent appends are committed in a handful of transactions."""
    engine = _engine(db_url)
    commits: list[int] = []
    sa.event.listen(engine, "commit", lambda _conn: commits.append(1))

    async def main() -> None:
        mlog = MessageLog(engine, max_delay=0.005)
        await mlog.start()
        await asyncio.gather(*(mlog.append(make_record(i)) for i in range(200)))
        await mlog.close()
        assert mlog.stats().records == 200

    asyncio.run(main())
    engine.dispose()
    assert count_rows(db_url) == 200
    assert 1 <= len(commits) <= 10


def test_digest_mode_stores_no_body(db_url: str) -> None:
    """With body logging "digest" the body is NULL, its SHA-512 and the hash are kept."""
    engine = _engine(db_url)
    rec = make_record(7, body=b"secret personal data")

    async def main() -> None:
        mlog = MessageLog(engine, body_mode="digest")
        await mlog.start()
        await mlog.append(rec)
        await mlog.close()

    asyncio.run(main())
    with engine.connect() as conn:
        row = conn.execute(sa.select(message_log)).one()
    engine.dispose()
    assert row.body is None
    assert row.body_digest == hashlib.sha512(b"secret personal data").digest()
    assert row.record_hash == rec.record_hash()


def test_full_mode_stores_the_body(db_url: str) -> None:
    """With body logging "full" the body is stored as given."""
    engine = _engine(db_url)

    async def main() -> None:
        mlog = MessageLog(engine, body_mode="full")
        await mlog.start()
        await mlog.append(make_record(8, body=b"whole body"))
        await mlog.close()

    asyncio.run(main())
    with engine.connect() as conn:
        body = conn.execute(sa.select(message_log.c.body)).scalar_one()
    engine.dispose()
    assert body == b"whole body"


def test_append_waits_when_the_queue_is_full(db_url: str) -> None:
    """With the database blocked, appends beyond the queue bound wait; none returns early."""
    engine = _engine(db_url)
    observed: dict[str, Any] = {}

    async def main() -> None:
        mlog = MessageLog(engine, max_batch=1, max_delay=0, max_queue=3)
        await mlog.start()
        with write_lock(db_url):
            tasks = [asyncio.create_task(mlog.append(make_record(i))) for i in range(20)]
            await asyncio.sleep(0.3)  # the event loop runs while the writer is blocked
            observed["queued"] = mlog.stats().queued
            observed["done"] = sum(t.done() for t in tasks)
        await asyncio.gather(*tasks)
        await mlog.close()

    asyncio.run(main())
    engine.dispose()
    assert observed == {"queued": 3, "done": 0}
    assert count_rows(db_url) == 20


def test_close_commits_what_was_appended(db_url: str) -> None:
    """close() flushes pending appends, including those waiting for room in the queue."""
    engine = _engine(db_url)

    async def main() -> None:
        mlog = MessageLog(engine, max_batch=2, max_queue=2)
        await mlog.start()
        tasks = [asyncio.create_task(mlog.append(make_record(i))) for i in range(25)]
        await asyncio.sleep(0)
        await mlog.close()
        await asyncio.gather(*tasks)

    asyncio.run(main())
    engine.dispose()
    assert count_rows(db_url) == 25


def test_append_after_close_fails(tmp_path: Path) -> None:
    """A closed (or never started) log refuses records with LoggingFailed."""
    engine = _engine(f"sqlite:///{tmp_path}/x.db")

    async def main() -> None:
        mlog = MessageLog(engine)
        with pytest.raises(LoggingFailed):
            await mlog.append(make_record(1))
        await mlog.start()
        await mlog.close()
        with pytest.raises(LoggingFailed):
            await mlog.append(make_record(2))

    asyncio.run(main())
    engine.dispose()


def test_opmon_record_is_stored_with_xroad_fields(db_url: str) -> None:
    """An operational-monitoring record lands with client and service split X-Road style."""
    engine = _engine(db_url)
    rec = OpMonRecord(
        security_server_type="Client", request_in_ts=1_795_000_000_123,
        request_out_ts=1_795_000_000_125, response_in_ts=1_795_000_000_140,
        response_out_ts=1_795_000_000_141, succeeded=True,
        client=SubsystemId.parse("EE/GOV/70000001/client"),
        service=ServiceId.parse("EE/GOV/70000002/provider/getPerson"),
        rest_method="GET", rest_path="/people/1", message_id="EE-1", x_request_id="r-1",
        request_size=0, response_size=42, status_code=200)

    async def main() -> None:
        mlog = MessageLog(engine)
        await mlog.start()
        await mlog.append(make_record(1), rec)  # one call, one transaction
        await mlog.close()

    asyncio.run(main())
    with engine.connect() as conn:
        row = conn.execute(sa.select(opmon_records)).one()
    engine.dispose()
    assert (row.client_member_code, row.client_subsystem_code) == ("70000001", "client")
    assert (row.service_member_code, row.service_code) == ("70000002", "getPerson")
    assert row.monitoring_data_ts == 1_795_000_000
    assert row.succeeded is True
    assert row.response_size == 42
