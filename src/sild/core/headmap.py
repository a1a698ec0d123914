"""The anchored head map: every usage chain's head, in a verifiable map (docs/spec/tracker.md §3.4).

Pure (STYLE.md rule 1): bytes and integers in, bytes out; no database, no clock.

A gateway keeps one map of the heads of all its (register, subject) chains (§3.2):

* **key** ``K = SHA-256(register || 0x00 || subject)``; its **bucket** is ``K``'s first
  two bytes (big-endian), one of 65,536;
* **value** ``V = SHA-256(0x04 || u64 seq || chain)``: the head's commitment, so the
  other entries a proof shows reveal neither their count nor their chain;
* **bucket hash** ``SHA-256(0x03 || K_1 || V_1 || K_2 || V_2 || …)`` over the bucket's
  entries in strictly increasing key order (an empty bucket: ``SHA-256(0x03)``);
* **map root**: the RFC 6962 tree over the 65,536 bucket hashes taken as its level-0
  nodes (``node = SHA-256(0x01 || l || r)``), a perfect tree of depth 16;
* **map leaf**: the map root enters the gateway's anchoring round as one extra, last
  leaf of the round tree, ``SHA-256(0x00 || "sild-headmap/v1\\n" || map root || u64
  entries)``. A message-log leaf hashes ``0x00 || 0x01 || record_hash`` (33 bytes after
  the prefix; docs/spec/anchoring.md §2.1), so the two can never be confused.

Prefixes 0x00/0x01 are RFC 6962's, 0x02 the chain link's (sild.core.usage), 0x03 and
0x04 this map's: no hash of one kind can stand for another.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sild.core.ledger_errors import ProofError
from sild.core.merkle import LeafHash, RootHash, leaf_hash, root_from_inclusion_proof

__all__ = [
    "ANCHOR_TYPE",
    "BUCKETS",
    "DEPTH",
    "EMPTY_BUCKET",
    "ENTRY_SIZE",
    "MAP_MAGIC",
    "AnchorCheck",
    "HeadMapTree",
    "MapUpdate",
    "bucket_hash",
    "bucket_of",
    "decode_entries",
    "empty_node",
    "encode_entries",
    "head_value",
    "map_key",
    "map_leaf",
    "map_leaf_data",
    "verify_anchor",
]

ANCHOR_TYPE = "sild.tracker.anchor/1"
DEPTH = 16
BUCKETS = 1 << DEPTH
HASH = 32
ENTRY_SIZE = HASH + 8 + HASH  # stored: key || u64 seq || chain
MAP_MAGIC = b"sild-headmap/v1\n"
_BUCKET = b"\x03"
_VALUE = b"\x04"
_NODE = b"\x01"
_sha = hashlib.sha256

EMPTY_BUCKET = _sha(_BUCKET).digest()


def _empty_levels() -> tuple[bytes, ...]:
    out = [EMPTY_BUCKET]
    for _ in range(DEPTH):
        out.append(_sha(_NODE + out[-1] + out[-1]).digest())
    return tuple(out)


_EMPTY = _empty_levels()


def empty_node(level: int) -> bytes:
    """The hash of a subtree of ``2**level`` empty buckets."""
    return _EMPTY[level]


def map_key(register: str, subject: str) -> bytes:
    """``K = SHA-256(register || 0x00 || subject)`` (UTF-8)."""
    return _sha(register.encode() + b"\x00" + subject.encode()).digest()


def bucket_of(key: bytes) -> int:
    """The key's bucket: its first two bytes, big-endian."""
    return int.from_bytes(key[:2], "big")


def head_value(seq: int, chain: bytes) -> bytes:
    """``V = SHA-256(0x04 || u64 seq || chain)``."""
    if len(chain) != HASH or not 0 <= seq < 2**64:
        raise ValueError("a head is a sequence number and a 32-byte chain value")
    return _sha(_VALUE + seq.to_bytes(8, "big") + chain).digest()


def bucket_hash(pairs: Sequence[tuple[bytes, bytes]]) -> bytes:
    """The bucket hash over ``(K, V)`` pairs, which must be in strictly increasing key
    order (ValueError otherwise: a key twice would let one head hide behind another)."""
    last = b""
    parts = [_BUCKET]
    for key, value in pairs:
        if len(key) != HASH or len(value) != HASH:
            raise ValueError("bucket entries are 32-byte keys and 32-byte values")
        if key <= last:
            raise ValueError("bucket entries are not in strictly increasing key order")
        last = key
        parts.append(key)
        parts.append(value)
    return _sha(b"".join(parts)).digest()


