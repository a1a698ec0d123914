"""The anchored head map, pure (sild.core.headmap; docs/spec/tracker.md §3.4)."""

from __future__ import annotations

import base64
import copy
import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sild.core.headmap import (
    BUCKETS,
    EMPTY_BUCKET,
    HeadMapTree,
    bucket_hash,
    decode_entries,
    encode_entries,
    map_leaf,
    stored_bucket_hash,
)
from sild.core.merkle import LeafHash, leaf_hash, root_of, verify_inclusion
from sild.core.usage_proof import verify_usage_proof
from sild.core.verification import TrustPolicy
from sild.testing.headmap import anchored_proof, random_buckets

AT = datetime(2026, 12, 6, tzinfo=UTC)
OTHERS = random_buckets(3000)
PROOF, POLICY = anchored_proof(20, others=OTHERS, unanchored=2)


def _check(proof: dict[str, Any], policy: TrustPolicy = POLICY) -> Any:
    return verify_usage_proof(proof, policy=policy, at=AT)


def test_the_tree_is_rfc6962_over_the_bucket_hashes() -> None:
    """Cross-check: the map root equals sild.core.merkle's RFC 6962 root of 65,536 leaves."""
    hashes = {b: bucket_hash(sorted(v)) for b, v in list(OTHERS.items())[:50]}
    tree = HeadMapTree(hashes)
    leaves = [LeafHash(hashes.get(b, EMPTY_BUCKET)) for b in range(BUCKETS)]
    assert tree.root() == root_of(leaves)
    b = next(iter(hashes))
    verify_inclusion(leaf=LeafHash(hashes[b]), index=b, size=BUCKETS, proof=tree.path(b),
                     root=tree.root())


def test_plan_changes_nothing_until_applied() -> None:
    tree = HeadMapTree()
    before = tree.root()
    update = tree.plan({5: hashlib.sha256(b"x").digest()})
    assert tree.root() == before
    tree.apply(update)
    assert tree.root() == update.root != before


def test_bucket_entries_must_be_strictly_ordered() -> None:
    """A key twice (or out of order) could hide one head behind another."""
    k, v = bytes(32), bytes(32)
    with pytest.raises(ValueError, match="increasing"):
        bucket_hash([(k, v), (k, v)])


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(st.binary(min_size=32, max_size=32),
                       st.tuples(st.integers(0, 2**64 - 1), st.binary(min_size=32, max_size=32)),
                       max_size=20))
def test_stored_buckets_round_trip(entries: dict[bytes, tuple[int, bytes]]) -> None:
    blob = encode_entries(entries)
    assert decode_entries(blob) == entries
    assert stored_bucket_hash(blob) == stored_bucket_hash(encode_entries(decode_entries(blob)))


def test_the_map_leaf_is_not_a_record_leaf() -> None:
    """A message-log leaf hashes 0x00 || 0x01 || 32 bytes; the map leaf something else."""
    root = hashlib.sha256(b"r").digest()
    assert map_leaf(root, 1) != leaf_hash(b"\x01" + root)


def test_an_anchored_proof_is_ok_and_counts_the_unanchored() -> None:
    result = _check(PROOF)
    assert result.verdict == "OK", result.summary()
    assert result.records == 22  # of the period (all time): anchored or not
    assert result.unanchored == 2
    assert "not yet anchored" in result.summary()


def test_without_a_trust_anchor_it_is_na() -> None:
    assert _check(PROOF, TrustPolicy()).verdict == "NA"


def test_a_proof_without_an_anchor_section_is_na() -> None:
    """Honest about it: the chain is complete, the head just is not anchored yet."""
    proof = copy.deepcopy(PROOF)
    proof["anchor"] = None
    result = _check(proof)
    assert result.verdict == "NA"
    assert result.anchor is not None
    assert "not anchored yet" in result.anchor.message


def test_an_absent_person_is_proven_absent() -> None:
    proof, policy = anchored_proof(0, others=OTHERS)
    assert _check(proof, policy).verdict == "OK"
    proof["head"] = PROOF["head"]  # claiming a head the map does not hold
    assert _check(proof, policy).anchor.code == "MAP-02"


@pytest.mark.parametrize("where", ["entries", "path", "mapRoot", "mapEntries", "round.path",
                                   "round.size", "bucket", "receipt"])
