"""The restore drill: prove a restored gateway complete against the ledger.

Two checks over the restored database, both needed (ARCHITECTURE.md §8, "log row
edited or deleted"; docs/spec/anchoring.md §5):

1. ``sild audit`` (sild.gateway.anchoring.audit_store): every row against its record
   hash, its local proof, and its round's ledger receipt verified with the ledger's key;
   rounds numbered 1, 2, 3, … without a gap, every leaf of a round with its row.
2. the tail: the restored log reaches the last anchored round named in the signed
   snapshot, with the same root. The audit alone cannot see a log cut after a round
   boundary (rows *and* rounds removed); the snapshot, signed by the site that made
   it, says where the log ended.

So every record anchored before the snapshot is present and unaltered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from sild.core.verification import TrustPolicy
from sild.gateway.anchoring.audit import Finding
from sild.gateway.anchoring.audit_store import AuditReport, audit_database
from sild.store import make_engine
from sild.store.anchoring_tables import anchor_rounds

__all__ = ["DrillReport", "drill"]


@dataclass
class DrillReport:
    audit: AuditReport
    tail: list[Finding] = field(default_factory=list)
    expected: dict[str, Any] | None = None

    @property
    def clean(self) -> bool:
        return self.audit.clean and not self.tail


def drill(database_url: str, anchoring: dict[str, Any] | None, *, policy: TrustPolicy,
          at: datetime) -> DrillReport:
    """Audit the restored database and check its tail against the snapshot's record."""
    engine = make_engine(database_url)
    try:
        report = DrillReport(audit_database(engine, policy=policy, at=at), expected=anchoring)
        if anchoring is None or anchoring.get("last_anchored_round") is None:
            return report
        last = int(anchoring["last_anchored_round"])
        with engine.connect() as conn:
            row = conn.execute(sa.select(anchor_rounds.c.root, anchor_rounds.c.receipt)
                               .where(anchor_rounds.c.id == last)).first()
    finally:
        engine.dispose()
    if row is None:
        report.tail.append(Finding("round", f"round {last}, anchored before the snapshot, "
                                   "is not in the restored log", round_id=last))
    elif bytes(row.root).hex() != anchoring["last_anchored_root"] or row.receipt is None:
        report.tail.append(Finding("round", "root or receipt differs from the snapshot's "
                                   "record", round_id=last))
    return report
