"""Anchoring a real message log in a real ledger on loopback, on SQLite and PostgreSQL;
`sild audit` finds every edited, deleted or inserted row (docs/spec/anchoring.md)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from sild.cli import main
from sild.core.note import parse_verifier_key
from sild.core.verification import TrustPolicy
from sild.gateway.anchoring.anchorer import Anchorer, AnchoringLimits, LedgerPort
from sild.gateway.anchoring.audit_store import AuditReport, audit_database
from sild.gateway.config import AnchoringSettings
from sild.gateway.messagelog.log import MessageLog
from sild.store import make_engine, migrate
from sild.store.anchoring_tables import anchor_records, anchor_rounds
from sild.testing.anchoring import LedgerServer, gateway_folder, record

LIMITS = AnchoringLimits(gap_wait=0.0, receipt_wait=5.0)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerServer]:
    with LedgerServer(tmp_path_factory.mktemp("ledger") / "ledger") as server:
        yield server


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    e = make_engine(db_url)
    migrate(e, "messagelog")
    migrate(e, "anchoring")
    yield e
    e.dispose()


async def _append(engine: sa.Engine, first: int, count: int, per_batch: int = 7) -> None:
    log = MessageLog(engine)
    await log.start()
    try:
        for i in range(first, first + count, per_batch):
            await log.append(*[record(j) for j in range(i, min(first + count, i + per_batch))])
    finally:
        await log.close()


async def _anchor(engine: sa.Engine, url: str, *, ledger: LedgerPort | None = None) -> int:
    """Close rounds until nothing is new, then anchor every pending round; rounds made."""
    a = Anchorer(engine, AnchoringSettings(ledger_url=url), limits=LIMITS, ledger=ledger)
    await a.start()
    try:
        a._stop.set()  # drive it by hand below, no background timing
        made = 0
        while await a.close_once() is not None:
            made += 1
        while await a.submit_once():
            pass
        return made
    finally:
        await a.stop()


def _policy(ledger: LedgerServer) -> TrustPolicy:
    return TrustPolicy(log_keys=(parse_verifier_key(ledger.vkey),))  # type: ignore[arg-type]


def _audit(engine: sa.Engine, ledger: LedgerServer) -> AuditReport:
    return audit_database(engine, policy=_policy(ledger), at=datetime.now(UTC))


def _anchored_log(engine: sa.Engine, ledger: LedgerServer, rounds: int = 3) -> None:
    for n in range(rounds):
        asyncio.run(_append(engine, 1 + 20 * n, 20))
        asyncio.run(_anchor(engine, ledger.url))


def test_records_are_anchored_and_audit_passes(engine: sa.Engine, ledger: LedgerServer) -> None:
    """Every row gets a proof and its round a receipt; the audit is clean with the key."""
    _anchored_log(engine, ledger)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(anchor_records)).scalar() == 60
        rounds = conn.execute(sa.select(anchor_rounds)).all()
    assert [r.size for r in rounds] == [20, 20, 20]
    assert all(r.receipt is not None and r.anchored_at is not None for r in rounds)
    report = _audit(engine, ledger)
    assert report.findings == []
    assert (report.records, report.rounds, report.anchored_rounds) == (60, 3, 3)
    assert report.keyed


def test_one_root_per_round_reaches_the_ledger(engine: sa.Engine, ledger: LedgerServer) -> None:
    """The ledger receives one imprint per local round, never the record hashes."""
    asyncio.run(_append(engine, 1, 50))
    seen: list[bytes] = []

    class Spy(LedgerPort):
        def __init__(self, inner: LedgerPort) -> None:
            self.inner = inner

        async def add_roots(self, imprints: object) -> list[str]:
            seen.extend(imprints)  # type: ignore[call-overload]
            return await self.inner.add_roots(imprints)  # type: ignore[arg-type]

        async def receipt(self, receipt_id: str, *, wait_s: float) -> bytes | None:
            return await self.inner.receipt(receipt_id, wait_s=wait_s)

        async def close(self) -> None:
            await self.inner.close()

    from sild.gateway.anchoring.anchorer import _HttpLedger

    asyncio.run(_anchor(engine, ledger.url, ledger=Spy(_HttpLedger(ledger.url, 30))))
    with engine.connect() as conn:
        roots = [bytes(r) for r in conn.execute(sa.select(anchor_rounds.c.root)).scalars()]
    assert seen == [b"\x01" + r for r in roots]
    assert len(seen) == 1


def _tamper(engine: sa.Engine, sql: str, **params: object) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(sql), params)


def _lines(report: AuditReport) -> list[str]:
    return [f.line() for f in report.findings]


@pytest.mark.parametrize(("sql", "row", "kind"), [
    ("UPDATE message_log SET body_digest = :v WHERE id = 7", 7, "edited"),
    ("UPDATE message_log SET status = 404 WHERE id = 8", 8, "edited"),
    ("UPDATE message_log SET envelope = :v WHERE id = 9", 9, "edited"),
    ("UPDATE message_log SET client_id = 'EE/COM/666/evil' WHERE id = 10", 10, "edited"),
    ("UPDATE message_log SET record_hash = :h WHERE id = 11", 11, "edited"),
    ("DELETE FROM message_log WHERE id = 12", 12, "deleted"),
])
def test_each_tampered_row_is_named(engine: sa.Engine, ledger: LedgerServer, sql: str,
                                    row: int, kind: str) -> None:
    """A row edited or deleted directly in the database is named by id and kind."""
    _anchored_log(engine, ledger, rounds=1)
    _tamper(engine, sql, v=b"forged", h=hashlib.sha256(b"x").digest())
    report = _audit(engine, ledger)
    assert [(f.record_id, f.kind) for f in report.findings] == [(row, kind)], _lines(report)


def test_edit_with_recomputed_record_hash_is_found(engine: sa.Engine,
                                                    ledger: LedgerServer) -> None:
    """An attacker who also rewrites record_hash is caught by the anchored proof."""
    _anchored_log(engine, ledger, rounds=1)
    forged = record(5)
    forged = type(forged)(**{**{f: getattr(forged, f) for f in forged.__slots__},
                             "body": b"forged body", "body_digest": None})
    row = forged.to_row(keep_body=True)
    _tamper(engine, "UPDATE message_log SET body = :b, body_digest = :d, record_hash = :h "
            "WHERE id = 5", b=row["body"], d=row["body_digest"], h=row["record_hash"])
    report = _audit(engine, ledger)
    assert _lines(report) == ["row 5, round 1: edited: content does not lead to the anchored "
                              "round root"]


def test_row_deleted_with_its_proof_is_found(engine: sa.Engine, ledger: LedgerServer) -> None:
    """Deleting a row and its proof leaves a hole in the round's leaves, named."""
    _anchored_log(engine, ledger, rounds=1)
    _tamper(engine, "DELETE FROM anchor_records WHERE record_id = 4")
    _tamper(engine, "DELETE FROM message_log WHERE id = 4")
    report = _audit(engine, ledger)
    assert _lines(report) == ["round 1: deleted: leaf 3 has neither a row nor a proof "
                              "(between rows 3 and 5)"]