def test_any_change_to_the_anchor_section_fails(where: str) -> None:
    proof = copy.deepcopy(PROOF)
    section = proof["anchor"]
    if "." in where:
        section = section["round"]
        where = where.split(".")[1]
    value = section[where]
    if isinstance(value, list):
        raw = bytearray(base64.b64decode(value[0]))
        raw[-1] ^= 1
        value[0] = base64.b64encode(bytes(raw)).decode()
    elif isinstance(value, int):
        section[where] = value + 1
    else:
        raw = bytearray(base64.b64decode(value)) if where != "receipt" else None
        if raw is None:
            section[where] = value.replace("index 5", "index 4")
        else:
            raw[0] ^= 1
            section[where] = base64.b64encode(bytes(raw)).decode()
    result = _check(proof)
    assert result.verdict == "FAIL", where
    assert result.anchor is not None
    assert result.anchor.status == "FAIL"


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_flipping_any_bit_of_any_hash_fails(data: st.DataObject) -> None:
    """Any bit of any bucket entry, map path hash, round path hash or the map root."""
    proof = copy.deepcopy(PROOF)
    section = proof["anchor"]
    lists = [section["entries"], section["path"], section["round"]["path"]]
    which = data.draw(st.integers(0, len(lists)))
    if which == len(lists):
        holder, index = section, "mapRoot"
    else:
        holder, index = lists[which], data.draw(st.integers(0, len(lists[which]) - 1))
    raw = bytearray(base64.b64decode(holder[index]))
    bit = data.draw(st.integers(0, len(raw) * 8 - 1))
    raw[bit // 8] ^= 1 << (bit % 8)
    holder[index] = base64.b64encode(bytes(raw)).decode()
    assert _check(proof).verdict == "FAIL"


def test_malformed_sections_are_failures_not_tracebacks() -> None:
    for bad in ({}, {"type": "sild.tracker.anchor/1"}, [], "x",
                {**PROOF["anchor"], "entries": "nope"},
                {**PROOF["anchor"], "path": [1, 2]},
                {**PROOF["anchor"], "round": {"id": "x"}}):
        proof = copy.deepcopy(PROOF)
        proof["anchor"] = bad
        assert _check(proof).verdict == "FAIL", bad


def test_a_changed_record_after_the_anchored_head_is_named() -> None:
    """Records not yet anchored are still chain-checked, and flagged as such."""
    proof = copy.deepcopy(PROOF)
    proof["unanchored"][1]["content"]["action"] = "Forged"
    result = _check(proof)
    assert result.verdict == "FAIL"
    assert [(f.seq, f.problem) for f in result.findings] == [
        (22, "altered or back-dated (not yet anchored)")]


def test_an_anchored_record_dropped_from_the_proof_is_missing() -> None:
    proof = copy.deepcopy(PROOF)
    del proof["records"][-1]
    result = _check(proof)
    assert [(f.seq, f.problem) for f in result.findings] == [(20, "missing")]


def test_a_later_proof_must_extend_an_earlier_one() -> None:
    """§3.4.7: the earlier proof's head must be a link of the later proof's chain."""
    earlier, _ = anchored_proof(5, others={}, round_id=7)
    later, policy = anchored_proof(8, others={}, round_id=9)
    assert verify_usage_proof(later, policy=policy, at=AT, earlier=[earlier]).verdict == "OK"
    rewritten, policy = anchored_proof(8, others={}, round_id=9, action="Forged")
    alone = verify_usage_proof(rewritten, policy=policy, at=AT)
    assert alone.verdict == "OK"  # a dishonest anchorer's map: consistent on its own
    result = verify_usage_proof(rewritten, policy=policy, at=AT, earlier=[earlier])
    assert result.verdict == "FAIL"
    assert [(f.seq, f.problem.split(" (")[0]) for f in result.findings] == [
        (5, "rewritten since the earlier proof")]


def test_an_older_map_than_one_already_seen_is_stale() -> None:
    earlier, _ = anchored_proof(5, others={}, round_id=9)
    older, policy = anchored_proof(5, others={}, round_id=7)
    result = verify_usage_proof(older, policy=policy, at=AT, earlier=[earlier])
    assert result.verdict == "FAIL"
    assert "stale" in result.summary()


def test_a_head_gone_back_since_the_earlier_proof_is_missing() -> None:
    earlier, _ = anchored_proof(5, others={}, round_id=7)
    shorter, policy = anchored_proof(3, others={}, round_id=9)
    result = verify_usage_proof(shorter, policy=policy, at=AT, earlier=[earlier])
    assert [f.seq for f in result.findings] == [4]
