"""``sild audit`` over a gateway's database: read rows, proofs and rounds, report findings.

docs/spec/anchoring.md §5. Reads round by round (one round's rows at a time), so
memory does not grow with the log; the checks themselves are the pure functions of
:mod:`sild.gateway.anchoring.audit`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.exc import SQLAlchemyError

from sild.core.verification import ReceiptVerifier, TrustPolicy
from sild.errors import StorageError
from sild.gateway.anchoring.anchorer import aware
from sild.gateway.anchoring.audit import (
    Finding,
    StoredRound,
    StoredRow,
    check_leaf_coverage,
    check_map_leaf,
    check_proof,
    check_receipt_of,
    check_row,
)
from sild.gateway.anchoring.audit_map import audit_head_map
from sild.store.anchoring_tables import anchor_records, anchor_rounds
from sild.store.messagelog_tables import log_archives, message_log

__all__ = ["AuditReport", "audit_database"]

_ROW_COLUMNS = ("id", "logged_at", "side", "kind", "message_id", "request_id", "client_id",
                "service_id", "envelope", "signature", "signer_cert_fingerprint",
                "body_digest", "status", "record_hash")


@dataclass
class AuditReport:
    """What ``sild audit`` found; clean when there are no findings."""

    findings: list[Finding] = field(default_factory=list)
    records: int = 0  # rows checked
    rounds: int = 0
    anchored_rounds: int = 0  # with a receipt that verified
    pending_rounds: int = 0  # no receipt yet: their rows are checked against the local root
    unanchored_records: int = 0  # newer than the last round: only their hashes are checked
    purged_records: int = 0  # proofs of rows that an archive purge removed
    keyed: bool = False  # receipts checked against a ledger key (else internally only)
    mapped_heads: int = 0  # usage-chain heads found in the newest head map (tracker.md §3.4)
    unmapped_heads: int = 0  # heads changed after the newest map: not anchored yet

    @property
    def clean(self) -> bool:
        return not self.findings


def _stored_row(r: Row[tuple[object, ...]] | Row[object]) -> StoredRow:
    m = r._mapping
    return StoredRow(**{c: m[c] for c in _ROW_COLUMNS})


def audit_database(engine: Engine, *, policy: TrustPolicy, at: datetime) -> AuditReport:
    """§5 steps 1–7 over the whole message log of one gateway database."""
    report = AuditReport(keyed=bool(policy.log_keys))
    verifier = ReceiptVerifier(policy)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("anchor_rounds"):
                report.findings.append(Finding("round", "no anchoring tables: this log was "
                                               "never anchored ([anchoring] ledger unset)"))
                return report
            archived_until = conn.execute(sa.select(sa.func.max(log_archives.c.to_ts))).scalar()
            archived_until = aware(archived_until) if archived_until is not None else None
            watermark = _audit_rounds(conn, report, verifier, at, archived_until)
            _audit_unproven(conn, report, watermark)
            mapped = audit_head_map(conn)
            report.findings.extend(mapped.findings)
            report.mapped_heads, report.unmapped_heads = mapped.mapped, mapped.unmapped
    except SQLAlchemyError as e:
        raise StorageError(f"cannot read the message log: {e}") from e
    return report


def _audit_rounds(conn: Connection, report: AuditReport, verifier: ReceiptVerifier,
                  at: datetime, archived_until: datetime | None) -> int:
    """§5 steps 1–5, one round at a time; returns the last anchored record id."""
    r = anchor_rounds.c
    ids = [int(x) for x in conn.execute(sa.select(r.id).order_by(r.id)).scalars()]
    expected, watermark = 1, 0
    for round_id in ids:
        # (1) rounds are numbered 1, 2, 3, … and cover increasing id ranges
        if round_id != expected:
            report.findings.append(Finding(
                "round", f"rounds {expected}..{round_id - 1} are missing", round_id=round_id))
        expected = round_id + 1
        row = conn.execute(sa.select(r.id, r.first_record_id, r.last_record_id, r.size, r.root,
                                     r.receipt, r.last_logged_at, r.map_root, r.map_entries,
                                     r.map_path).where(r.id == round_id)).one()
        rnd = StoredRound(int(row.id), int(row.first_record_id), int(row.last_record_id),
                          int(row.size), bytes(row.root),
                          None if row.receipt is None else bytes(row.receipt),
                          aware(row.last_logged_at),
                          None if row.map_root is None else bytes(row.map_root),
                          None if row.map_entries is None else int(row.map_entries),
                          None if row.map_path is None else bytes(row.map_path))
        bad_map = check_map_leaf(rnd)
        if bad_map is not None:
            report.findings.append(bad_map)
        if rnd.first_record_id <= watermark:
            report.findings.append(Finding("round", f"overlaps the previous round (starts at "
                                           f"row {rnd.first_record_id})", round_id=rnd.id))
        watermark = max(watermark, rnd.last_record_id)
        report.rounds += 1
        # (5) the round root against its ledger receipt
        bad = check_receipt_of(rnd, verifier, at=at)
        if bad is not None:
            report.findings.append(bad)
        elif rnd.receipt is None:
            report.pending_rounds += 1
        else:
            report.anchored_rounds += 1
        _audit_round_rows(conn, report, rnd, archived_until)
    return watermark


def _audit_round_rows(conn: Connection, report: AuditReport, rnd: StoredRound,
                      archived_until: datetime | None) -> None:
    """§5 steps 2–4 for the rows and proofs of one round."""
    ar, ml = anchor_records.c, message_log.c
    q = (sa.select(ar.record_id, ar.leaf_index, ar.path, ml.id.label("row_id"),
                   *[ml[c] for c in _ROW_COLUMNS if c != "id"])
         .select_from(anchor_records.outerjoin(message_log, ml.id == ar.record_id))
         .where(ar.round_id == rnd.id).order_by(ar.leaf_index))
    leaves: list[tuple[int, int]] = []
    purged = archived_until is not None and rnd.last_logged_at < archived_until
    for p in conn.execute(q):
        record_id = int(p.record_id)
        leaves.append((int(p.leaf_index), record_id))
        if p.row_id is None:
            # (3) a proof without its row: deleted, unless an archive purge took it
            if purged:
                report.purged_records += 1
            else:
                report.findings.append(Finding("deleted", "row is gone but its anchoring "
                                               "proof remains", record_id, rnd.id))
            continue
        report.records += 1
        m = dict(p._mapping)
        m["id"] = record_id
        row = StoredRow(**{c: m[c] for c in _ROW_COLUMNS})
        # (2) content → record hash; (3) record hash → local path → round root. A row
        # whose record_hash column was rewritten along with its content passes (2) and
        # is caught by (3).
        computed, bad = check_row(row)
        if bad is None and computed is not None:
            bad = check_proof(record_id=record_id, computed_hash=computed,
                              leaf_index=int(p.leaf_index), path=bytes(p.path), rnd=rnd)
        if bad is not None:
            report.findings.append(Finding(bad.kind, bad.message, record_id, rnd.id))
    # (4) every leaf of the round has its row and proof
    report.findings.extend(check_leaf_coverage(rnd, leaves))


def _audit_unproven(conn: Connection, report: AuditReport, watermark: int) -> None:
    """§5 steps 6–7: rows without a proof; inside the anchored range they were inserted."""
    ar, ml = anchor_records.c, message_log.c
    q = (sa.select(*[ml[c] for c in _ROW_COLUMNS])
         .select_from(message_log.outerjoin(anchor_records, ar.record_id == ml.id))
         .where(ar.record_id.is_(None)).order_by(ml.id))
    for r in conn.execute(q):
        row = _stored_row(r)
        report.records += 1
        if row.id <= watermark:
            # (6) inside the anchored range with no proof: inserted behind the gateway's back
            report.findings.append(Finding(
                "inserted", f"row has no anchoring proof (rows up to {watermark} are anchored)",
                row.id))
            continue
        # (7) newer than the last round: not anchored yet, its hash is all we can check
        report.unanchored_records += 1
        _, bad = check_row(row)
        if bad is not None:
            report.findings.append(bad)
