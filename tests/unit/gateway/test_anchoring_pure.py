"""The pure parts of anchoring and audit (docs/spec/anchoring.md §2, §5): the leaf
encoding, proof checks, leaf coverage, and the [anchoring] settings round trip."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sild.core.identifiers import ServerId
from sild.core.merkle import MerkleTree
from sild.errors import ConfigurationError, xroad_code_at
from sild.gateway.anchoring.anchorer import TimestampingFailed, record_leaf, root_imprint
from sild.gateway.anchoring.audit import StoredRound, check_leaf_coverage, check_proof
from sild.gateway.config import AnchoringSettings, GatewaySettings

T = datetime(2026, 11, 22, tzinfo=UTC)


def _round(hashes: list[bytes]) -> tuple[StoredRound, MerkleTree]:
    tree = MerkleTree([record_leaf(h) for h in hashes])
    return StoredRound(1, 1, len(hashes), len(hashes), tree.root(), None, T), tree


def test_leaf_is_the_ledgers_leaf_of_the_record_imprint() -> None:
    """§2.1: leaf = SHA-256(0x00 || 0x01 || record_hash), as the ledger hashes imprints."""
    h = hashlib.sha256(b"record").digest()
    assert record_leaf(h) == hashlib.sha256(b"\x00\x01" + h).digest()
    assert root_imprint(h) == b"\x01" + h


def test_timestamping_failed_code_at_the_consumer_gateway() -> None:
    """The error becomes X-Road's Server.ClientProxy.TimestampingFailed."""
    assert xroad_code_at(TimestampingFailed("x"), "ClientProxy") == \
        "Server.ClientProxy.TimestampingFailed"


@given(st.integers(1, 40), st.data())
def test_every_stored_path_verifies(n: int, data: st.DataObject) -> None:
    """Each record's path leads to the round root."""
    hashes = [hashlib.sha256(b"%d" % i).digest() for i in range(n)]
    rnd, tree = _round(hashes)
    i = data.draw(st.integers(0, n - 1))
    assert check_proof(record_id=i + 1, computed_hash=hashes[i], leaf_index=i,
                       path=b"".join(tree.inclusion_proof(i)), rnd=rnd) is None


@given(st.integers(2, 40), st.data())
def test_flipping_any_byte_of_path_or_hash_is_found(n: int, data: st.DataObject) -> None:
    """Flip any byte of the record hash or its path: a finding, never an exception."""
    hashes = [hashlib.sha256(b"%d" % i).digest() for i in range(n)]
    rnd, tree = _round(hashes)
    i = data.draw(st.integers(0, n - 1))
    path = b"".join(tree.inclusion_proof(i))
    blob = bytearray(hashes[i] + path)
    k = data.draw(st.integers(0, len(blob) - 1))
    blob[k] ^= 1 << data.draw(st.integers(0, 7))
    f = check_proof(record_id=i + 1, computed_hash=bytes(blob[:32]), leaf_index=i,
                    path=bytes(blob[32:]), rnd=rnd)
    assert f is not None
    assert f.kind == "edited"


def test_truncated_path_and_wrong_index_are_findings() -> None:
    """A malformed stored proof is a finding."""
    hashes = [hashlib.sha256(b"%d" % i).digest() for i in range(5)]
    rnd, tree = _round(hashes)
    path = b"".join(tree.inclusion_proof(2))
    for bad_path, index in ((path[:-1], 2), (path[:-32], 2), (path, 9)):
        f = check_proof(record_id=3, computed_hash=hashes[2], leaf_index=index,
                        path=bad_path, rnd=rnd)
        assert f is not None


def test_missing_leaf_is_named_between_its_neighbours() -> None:
    """A leaf with neither row nor proof is a deletion between two named rows."""
    rnd = StoredRound(4, 10, 14, 5, b"\0" * 32, None, T)
    found = check_leaf_coverage(rnd, [(0, 10), (1, 11), (3, 13), (4, 14)])
    assert [f.line() for f in found] == [
        "round 4: deleted: leaf 2 has neither a row nor a proof (between rows 11 and 13)"]


def test_settings_round_trip_with_anchoring(tmp_path: Path) -> None:
    """[anchoring] is written and read back unchanged; the defaults are X-Road's."""
    assert AnchoringSettings().max_unanchored == 14400
    assert AnchoringSettings().period == 1.0
    s = GatewaySettings(root=tmp_path.resolve(), server=ServerId.parse("EE/GOV/1/gw"),
                        database_url="sqlite:///x.db",
                        anchoring=AnchoringSettings("http://127.0.0.1:8470", 0.5, 2.0))
    s.write()
    assert GatewaySettings.load(tmp_path) == s


@pytest.mark.parametrize("section", [
    '[anchoring]\nledger = "ftp://x"\n',
    '[anchoring]\nperiod = 0\n',
    '[anchoring]\nmax_unanchored = -1\n',
    '[anchoring]\nperiod = "soon"\n',
])
def test_bad_anchoring_settings_are_refused(tmp_path: Path, section: str) -> None:
    """A malformed [anchoring] section is a ConfigurationError."""
    (tmp_path / "gateway.toml").write_text(
        '[gateway]\nserver = "EE/GOV/1/gw"\n' + section)
    with pytest.raises(ConfigurationError):
        GatewaySettings.load(tmp_path)
