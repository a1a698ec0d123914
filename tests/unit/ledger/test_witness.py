"""The tlog-witness add-checkpoint rules (sild.ledger.witness) on a real SQLite database."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sild.core._b64 import b64encode
from sild.core.checkpoint import Checkpoint, sign_checkpoint
from sild.core.merkle import LeafHash, MerkleTree, leaf_hash
from sild.core.note import CosignatureSigner, Ed25519Signer, verify_note
from sild.errors import InvalidRequest
from sild.ledger.witness import (
    BadLogSignature,
    InconsistentCheckpoint,
    UnknownLog,
    Witness,
    WitnessConflict,
    load_cosigner,
    save_cosigner,
)
from sild.store import make_engine

LOG = Ed25519Signer("log.test/cal", Ed25519PrivateKey.generate())
LEAVES = [leaf_hash(b"%d" % i) for i in range(40)]
TREE = MerkleTree(LEAVES)


def _cp(size: int, leaves: list[LeafHash] = LEAVES, signer: Ed25519Signer = LOG) -> bytes:
    root = MerkleTree(leaves[:size]).root()
    return sign_checkpoint(Checkpoint(signer.name, size, root), signer=signer)


def _body(old: int, size: int, leaves: list[LeafHash] = LEAVES) -> bytes:
    proof = MerkleTree(leaves[:size]).consistency_proof(old) if 0 < old <= size else []
    lines = [f"old {old}", *(b64encode(h) for h in proof)]
    return ("\n".join(lines) + "\n\n").encode() + _cp(size, leaves)


@pytest.fixture
def witness(tmp_path: Path) -> Witness:
    engine = make_engine(f"sqlite:///{tmp_path}/w.db")
    signer = CosignatureSigner("witness.test/w1", Ed25519PrivateKey.generate())
    return Witness(engine=engine, signer=signer, logs=[LOG.verifier()], clock=lambda: 1_800_000_000)


def test_cosigns_consistent_checkpoints(witness: Witness) -> None:
    """A first checkpoint and a consistent successor are cosigned and the state advances."""
    for old, size in ((0, 10), (10, 25), (25, 25)):
        line = witness.add_checkpoint(_body(old, size))
        note = _cp(size).rstrip(b"\n") + b"\n" + line
        verified = verify_note(note, verifiers=[witness.signer.verifier()])
        assert verified.verified[0].timestamp == 1_800_000_000
    assert witness.state("log.test/cal")[0] == 25


def test_wrong_old_size_is_409_with_the_latest_size(witness: Witness) -> None:
    """An old size that is not the witness's latest gets 409 carrying that size."""
    witness.add_checkpoint(_body(0, 20))
    with pytest.raises(WitnessConflict) as e:
        witness.add_checkpoint(_body(10, 30))
    assert e.value.size == 20
    assert e.value.http_status == 409


def test_rolled_back_checkpoint_is_refused(witness: Witness) -> None:
    """A smaller checkpoint than the one cosigned is refused and the state is untouched."""
    witness.add_checkpoint(_body(0, 30))
    with pytest.raises(WitnessConflict):
        witness.add_checkpoint(_body(0, 20))
    with pytest.raises(InvalidRequest):
        witness.add_checkpoint(_body(30, 20))
    assert witness.state("log.test/cal")[0] == 30


def test_inconsistent_checkpoint_is_422(witness: Witness) -> None:
    """A fork (a changed leaf) fails the consistency proof: 422, state untouched."""
    witness.add_checkpoint(_body(0, 10))
    forked = [*LEAVES[:5], leaf_hash(b"evil"), *LEAVES[6:]]
    with pytest.raises(InconsistentCheckpoint) as e:
        witness.add_checkpoint(_body(10, 20, forked))
    assert e.value.http_status == 422
    assert witness.state("log.test/cal")[0] == 10


def test_same_size_different_root_is_409(witness: Witness) -> None:
    """Two different roots at one size is a fork: 409."""
    witness.add_checkpoint(_body(0, 10))
    forked = [leaf_hash(b"evil"), *LEAVES[1:]]
    with pytest.raises(WitnessConflict):
        witness.add_checkpoint(_body(10, 10, forked))


def test_unknown_log_and_bad_signature(witness: Witness) -> None:
    """Unknown origins are 404; a checkpoint signed by another key is 403."""
    other = Ed25519Signer("other.test/log", Ed25519PrivateKey.generate())
    with pytest.raises(UnknownLog):
        witness.add_checkpoint(b"old 0\n\n" + _cp(5, signer=other))
    impostor = Ed25519Signer("log.test/cal", Ed25519PrivateKey.generate())
    with pytest.raises(BadLogSignature):
        witness.add_checkpoint(b"old 0\n\n" + _cp(5, signer=impostor))


@pytest.mark.parametrize(
    "body",
    [b"", b"old 0\n", b"old x\n\nfoo", b"old 01\n\n" + _cp(3), b"old 0\n!!!\n\n" + _cp(3),
     b"old 0\n\n" + _cp(3)[:-5], b"old 0\n\nnot a checkpoint\n"],
)
def test_malformed_requests_are_400(witness: Witness, body: bytes) -> None:
    """Malformed bodies and checkpoints are refused as bad requests; no state is written."""
    with pytest.raises(InvalidRequest):
        witness.add_checkpoint(body)
    assert witness.state("log.test/cal")[0] == 0


def test_cosigner_key_file_round_trip(tmp_path: Path) -> None:
    """A witness key written to a file reads back to the same verifier key."""
    s = save_cosigner(tmp_path / "w.key", "witness.test/w2")
    assert load_cosigner(tmp_path / "w.key").verifier() == s.verifier()
