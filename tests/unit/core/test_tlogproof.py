"""C2SP tlog-proof receipts and Sild's round-path extra (sild.core.tlogproof)."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from sild.core.checkpoint import Checkpoint, sign_checkpoint
from sild.core.ledger_errors import LedgerFormatError, NoteSignatureError, ProofError
from sild.core.merkle import LeafHash, MerkleTree, leaf_hash
from sild.core.note import CosignatureSigner, Ed25519Signer
from sild.core.tlogproof import (
    RoundPath,
    TlogProof,
    VerifiedTlogProof,
    format_tlog_proof,
    parse_tlog_proof,
    verify_tlog_proof,
)

# The example of c2sp.org/tlog-proof, up to its (elided) checkpoint signatures.
SPEC_HEAD = b"""c2sp.org/tlog-proof@v1
extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ
index 73894
gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=
B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=
EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=
RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=
AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=

example.com/fancylog
109482
sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=

"""

ORIGIN = "ledger.sild.example/calendar"
LOG = Ed25519Signer(ORIGIN, Ed25519PrivateKey.generate())
WITNESS = CosignatureSigner("witness.example/w1", Ed25519PrivateKey.generate())
N = 1000
LEAVES = [leaf_hash(b"calendar leaf %d" % i) for i in range(N)]
TREE = MerkleTree(LEAVES)
CHECKPOINT = sign_checkpoint(
    Checkpoint(ORIGIN, N, TREE.root()), signer=LOG, cosigners=[(WITNESS, 1767225600)]
)


def receipt(index: int, extra: bytes | None = None) -> bytes:
    return format_tlog_proof(
        TlogProof(index, tuple(TREE.inclusion_proof(index)), CHECKPOINT, extra)
    )


def verify(raw: bytes, leaf: LeafHash) -> VerifiedTlogProof:
    return verify_tlog_proof(
        raw,
        leaf=leaf,
        origin=ORIGIN,
        log_keys=[LOG.verifier()],
        witnesses=[WITNESS.verifier()],
        quorum=1,
    )


def test_spec_example_parses() -> None:
    """The tlog-proof spec example's header, extra, index and path parse."""
    p = parse_tlog_proof(SPEC_HEAD + "— example.com/fancylog hI2DJw==\n".encode())
    assert p.index == 73894
    assert p.extra is not None
    assert p.extra.startswith(b"age-v1.2.1-darwin-arm64.tar.gz")
    assert len(p.proof) == 5
    assert p.checkpoint.startswith(b"example.com/fancylog\n109482\n")


def test_format_starts_with_header_and_index() -> None:
    """A receipt is the header line, the index line, the hashes, a blank line, the checkpoint."""
    raw = receipt(7)
    lines = raw.split(b"\n")
    assert lines[0] == b"c2sp.org/tlog-proof@v1"
    assert lines[1] == b"index 7"
    assert raw.endswith(b"\n\n" + CHECKPOINT)


@settings(max_examples=50)
@given(st.integers(min_value=0, max_value=N - 1), st.one_of(st.none(), st.binary(min_size=1)))
def test_round_trip_and_verify(index: int, extra: bytes | None) -> None:
    """Every receipt parses back to itself and verifies for its leaf."""
    raw = receipt(index, extra)
    p = parse_tlog_proof(raw)
    assert format_tlog_proof(p) == raw
    v = verify(raw, LEAVES[index])
    assert v.index == index
    assert v.extra == extra


def test_other_leaf_fails() -> None:
    """A receipt does not prove another leaf."""
    with pytest.raises(ProofError):
        verify(receipt(5), LEAVES[6])