def encode_entries(entries: Mapping[bytes, tuple[int, bytes]]) -> bytes:
    """A bucket's stored form: ``K || u64 seq || chain`` per entry, in key order."""
    return b"".join(k + s.to_bytes(8, "big") + c for k, (s, c) in sorted(entries.items()))


def decode_entries(blob: bytes) -> dict[bytes, tuple[int, bytes]]:
    """The inverse of :func:`encode_entries` (ValueError for a truncated blob)."""
    if len(blob) % ENTRY_SIZE:
        raise ValueError("stored bucket is not a list of entries")
    out: dict[bytes, tuple[int, bytes]] = {}
    for i in range(0, len(blob), ENTRY_SIZE):
        key = blob[i:i + HASH]
        out[key] = (int.from_bytes(blob[i + HASH:i + HASH + 8], "big"),
                    blob[i + HASH + 8:i + ENTRY_SIZE])
    return out


def stored_bucket_hash(blob: bytes) -> bytes:
    """The bucket hash of a stored bucket."""
    entries = decode_entries(blob)
    return bucket_hash([(k, head_value(*v)) for k, v in sorted(entries.items())])


def map_leaf_data(root: bytes, entries: int) -> bytes:
    """What the round tree's map leaf hashes (after RFC 6962's 0x00)."""
    if len(root) != HASH:
        raise ValueError("a map root is 32 bytes")
    return MAP_MAGIC + root + entries.to_bytes(8, "big")


def map_leaf(root: bytes, entries: int) -> LeafHash:
    """The round-tree leaf carrying the map root."""
    return leaf_hash(map_leaf_data(root, entries))


# -- the tree in memory (the anchorer's) -------------------------------------------------


@dataclass(frozen=True, slots=True)
class MapUpdate:
    """A planned change: new node hashes by (level, index), level 0 = buckets."""

    nodes: dict[tuple[int, int], bytes]
    root: RootHash


class HeadMapTree:
    """All 17 levels of the map tree, packed (65,536 × 32 bytes at level 0, 4 MB in all).

    :meth:`plan` computes the nodes a set of bucket changes touches without changing
    anything; :meth:`apply` takes them once the round that stores them has committed.
    """

    def __init__(self, buckets: Mapping[int, bytes] | None = None) -> None:
        self._levels = [bytearray(_EMPTY[level] * (BUCKETS >> level))
                        for level in range(DEPTH + 1)]
        if buckets:
            self.apply(self.plan(buckets))

    def node(self, level: int, index: int) -> bytes:
        return bytes(self._levels[level][index * HASH:(index + 1) * HASH])

    def root(self) -> RootHash:
        return RootHash(self.node(DEPTH, 0))

    def plan(self, buckets: Mapping[int, bytes]) -> MapUpdate:
        nodes: dict[tuple[int, int], bytes] = {}
        changed = set()
        for b, h in buckets.items():
            if not 0 <= b < BUCKETS or len(h) != HASH:
                raise ValueError(f"bucket {b} out of range or hash not 32 bytes")
            nodes[(0, b)] = h
            changed.add(b)

        def get(level: int, index: int) -> bytes:
            return nodes.get((level, index)) or self.node(level, index)

        for level in range(1, DEPTH + 1):
            changed = {i >> 1 for i in changed}
            for i in changed:
                nodes[(level, i)] = _sha(_NODE + get(level - 1, 2 * i)
                                         + get(level - 1, 2 * i + 1)).digest()
        return MapUpdate(nodes, RootHash(get(DEPTH, 0)))

    def apply(self, update: MapUpdate) -> None:
        for (level, index), h in update.nodes.items():
            self._levels[level][index * HASH:(index + 1) * HASH] = h

    def path(self, bucket: int) -> list[bytes]:
        """The bucket's inclusion path (RFC 9162 §2.1.3.1), sibling at level 0 first."""
        return [self.node(level, (bucket >> level) ^ 1) for level in range(DEPTH)]


# -- checking an anchor section (what a person's verifier runs) ---------------------------


@dataclass(frozen=True, slots=True)
class AnchorCheck:
    """The anchor section's verdict: OK, FAIL or NA (sild.core.verification's words)."""

    status: str  # OK | FAIL | NA
    code: str
    message: str
    round_id: int | None = None
    anchored_at: datetime | None = None  # the ledger round's time, when the receipt verified


def _b64(value: object, size: int | None = HASH) -> bytes:
    if not isinstance(value, str):
        raise ValueError("expected base64 text")
    try:
        raw = base64.b64decode(value, validate=True)
    except binascii.Error as e:
        raise ValueError("bad base64") from e
    if size is not None and len(raw) != size:
        raise ValueError(f"expected {size} bytes")
    return raw


