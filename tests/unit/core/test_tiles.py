"""C2SP tlog-tiles paths, tile building and proofs from tiles (sild.core.tiles)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sild.core.ledger_errors import LedgerFormatError, ProofError
from sild.core.merkle import (
    LeafHash,
    MerkleTree,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from sild.core.tiles import (
    TileId,
    build_tiles,
    consistency_proof_from_tiles,
    encode_bundle,
    encode_index,
    entries_path,
    inclusion_proof_from_tiles,
    parse_bundle,
    parse_entries_path,
    parse_index,
    parse_tile_path,
    root_from_tiles,
    tile_path,
    tiles_for_consistency,
    tiles_for_inclusion,
    tiles_for_root,
    tiles_to_write,
)


def leaves_of(n: int) -> list[LeafHash]:
    return [leaf_hash(i.to_bytes(8, "big")) for i in range(n)]


# A tree big enough to have three tile levels: 256**2 + 256*3 + 17 leaves.
BIG = 65536 + 256 * 3 + 17
BIG_LEAVES = leaves_of(BIG)
BIG_TREE = MerkleTree(BIG_LEAVES)
BIG_TILES = build_tiles(BIG_LEAVES)


# --- Paths -------------------------------------------------------------------------------


def test_spec_index_example() -> None:
    """Index 1234067 is written x001/x234/067 (tlog-tiles §Merkle Tree)."""
    assert encode_index(1234067) == "x001/x234/067"
    assert parse_index("x001/x234/067") == 1234067


@pytest.mark.parametrize(("n", "text"), [(0, "000"), (5, "005"), (999, "999"), (1000, "x001/000")])
def test_small_indexes(n: int, text: str) -> None:
    """Indexes below 1000 are one 3-digit group; 1000 needs two."""
    assert encode_index(n) == text


@given(st.integers(min_value=0, max_value=2**64))
def test_index_round_trip(n: int) -> None:
    """Every index encodes and parses back to itself."""
    assert parse_index(encode_index(n)) == n


@pytest.mark.parametrize(
    "text", ["", "1", "0001", "x000/001", "001/002", "x1/002", "x001/x002", "abc"]
)
def test_non_canonical_indexes_rejected(text: str) -> None:
    """Only the canonical index form parses."""
    with pytest.raises(LedgerFormatError):
        parse_index(text)


def test_tile_paths() -> None:
    """Full and partial tile paths follow tile/<L>/<N>[.p/<W>]."""
    assert tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert tile_path(2, 0, 1) == "tile/2/000.p/1"
    assert TileId(1, 5, 17).path() == "tile/1/005.p/17"
    assert entries_path(1234067, 112) == "tile/entries/x001/x234/067.p/112"


@given(
    st.integers(min_value=0, max_value=63),
    st.integers(min_value=0, max_value=2**40),
    st.integers(min_value=1, max_value=256),
)
def test_tile_path_round_trip(level: int, index: int, width: int) -> None:
    """Tile and entry paths parse back to what made them."""
    assert parse_tile_path(tile_path(level, index, width)) == TileId(level, index, width)
    assert parse_entries_path(entries_path(index, width)) == (index, width)


@pytest.mark.parametrize(
    "path",
    [
        "tile/64/000",
        "tile/01/000",
        "tile/0/000.p/256",
        "tile/0/000.p/0",
        "tile/0/000.p/07",
        "tile/0/000.p",
        "tiles/0/000",
        "tile/0",
        "tile/entries/000",
        "tile/0/x000/001",
    ],
)
def test_malformed_tile_paths_rejected(path: str) -> None:
    """Out-of-range levels, bad widths and non-canonical indexes are rejected."""
    with pytest.raises(LedgerFormatError):
        parse_tile_path(path)


# --- Which tiles exist ------------------------------------------------------------------------


def test_spec_example_tiles_for_size_70000() -> None:
    """Size 70,000: 273 full + one 112-wide level-0 tiles, one full + one 17-wide level-1
    tile, and one 1-wide level-2 tile (tlog-tiles §Partial Tiles)."""
    tiles = tiles_to_write(0, 70000)
    level0 = [t for t in tiles if t.level == 0]
    assert len([t for t in level0 if not t.is_partial]) == 273
    assert [t for t in level0 if t.is_partial] == [TileId(0, 273, 112)]
    assert [t for t in tiles if t.level == 1] == [TileId(1, 0), TileId(1, 1, 17)]
    assert [t for t in tiles if t.level == 2] == [TileId(2, 0, 1)]


def test_spec_example_size_256() -> None:
    """Size 256 is one full level-0 tile and a level-1 tile of width 1."""
    assert tiles_to_write(0, 256) == [TileId(0, 0), TileId(1, 0, 1)]


def test_growing_writes_only_changed_tiles() -> None:
    """Growing 300 → 520 rewrites the partial level-0 tile, adds the next, and level 1."""
    assert tiles_to_write(300, 520) == [TileId(0, 1), TileId(0, 2, 8), TileId(1, 0, 2)]
    assert tiles_to_write(300, 300) == []


def test_tile_contents_are_level_hashes() -> None:
    """A level-1 tile's hashes are the roots of the full level-0 tiles below it."""
    assert BIG_TILES[TileId(1, 0)][:32] == BIG_TREE.root(256)
    assert BIG_TILES[TileId(0, 0)][:32] == BIG_LEAVES[0]
    assert len(BIG_TILES[TileId(0, BIG // 256, 17)]) == 17 * 32


# --- Proofs from tiles --------------------------------------------------------------------


def fetch_big(tile: TileId) -> bytes:
    return BIG_TILES[tile]


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=1, max_value=BIG))
def test_root_from_tiles_matches_tree(size: int) -> None:
    """The root rebuilt from the tiles of any size equals the tree root."""
    tiles = build_tiles(BIG_LEAVES[:size])
    assert root_from_tiles(tiles.__getitem__, size) == BIG_TREE.root(size)
    assert set(tiles_for_root(size)) <= set(tiles)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_inclusion_proof_from_tiles(data: st.DataObject) -> None:
    """Inclusion proofs rebuilt from tiles equal the in-memory ones and verify."""
    index = data.draw(st.integers(min_value=0, max_value=BIG - 1))
    proof = inclusion_proof_from_tiles(fetch_big, index, BIG)
    assert proof == BIG_TREE.inclusion_proof(index)
    verify_inclusion(
        leaf=BIG_LEAVES[index], index=index, size=BIG, proof=proof, root=BIG_TREE.root()
    )
    assert set(tiles_for_inclusion(index, BIG)) <= set(BIG_TILES)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_consistency_proof_from_tiles(data: st.DataObject) -> None:
    """Consistency proofs rebuilt from tiles equal the in-memory ones and verify."""
    old = data.draw(st.integers(min_value=0, max_value=BIG))
    proof = consistency_proof_from_tiles(fetch_big, old, BIG)
    assert proof == BIG_TREE.consistency_proof(old)
    verify_consistency(
        old_size=old,
        new_size=BIG,
        old_root=BIG_TREE.root(old),
        new_root=BIG_TREE.root(),
        proof=proof,
    )
    assert set(tiles_for_consistency(old, BIG)) <= set(BIG_TILES)


def test_tampered_tile_breaks_the_proof() -> None:
    """A server that changes one byte of a tile cannot make the proof verify."""
    index = 60000
    needed = tiles_for_inclusion(index, BIG)
    for tile in needed:
        for pos in (0, len(BIG_TILES[tile]) - 1):
            tampered = dict(BIG_TILES)
            b = bytearray(tampered[tile])
            b[pos] ^= 1
            tampered[tile] = bytes(b)
            proof = inclusion_proof_from_tiles(tampered.__getitem__, index, BIG)
            try:
                verify_inclusion(
                    leaf=BIG_LEAVES[index], index=index, size=BIG, proof=proof, root=BIG_TREE.root()
                )
            except ProofError:
                continue
            # A changed byte the proof does not read is harmless; it must not be needed.
            assert proof == BIG_TREE.inclusion_proof(index)


def test_wrong_length_tile_rejected() -> None:
    """A tile of the wrong length is rejected before use."""
    with pytest.raises(LedgerFormatError, match="bytes"):
        root_from_tiles(lambda t: b"\x00" * 31, 5)


# --- Entry bundles ----------------------------------------------------------------------


@given(st.lists(st.binary(max_size=300), max_size=256))
def test_bundle_round_trip(entries: list[bytes]) -> None:
    """Entry bundles encode and parse back to the same entries."""
    assert parse_bundle(encode_bundle(entries), width=len(entries)) == entries


def test_bundle_uses_big_endian_uint16_lengths() -> None:
    """Each entry is prefixed by its big-endian uint16 length."""
    assert encode_bundle([b"a", b""]) == b"\x00\x01a\x00\x00"


@pytest.mark.parametrize("data", [b"\x00", b"\x00\x02a", b"\x00\x01a\x00"])
def test_truncated_bundles_rejected(data: bytes) -> None:
    """A bundle that ends inside a prefix or an entry is rejected."""
    with pytest.raises(LedgerFormatError):
        parse_bundle(data)


def test_bundle_width_checked() -> None:
    """A bundle with a different entry count than its path says is rejected."""
    with pytest.raises(LedgerFormatError, match="expected 3"):
        parse_bundle(encode_bundle([b"a", b"b"]), width=3)
