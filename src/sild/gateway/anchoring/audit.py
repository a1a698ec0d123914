"""Pure checks behind ``sild audit``: rows, local proofs, round receipts (no I/O).

docs/spec/anchoring.md §5. Each function takes values read from a gateway's database
and returns :class:`Finding` objects (or none); nothing here raises on bad input, so
a tampered or malformed row becomes a finding, never a traceback (STYLE.md rule 4).
:mod:`sild.gateway.anchoring.audit_store` reads the database and calls these in order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sild.core.headmap import map_leaf
from sild.core.ledger_errors import ProofError
from sild.core.merkle import HASH_SIZE, inclusion_proof_length, root_from_inclusion_proof
from sild.core.verification import ReceiptVerifier, Status
from sild.errors import SildError
from sild.gateway.anchoring.anchorer import aware, record_leaf, root_imprint
from sild.gateway.messagelog.log import record_content, record_hash

__all__ = [
    "Finding",
    "FindingKind",
    "StoredRound",
    "StoredRow",
    "check_leaf_coverage",
    "check_map_leaf",
    "check_proof",
    "check_receipt_of",
    "check_row",
    "recompute_hash",
]

FindingKind = Literal["edited", "deleted", "inserted", "round", "receipt"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing wrong, named by row and/or round (one line of the audit report)."""

    kind: FindingKind
    message: str
    record_id: int | None = None
    round_id: int | None = None

    def line(self) -> str:
        """``row 17: edited: …`` / ``round 3: receipt: …``."""
        where = []
        if self.record_id is not None:
            where.append(f"row {self.record_id}")
        if self.round_id is not None:
            where.append(f"round {self.round_id}")
        return f"{', '.join(where) or 'log'}: {self.kind}: {self.message}"


@dataclass(frozen=True, slots=True)
class StoredRow:
    """A ``message_log`` row as read back (any value may have been tampered with)."""

    id: int
    logged_at: datetime
    side: str
    kind: str
    message_id: str
    request_id: str
    client_id: str
    service_id: str
    envelope: bytes
    signature: bytes
    signer_cert_fingerprint: str
    body_digest: bytes
    status: int | None
    record_hash: bytes


@dataclass(frozen=True, slots=True)
class StoredRound:
    """An ``anchor_rounds`` row as read back."""

    id: int
    first_record_id: int
    last_record_id: int
    size: int
    root: bytes
    receipt: bytes | None
    last_logged_at: datetime
    map_root: bytes | None = None  # the head map's root, the tree's last leaf (tracker.md §3.4)
    map_entries: int | None = None
    map_path: bytes | None = None

    @property
    def records(self) -> int:
        """Leaves that are message-log records (all but the map leaf)."""
        return self.size - (1 if self.map_root is not None else 0)


def recompute_hash(row: StoredRow) -> bytes | None:
    """§5 step 2: the record hash from the row's content; None if it cannot be encoded."""
    try:
        return record_hash(record_content(
            logged_at=aware(row.logged_at), side=row.side, kind=row.kind,
            message_id=row.message_id, request_id=row.request_id, client_id=row.client_id,
            service_id=row.service_id, envelope=bytes(row.envelope),
            signature=bytes(row.signature), signer_cert_fingerprint=row.signer_cert_fingerprint,
            body_digest=bytes(row.body_digest), status=row.status))
    except (TypeError, ValueError, AttributeError):
        return None


def check_row(row: StoredRow) -> tuple[bytes | None, Finding | None]:
    """§5 step 2: the recomputed hash, and a finding if it differs from the stored one."""
    computed = recompute_hash(row)
    if computed is None:
        return None, Finding("edited", "content cannot be encoded (malformed values)", row.id)
    if computed != bytes(row.record_hash):
        return computed, Finding("edited", "content does not match its stored record_hash",
                                 row.id)
    return computed, None