def _hashes(values: object, limit: int) -> list[bytes]:
    if not isinstance(values, list) or len(values) > limit:
        raise ValueError("expected a list of hashes")
    return [_b64(v) for v in values]


MAX_BUCKET_ENTRIES = 100_000  # a stranger's document: bounded work before any hashing


def verify_anchor(section: Any, *, register: str, subject: str, head_seq: int,
                  head_chain: bytes, policy: Any, at: datetime) -> AnchorCheck:
    """§3.4 steps 1–6: does the ledger hold this head as the latest one of this person?

    ``policy`` is a :class:`sild.core.verification.TrustPolicy`. Never raises for bad
    input: a malformed section is a FAIL.
    """
    from sild.core.verification import Status, verify_receipt

    try:
        if not isinstance(section, dict) or section.get("type") != ANCHOR_TYPE:
            raise ValueError(f"not a {ANCHOR_TYPE} section")
        key = map_key(register, subject)
        # (1) the bucket: the person's entry, or its absence, in strict key order
        bucket = section["bucket"]
        if not isinstance(bucket, int) or bucket != bucket_of(key):
            raise ValueError("the section is for another bucket")
        pairs: list[tuple[bytes, bytes]] = []
        entries = section["entries"]
        if not isinstance(entries, list) or len(entries) > MAX_BUCKET_ENTRIES:
            raise ValueError("entries must be a list")
        for e in entries:
            raw = _b64(e, 2 * HASH)
            pairs.append((raw[:HASH], raw[HASH:]))
        own = [v for k, v in pairs if k == key]
        expected = head_value(head_seq, head_chain)
        try:
            leaf = bucket_hash(pairs)
        except ValueError as e:
            return AnchorCheck("FAIL", "MAP-01", f"the bucket is malformed: {e}")
        if head_seq == 0:
            if own:
                return AnchorCheck("FAIL", "MAP-02", "the head disagrees with the anchored "
                                   "map: the map holds records of this person, the proof none")
        elif own != [expected]:
            return AnchorCheck("FAIL", "MAP-02", f"the head (record {head_seq}) disagrees "
                               "with the anchored map" + ("" if own else
                                                          ": the map holds no head for it"))
        # (2) the bucket's path to the map root
        path = _hashes(section["path"], DEPTH)
        map_root = _b64(section["mapRoot"])
        try:
            got = root_from_inclusion_proof(leaf=LeafHash(leaf), index=bucket, size=BUCKETS,
                                            proof=path)
        except ProofError as e:
            return AnchorCheck("FAIL", "MAP-03", f"the bucket's path is malformed: {e}")
        if got != map_root:
            return AnchorCheck("FAIL", "MAP-03", "the bucket does not lead to the map root")
        # (3) the map leaf's path to the round root
        rnd = section["round"]
        round_id, size, index = int(rnd["id"]), int(rnd["size"]), int(rnd["leafIndex"])
        count = int(section["mapEntries"])
        if not 0 <= count < 2**64:
            raise ValueError("mapEntries out of range")
        try:
            round_root = root_from_inclusion_proof(
                leaf=map_leaf(map_root, count), index=index, size=size,
                proof=_hashes(rnd["path"], 64))
        except ProofError as e:
            return AnchorCheck("FAIL", "MAP-04", f"the map leaf's path is malformed: {e}",
                               round_id)
        # (4) the round root's ledger receipt, under the person's trust policy
        receipt = section["receipt"]
        if not isinstance(receipt, str):
            raise ValueError("receipt must be text")
        v = verify_receipt(receipt.encode(), imprint=b"\x01" + round_root, policy=policy,
                           at=at)
    except (KeyError, TypeError, ValueError) as e:
        return AnchorCheck("FAIL", "MAP-00", f"malformed anchor section ({e})")
    when = v.receipt.time if v.receipt is not None else None
    if v.status is Status.FAIL:
        return AnchorCheck("FAIL", v.code, f"the round's receipt does not verify: {v.message}",
                           round_id, when)
    if v.status is Status.NA:
        return AnchorCheck("NA", v.code, f"the round's receipt is consistent but not "
                           f"anchored in a trusted ledger: {v.message}", round_id, when)
    return AnchorCheck("OK", "OK", f"head anchored in round {round_id} of the gateway, "
                       f"ledger time {when.isoformat() if when else '?'}", round_id, when)


def entries_for_proof(pairs: Iterable[tuple[bytes, bytes]]) -> list[str]:
    """The ``entries`` of an anchor section: base64 of ``K || V``, in key order."""
    return [base64.b64encode(k + v).decode("ascii") for k, v in sorted(pairs)]