@settings(max_examples=150)
@given(st.data())
def test_flipping_any_byte_fails(data: st.DataObject) -> None:
    """Changing any bit of a receipt (outside the unauthenticated extra) makes it fail."""
    raw = receipt(300)
    pos = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    bit = data.draw(st.integers(min_value=0, max_value=7))
    bad = raw[:pos] + bytes([raw[pos] ^ (1 << bit)]) + raw[pos + 1 :]
    with pytest.raises((LedgerFormatError, NoteSignatureError, ProofError)):
        verify(bad, LEAVES[300])


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"c2sp.org/tlog-proof@v2\nindex 0\n\nx",
        b"c2sp.org/tlog-proof@v1\n\nx",  # no index
        b"c2sp.org/tlog-proof@v1\nindex 01\n\nx",
        b"c2sp.org/tlog-proof@v1\nindex -1\n\nx",
        b"c2sp.org/tlog-proof@v1\nindex 0\n",  # no checkpoint
        b"c2sp.org/tlog-proof@v1\nextra \nindex 0\n\nx",  # empty extra
        b"c2sp.org/tlog-proof@v1\nextra !!\nindex 0\n\nx",
        b"c2sp.org/tlog-proof@v1\nindex 0\nextra AA==\n\nx",  # extra after index
        b"c2sp.org/tlog-proof@v1\nindex 0\nAAAA\n\nx",  # a 3-byte hash
        b"c2sp.org/tlog-proof@v1\nindex 0\n" + b"A" * 43 + b"=\n" * 65 + b"\nx",
    ],
)
def test_malformed_receipts_rejected(raw: bytes) -> None:
    """Malformed receipts raise LedgerFormatError."""
    with pytest.raises(LedgerFormatError):
        parse_tlog_proof(raw)


# --- Round path ---------------------------------------------------------------------------


@settings(max_examples=50)
@given(st.data(), st.integers(min_value=1, max_value=300))
def test_round_path_round_trip_and_root(data: st.DataObject, size: int) -> None:
    """A round path encodes, parses back, and leads to the round tree's root."""
    leaf_index = data.draw(st.integers(min_value=0, max_value=size - 1))
    round_leaves = [leaf_hash(b"doc %d" % i) for i in range(size)]
    tree = MerkleTree(round_leaves)
    rp = RoundPath(42, size, leaf_index, tuple(tree.inclusion_proof(leaf_index)))
    assert RoundPath.parse(rp.to_bytes()) == rp
    assert rp.round_root(round_leaves[leaf_index]) == tree.root()


def test_two_tier_receipt() -> None:
    """A document leaf → round root (round path in extra) → calendar leaf → checkpoint."""
    round_leaves = [leaf_hash(b"doc %d" % i) for i in range(10)]
    round_tree = MerkleTree(round_leaves)
    # A toy calendar whose leaf 3 commits to this round's root.
    calendar = [leaf_hash(b"empty round %d" % i) for i in range(6)]
    calendar[3] = leaf_hash(round_tree.root())
    cal_tree = MerkleTree(calendar)
    cp = sign_checkpoint(Checkpoint(ORIGIN, 6, cal_tree.root()), signer=LOG)
    rp = RoundPath(3, 10, 4, tuple(round_tree.inclusion_proof(4)))
    raw = format_tlog_proof(TlogProof(3, tuple(cal_tree.inclusion_proof(3)), cp, rp.to_bytes()))

    parsed = parse_tlog_proof(raw)
    assert parsed.extra is not None
    path = RoundPath.parse(parsed.extra)
    round_root = path.round_root(round_leaves[4])
    v = verify_tlog_proof(raw, leaf=leaf_hash(round_root), origin=ORIGIN, log_keys=[LOG.verifier()])
    assert v.index == path.round_index


@pytest.mark.parametrize(
    ("size", "index", "n_hashes"),
    [(10, 10, 4), (10, 4, 3), (10, 4, 5), (0, 0, 0)],
)
def test_inconsistent_round_paths_rejected(size: int, index: int, n_hashes: int) -> None:
    """A leaf outside its round, or a path of the wrong length for its position, is rejected."""
    with pytest.raises(LedgerFormatError):
        RoundPath(1, size, index, (b"\x00" * 32,) * n_hashes)


def test_truncated_round_path_rejected() -> None:
    """A round path whose bytes do not match its hash count is rejected."""
    rp = RoundPath(
        1, 10, 4, tuple(MerkleTree([leaf_hash(b"%d" % i) for i in range(10)]).inclusion_proof(4))
    )
    data = rp.to_bytes()
    for cut in (1, 32, len(data) - 1):
        with pytest.raises(LedgerFormatError):
            RoundPath.parse(data[:cut])
    with pytest.raises(LedgerFormatError, match="not a Sild"):
        RoundPath.parse(base64.b64encode(data))