def check_proof(*, record_id: int, computed_hash: bytes, leaf_index: int, path: bytes,
                rnd: StoredRound) -> Finding | None:
    """§5 step 3: the local path leads from the recomputed leaf to the round's root."""
    if not rnd.first_record_id <= record_id <= rnd.last_record_id:
        return Finding("edited", f"proof names round {rnd.id}, whose ids are "
                       f"{rnd.first_record_id}..{rnd.last_record_id}", record_id, rnd.id)
    if len(path) % HASH_SIZE:
        return Finding("edited", "stored proof path is not a list of 32-byte hashes",
                       record_id, rnd.id)
    hashes = [path[i:i + HASH_SIZE] for i in range(0, len(path), HASH_SIZE)]
    try:
        if len(hashes) != inclusion_proof_length(leaf_index, rnd.size):
            raise ProofError("proof path has the wrong length for its position")
        root = root_from_inclusion_proof(leaf=record_leaf(computed_hash), index=leaf_index,
                                         size=rnd.size, proof=hashes)
    except (ProofError, ValueError) as e:
        return Finding("edited", f"stored proof is malformed: {e}", record_id, rnd.id)
    if root != rnd.root:
        return Finding("edited", "content does not lead to the anchored round root",
                       record_id, rnd.id)
    return None


def check_leaf_coverage(rnd: StoredRound, leaves: Iterable[tuple[int, int]]) -> list[Finding]:
    """§5 step 4: every leaf ``0 .. size-1`` has exactly one proof, in id order.

    ``leaves`` are ``(leaf_index, record_id)`` of the round's proof rows. A missing
    index is a record deleted together with its proof.
    """
    out: list[Finding] = []
    by_index: dict[int, int] = {}
    for index, record_id in leaves:
        if not 0 <= index < rnd.records:
            out.append(Finding("inserted", f"proof names leaf {index} of a round of "
                               f"{rnd.size}", record_id, rnd.id))
        else:
            by_index[index] = record_id
    ids = [by_index[i] for i in sorted(by_index)]
    if ids != sorted(ids):
        out.append(Finding("round", "proofs are not in record-id order (rows renumbered)",
                           round_id=rnd.id))
    for index in range(rnd.records):
        if index not in by_index:
            before = max((r for i, r in by_index.items() if i < index), default=None)
            after = min((r for i, r in by_index.items() if i > index), default=None)
            around = f" (between rows {before} and {after})" if before and after else ""
            out.append(Finding("deleted", f"leaf {index} has neither a row nor a proof"
                               f"{around}", round_id=rnd.id))
    return out


def check_map_leaf(rnd: StoredRound) -> Finding | None:
    """tracker.md §3.4: the round's map root is its tree's last leaf (stored path)."""
    if rnd.map_root is None:
        return None
    path = rnd.map_path or b""
    try:
        if len(path) % HASH_SIZE or rnd.map_entries is None:
            raise ProofError("stored map path or entry count is malformed")
        hashes = [path[i:i + HASH_SIZE] for i in range(0, len(path), HASH_SIZE)]
        root = root_from_inclusion_proof(leaf=map_leaf(bytes(rnd.map_root), rnd.map_entries),
                                         index=rnd.size - 1, size=rnd.size, proof=hashes)
    except (ProofError, ValueError) as e:
        return Finding("round", f"head map leaf: {e}", round_id=rnd.id)
    if root != rnd.root:
        return Finding("round", "head map root does not lead to the round root",
                       round_id=rnd.id)
    return None


def check_receipt_of(rnd: StoredRound, verifier: ReceiptVerifier,
                     *, at: datetime) -> Finding | None:
    """§5 step 5: the round root's receipt verifies offline (sild.core.verification).

    With a ledger key the verdict must be OK; without one, an internally consistent
    receipt (verdict NA, ``GEN-01``) passes and the report says so.
    """
    if rnd.receipt is None:
        return None  # pending: counted by the caller, checked locally only
    try:
        imprint = root_imprint(bytes(rnd.root))
    except ValueError as e:
        return Finding("round", f"stored root is malformed: {e}", round_id=rnd.id)
    try:
        v = verifier.verify(bytes(rnd.receipt), imprint=imprint, at=at)
    except (SildError, ValueError) as e:  # defensive: verify() reports bad input itself
        return Finding("receipt", f"malformed receipt: {e}", round_id=rnd.id)
    if v.status is Status.FAIL:
        return Finding("receipt", f"does not verify ({v.code}: {v.message})", round_id=rnd.id)
    if v.status is Status.NA and v.code != "GEN-01":
        return Finding("receipt", f"inconclusive ({v.code}: {v.message})", round_id=rnd.id)
    return None
