"""Test kit for the anchored head map (docs/spec/tracker.md §3.4): a usage proof with a
complete anchor section built in memory, with a real receipt signed by a throwaway
ledger key. For unit tests and bench/bench_usage_proof.py; no database, no network."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sild.core.calendar import CalendarRecord
from sild.core.checkpoint import Checkpoint, sign_checkpoint
from sild.core.headmap import (
    ANCHOR_TYPE,
    HeadMapTree,
    bucket_hash,
    bucket_of,
    entries_for_proof,
    head_value,
    map_key,
    map_leaf,
)
from sild.core.merkle import MerkleTree, leaf_hash
from sild.core.note import Ed25519Signer
from sild.core.receipt import ReceiptExtra, format_receipt
from sild.core.timefmt import format_micros
from sild.core.tlogproof import RoundPath
from sild.core.usage import CHAIN_START, UsageContent, chain_next
from sild.core.usage_proof import PROOF_TYPE
from sild.core.verification import TrustPolicy

__all__ = ["REGISTER", "SUBJECT", "T0", "anchored_proof", "random_buckets"]

REGISTER = "EE/GOV/70000001/rr"
_SIGNER = Ed25519Signer("ledger.test/headmap", Ed25519PrivateKey.generate())  # per process
SUBJECT = "EE60001017869"
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _content(seq: int, action: str = "Treatment") -> UsageContent:
    return UsageContent(
        register=REGISTER, subject=SUBJECT, seq=seq,
        logged_at=format_micros(T0 + timedelta(seconds=seq)), action=f"{action} {seq}",
        purpose_code="", legal_basis="TTKS §59¹", receiver="EE/COM/10000001/his",
        receiver_name="Clinic", user_id="EE38001085718", service=f"{REGISTER}/echo",
        message_id=f"EE-{seq}", consent_id="", categories=("health",), flags=())


def random_buckets(subjects: int, *, seed: bytes = b"") -> dict[int, list[tuple[bytes, bytes]]]:
    """``subjects`` other (K, V) entries, spread over the buckets as keys are."""
    out: dict[int, list[tuple[bytes, bytes]]] = {}
    for i in range(subjects):
        k = hashlib.sha256(seed + b"k%d" % i).digest()
        out.setdefault(bucket_of(k), []).append((k, hashlib.sha256(b"v" + k).digest()))
    return out


def anchored_proof(records: int, *, others: dict[int, list[tuple[bytes, bytes]]],
                   round_records: int = 100, unanchored: int = 0, round_id: int = 7,
                   action: str = "Treatment") -> tuple[dict[str, Any], TrustPolicy]:
    """A proof of ``records`` records of :data:`SUBJECT` (and ``unanchored`` newer ones)
    with its anchor section, and the trust policy of the throwaway ledger that signed it."""
    chain = CHAIN_START
    items: list[dict[str, Any]] = []
    head = (0, CHAIN_START)
    for seq in range(1, records + unanchored + 1):
        c = _content(seq, action)
        chain = chain_next(chain, c.record_hash())
        items.append({"seq": seq, "logged_at": c.logged_at, "chain": _b64(chain),
                      "content": c.content()})
        if seq == records:
            head = (seq, chain)
    key = map_key(REGISTER, SUBJECT)
    bucket = bucket_of(key)
    pairs = [p for p in others.get(bucket, []) if p[0] != key]
    if head[0]:
        pairs.append((key, head_value(*head)))
    pairs.sort()
    hashes = {b: bucket_hash(sorted(v)) for b, v in others.items()}
    hashes[bucket] = bucket_hash(pairs)
    tree = HeadMapTree(hashes)
    count = sum(len(v) for v in others.values()) + (1 if head[0] else 0)
    leaves = [leaf_hash(b"\x01" + os.urandom(32)) for _ in range(round_records)]
    leaves.append(map_leaf(tree.root(), count))
    rtree = MerkleTree(leaves)
    receipt, policy = _receipt(b"\x01" + rtree.root())
    section = {
        "type": ANCHOR_TYPE, "bucket": bucket, "entries": entries_for_proof(pairs),
        "path": [_b64(h) for h in tree.path(bucket)], "mapRoot": _b64(tree.root()),
        "mapEntries": count,
        "round": {"id": round_id, "size": len(leaves), "leafIndex": len(leaves) - 1,
                  "path": [_b64(h) for h in rtree.inclusion_proof(len(leaves) - 1)]},
        "receipt": receipt.decode("utf-8"),
    }
    proof = {
        "type": PROOF_TYPE, "register": REGISTER, "subject": SUBJECT,
        "periodStart": None, "periodEnd": None,
        "from": {"seq": 0, "chain": _b64(CHAIN_START)},
        "records": items[:records], "unanchored": items[records:],
        "head": {"seq": head[0], "chain": _b64(head[1])},
        "current": {"seq": records + unanchored, "chain": _b64(chain)},
        "expired": False, "anchor": section,
    }
    return proof, policy


def _receipt(imprint: bytes, neighbours: Sequence[bytes] = ()) -> tuple[bytes, TrustPolicy]:
    """A real ledger receipt for ``imprint`` in a round of a 9-round calendar."""
    signer = _SIGNER
    imps = [imprint, *neighbours, b"\x01" + hashlib.sha256(b"other").digest()]
    rtree = MerkleTree([leaf_hash(i) for i in imps])
    at_ms = int(T0.timestamp() * 1000) + 60_000
    cal_records = [CalendarRecord.empty(at_ms - 1000 * (9 - r)) for r in range(9)]
    cal_records[5] = CalendarRecord(at_ms, len(imps), rtree.root())
    cal = MerkleTree([r.leaf() for r in cal_records])
    cp = sign_checkpoint(Checkpoint(signer.name, 9, cal.root()), signer=signer)
    extra = ReceiptExtra(imprint, at_ms, RoundPath(5, len(imps), 0,
                                                  tuple(rtree.inclusion_proof(0))))
    raw = format_receipt(extra=extra, calendar_proof=cal.inclusion_proof(5), checkpoint=cp)
    return raw, TrustPolicy(log_keys=(signer.verifier(),))