def test_forged_row_inserted_into_an_anchored_range_is_found(
        engine: sa.Engine, ledger: LedgerServer) -> None:
    """A row inserted into an id gap that anchoring passed over is named as inserted."""
    asyncio.run(_append(engine, 1, 20))
    _tamper(engine, "DELETE FROM message_log WHERE id = 10")  # a gap, like a rolled-back batch
    asyncio.run(_anchor(engine, ledger.url))
    assert _audit(engine, ledger).findings == []
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO message_log (id, logged_at, side, kind, message_id, "
                             "request_id, client_id, service_id, envelope, signature, "
                             "signer_cert_fingerprint, body, body_digest, status, record_hash) "
                             "SELECT 10, logged_at, side, kind, 'forged', 'forged', client_id, "
                             "service_id, envelope, signature, signer_cert_fingerprint, body, "
                             "body_digest, status, record_hash FROM message_log WHERE id = 9"))
    report = _audit(engine, ledger)
    assert [(f.record_id, f.kind) for f in report.findings] == [(10, "inserted")], _lines(report)


def test_all_tampering_at_once_each_named_by_the_cli(
        tmp_path: Path, db_url: str, engine: sa.Engine, ledger: LedgerServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    """`sild audit` prints one line per finding and exits 3; 0 before the tampering."""
    _anchored_log(engine, ledger, rounds=2)
    gw = tmp_path / "gw"
    gateway_folder(gw, db_url, ledger.url)
    key = tmp_path / "ledger.vkey"
    key.write_text(ledger.vkey)
    assert main(["audit", "--dir", str(gw), "--ledger-key", str(key)]) == 0
    assert "audit: clean: 40 records in 2 rounds" in capsys.readouterr().out
    _tamper(engine, "UPDATE message_log SET status = 500 WHERE id = 3")
    _tamper(engine, "DELETE FROM message_log WHERE id = 25")
    assert main(["audit", "--dir", str(gw), "--ledger-key", str(key)]) == 5
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == [
        "row 3, round 1: edited: content does not match its stored record_hash",
        "row 25, round 2: deleted: row is gone but its anchoring proof remains"]
    assert out[2].startswith("audit: 2 findings:")
