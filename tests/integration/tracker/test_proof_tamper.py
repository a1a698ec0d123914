"""Issue #8 "Proofs": delete, alter, back-date or insert one usage row directly in the
provider's database → the person's verification fails and says which record
(docs/spec/tracker.md §3.3), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from sild.core.usage_proof import verify_usage_proof
from sild.gateway.messagelog.log import MessageLog
from sild.gateway.messagelog.usage import UsageRecord
from sild.store import make_engine, migrate
from sild.store.messagelog_tables import usage_log
from sild.tracker.proof import usage_proof
from sild.tracker.store import UsageStore

REG = "EE/GOV/70000001/rr"
ANN = "EE60001017869"
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _record(i: int, *, sealed: bool = False) -> UsageRecord:
    return UsageRecord(register=REG, subject=ANN, logged_at=T0 + timedelta(hours=i),
                       action=f"Lookup {i}", receiver="EE/COM/10000001/his",
                       receiver_name="Clinic", service=f"{REG}/echo", message_id=f"m{i}",
                       request_id=f"r{i}", categories=("health",),
                       flags=("sealed",) if sealed else ())


@pytest.fixture
def store(db_url: str) -> Iterator[UsageStore]:
    engine = make_engine(db_url)
    migrate(engine, "messagelog")

    async def write() -> None:
        mlog = MessageLog(engine)
        await mlog.start()
        for i in range(1, 11):
            await mlog.append(_record(i, sealed=i == 4))
        await mlog.close()
    asyncio.run(write())
    yield UsageStore(engine)
    engine.dispose()


def _verify(store: UsageStore, **period: datetime) -> str:
    result = verify_usage_proof(usage_proof(store, REG, ANN, **period))
    return "ok" if result.ok else result.summary()


def _sql(store: UsageStore, sql: str, **params: object) -> None:
    with store.engine.begin() as conn:
        conn.execute(sa.text(sql), params)


def test_an_untouched_log_verifies_for_any_period(store: UsageStore) -> None:
    assert _verify(store) == "ok"
    result = verify_usage_proof(usage_proof(store, REG, ANN, start=T0 + timedelta(hours=3),
                                            end=T0 + timedelta(hours=6)))
    assert result.ok
    assert (result.records, result.sealed) == (3, 1)  # 3, 5, 6 shown; 4 sealed


@pytest.mark.parametrize(("tamper", "found"), [
    ("DELETE FROM usage_log WHERE seq = 5", "record 5 missing"),
    ("UPDATE usage_log SET action = 'Nothing to see' WHERE seq = 6", "record 6 altered"),
    ("UPDATE usage_log SET receiver = 'EE/COM/1/x' WHERE seq = 2", "record 2 altered"),
    ("UPDATE usage_log SET logged_at = :old WHERE seq = 7", "record 7 altered"),  # back-dated
    ("UPDATE usage_log SET sealed = :t WHERE seq = 8", "record 8 altered"),  # hidden later
    ("DELETE FROM usage_log WHERE seq = 10", "record 10 missing"),  # the newest
])
def test_a_changed_row_is_found_and_named(store: UsageStore, tamper: str, found: str) -> None:
    _sql(store, tamper, old=T0 - timedelta(days=30), t=True)
    assert found in _verify(store)


def test_an_inserted_row_is_found(store: UsageStore) -> None:
    row = _record(11).to_row(11, bytes(32), bytes(32))
    with store.engine.begin() as conn:
        conn.execute(usage_log.insert().values(row))
    assert "record 11 inserted" in _verify(store)


def test_a_withheld_record_of_the_period_is_found(store: UsageStore) -> None:
    proof = usage_proof(store, REG, ANN)
    item = proof["records"][2]
    del item["content"]
    item["digest"] = "A" * 43 + "="
    assert "record 3" in verify_usage_proof(proof).summary()


def test_a_proof_that_skips_the_record_before_the_period_is_refused(
        store: UsageStore) -> None:
    proof = usage_proof(store, REG, ANN, start=T0 + timedelta(hours=5))
    assert proof["records"][0]["seq"] == 4  # the predecessor of the period
    proof["from"] = {"seq": 4, "chain": proof["records"][0]["chain"]}
    proof["records"] = proof["records"][1:]
    assert "record 4 missing" in verify_usage_proof(proof).summary()


def test_expiry_keeps_proofs_of_later_periods(store: UsageStore) -> None:
    assert store.expire(T0 + timedelta(hours=5, minutes=30)) == 5
    result = verify_usage_proof(usage_proof(store, REG, ANN, start=T0 + timedelta(hours=7)))
    assert result.ok, result.summary()
    assert result.records == 4
    # a period reaching into the expired part is complete only from the cut
    early = verify_usage_proof(usage_proof(store, REG, ANN))
    assert early.ok
    assert early.complete_from is not None


def test_garbage_proofs_are_reported_not_raised() -> None:
    for bad in ({}, {"type": "sild.tracker.proof/1"}, {"type": "x"}):
        result = verify_usage_proof(bad)
        assert not result.ok
        assert "malformed" in result.summary()


def test_unseal_releases_with_a_record_of_its_own(store: UsageStore) -> None:
    (sealed,) = store.sealed()
    assert sealed.seq == 4
    released = store.unseal(sealed.id, "Harju Maakohus 1-26-77", at=datetime.now(UTC))
    assert released.released
    assert not released.hidden
    total, page = store.find(REG, ANN)
    assert total == 11  # ten records, the sealed one now visible, and the release
    assert page[0].flags == ("release",)
    assert page[0].reason == "Harju Maakohus 1-26-77"
    assert _verify(store) == "ok"
    with pytest.raises(Exception, match="already released"):
        store.unseal(sealed.id, "again", at=datetime.now(UTC))
    with pytest.raises(Exception, match="not sealed"):
        store.unseal(page[1].id, "x", at=datetime.now(UTC))


