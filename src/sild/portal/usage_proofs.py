"""Proof badges: each register's usage chain for this person, checked server-side with
the tracker's own verifier (docs/spec/portal-usage.md §3; tracker.md §3.3–§3.4).

A :class:`Badge` says, for one register, whether the proof the register gave shows
*every* record of this person (completeness: the chain runs without a gap from its
start to its head) and whether that head is the one anchored in the ledger. Per entry,
*inclusion* is shown only under a badge that did not fail (usage_model.mark_included).

Verification is cached by the proof's SHA-256: a person reloading the page, paging or
filtering does not pay for it again until a register's chain grows (a new proof).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from threading import Lock
from typing import Any

from sild.core.usage_proof import verify_usage_proof
from sild.core.verification import TrustPolicy

__all__ = ["Badge", "ProofChecker"]

CACHE_SIZE = 4096  # badges kept: 6 registers × 680 people reloading; ~1 KB each


@dataclass(frozen=True, slots=True)
class Badge:
    """One register's proof verdict, as the page shows it."""

    status: str  # verified | unanchored | failed | unavailable
    summary: str  # the verifier's own words (ProofResult.summary)
    records: int = 0
    sealed: int = 0
    unanchored: int = 0
    round_id: int | None = None
    anchored_at: datetime | None = None
    anchor_code: str = ""

    @property
    def trusted(self) -> bool:
        """The chain checked out (anchored or not): entries may show as included."""
        return self.status in ("verified", "unanchored")


def _badge(proof: dict[str, Any], policy: TrustPolicy | None, at: datetime) -> Badge:
    anchored = policy is not None and bool(policy.log_keys or policy.publications)
    result = verify_usage_proof(proof, policy=policy if anchored else None,
                                at=at if anchored else None)
    anchor = result.anchor
    if not result.ok:
        status = "failed"
    elif anchor is not None and anchor.status == "OK":
        status = "verified"
    else:  # complete chain; the head's anchoring not shown (tracker.md §3.4.4 NA)
        status = "unanchored"
    summary = result.summary()
    if anchor is None and result.ok:
        summary += ("; the head was not checked against the ledger" if not anchored
                    else "")
    return Badge(status, summary, result.records, result.sealed, result.unanchored,
                 anchor.round_id if anchor else None, anchor.anchored_at if anchor else None,
                 anchor.code if anchor else "")


class ProofChecker:
    """Verifies proofs under one trust policy, remembering recent verdicts."""

    def __init__(self, policy: TrustPolicy | None = None, *, size: int = CACHE_SIZE) -> None:
        self.policy = policy
        self._size = size
        self._cache: OrderedDict[bytes, Badge] = OrderedDict()
        self._lock = Lock()

    def check(self, proof: dict[str, Any] | None, raw: bytes = b"", *,
              at: datetime | None = None) -> Badge:
        """The badge of ``proof`` (``raw``: its bytes as received, the cache key)."""
        if proof is None:
            return Badge("unavailable", "the register gave no proof")
        key = hashlib.sha256(raw).digest() if raw else b""
        if key:
            with self._lock:
                hit = self._cache.get(key)
                if hit is not None:
                    self._cache.move_to_end(key)
                    return hit
        badge = _badge(proof, self.policy, at or datetime.now(UTC))
        if key:
            with self._lock:
                self._cache[key] = badge
                while len(self._cache) > self._size:
                    self._cache.popitem(last=False)
        return badge
