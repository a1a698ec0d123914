"""Tampering with the records an insider can reach: a message-log row (found by
``sild audit``, docs/spec/anchoring.md §5) and a usage-log row (found by ``sild tracker
verify`` of the person's usage proof, docs/spec/tracker.md §3.3–§3.4).

Each edits one row of the live database, runs the check, and restores the row
whatever happens (the drill leaves the network as it found it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from sild.exercise.model import Attack, Outcome, Result
from sild.exercise.target import Target
from sild.store import make_engine
from sild.store.messagelog_tables import message_log, usage_log

__all__ = ["ATTACKS"]

EVIL = "DEMO/COM/66666666/evil"


@contextmanager
def _edited(engine: sa.Engine, table: sa.Table, column: str, row_id: int, *,
            rehash: bool = False) -> Iterator[None]:
    """``column`` of row ``row_id`` set to :data:`EVIL` (and, with ``rehash``, the
    message-log row's ``record_hash`` recomputed to match), restored on leaving."""
    from sild.gateway.anchoring.audit import StoredRow, recompute_hash

    with engine.begin() as conn:
        row = conn.execute(sa.select(table).where(table.c.id == row_id)).one()._mapping
        before = {column: row[column]}
        values: dict[str, Any] = {column: EVIL}
        if rehash:
            fields = {f: row[f] for f in StoredRow.__dataclass_fields__}
            fields[column] = EVIL
            before["record_hash"] = row["record_hash"]
            values["record_hash"] = recompute_hash(StoredRow(**fields))
        conn.execute(sa.update(table).where(table.c.id == row_id).values(values))
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.execute(sa.update(table).where(table.c.id == row_id).values(before))


def _policy(t: Target) -> Any:
    from sild.core.note import Ed25519Verifier, parse_verifier_key
    from sild.core.verification import TrustPolicy

    if t.ledger_key is None:
        return TrustPolicy()
    key = parse_verifier_key(t.ledger_key.read_text().strip())
    assert isinstance(key, Ed25519Verifier)
    return TrustPolicy(log_keys=(key,))


def _message_log(t: Target, *, rehash: bool) -> Result:
    from sild.gateway.anchoring.audit_store import audit_database

    a = MESSAGE_LOG_REHASHED if rehash else MESSAGE_LOG
    engine = make_engine(t.provider.database_url)
    try:
        before = audit_database(engine, policy=_policy(t), at=datetime.now(UTC))
        if not before.clean:
            return a.result(Outcome.SKIPPED, "—", "the audit has findings before the edit: "
                            + before.findings[0].line())
        with engine.connect() as conn:
            row_id = conn.execute(sa.select(sa.func.min(message_log.c.id))).scalar()
        if row_id is None or not before.anchored_rounds:
            return a.result(Outcome.SKIPPED, "—", "no anchored message-log row yet")
        with _edited(engine, message_log, "client_id", int(row_id), rehash=rehash):
            report = audit_database(engine, policy=_policy(t), at=datetime.now(UTC))
        mine = [f for f in report.findings if f.record_id == row_id] or report.findings
        if not mine:
            return a.result(Outcome.UNDETECTED, "nothing",
                            f"row {row_id}'s client_id edited; the audit is clean")
        return a.result(Outcome.DETECTED, "sild audit (record hash, anchoring proof, ledger "
                        "receipt)", mine[0].line())
    finally:
        engine.dispose()


def _usage_log(t: Target) -> Result:
    from sild.core.usage_proof import verify_usage_proof
    from sild.tracker.proof import usage_proof
    from sild.tracker.store import UsageStore

    a = USAGE_LOG
    if t.health is None:
        return a.result(Outcome.SKIPPED, "—", "no register with usage records in this network")
    engine = make_engine(t.health.database_url)
    try:
        u = usage_log.c
        with engine.connect() as conn:
            row = conn.execute(sa.select(u.id, u.register, u.subject).order_by(u.id)
                               .limit(1)).first()
        if row is None:
            return a.result(Outcome.SKIPPED, "—", "no usage record yet")
        store, policy = UsageStore(engine), _policy(t)
        with _edited(engine, usage_log, "receiver", int(row.id)):
            proof = usage_proof(store, row.register, row.subject, anchor=True)
            result = verify_usage_proof(proof, policy=policy, at=datetime.now(UTC))
        if result.verdict != "FAIL":
            return a.result(Outcome.UNDETECTED, "nothing", f"usage record {row.id} of "
                            f"{row.subject} edited; the proof verifies {result.verdict}")
        return a.result(Outcome.DETECTED, "sild tracker verify (the person's usage chain)",
                        f"{row.subject} in {row.register}: FAIL: {result.summary()}")
    finally:
        engine.dispose()


async def message_log_tampering(t: Target) -> Result:
    return await asyncio.to_thread(_message_log, t, rehash=False)


async def message_log_rehashed(t: Target) -> Result:
    """The edit of :func:`message_log_tampering` with the row's ``record_hash`` rewritten
    to match: only the anchoring proof (row → round root → ledger) can tell."""
    return await asyncio.to_thread(_message_log, t, rehash=True)


async def usage_log_tampering(t: Target) -> Result:
    return await asyncio.to_thread(_usage_log, t)


MESSAGE_LOG = Attack("logs.message-log-tampering", "integrity",
                     "an anchored message-log row edited in the gateway's database",
                     message_log_tampering)
MESSAGE_LOG_REHASHED = Attack("logs.message-log-rehashed", "integrity",
                              "a message-log row edited and its record hash recomputed",
                              message_log_rehashed)
USAGE_LOG = Attack("logs.usage-log-tampering", "integrity",
                   "a usage record edited in the register gateway's database",
                   usage_log_tampering)
ATTACKS = (MESSAGE_LOG, MESSAGE_LOG_REHASHED, USAGE_LOG)
