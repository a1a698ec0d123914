"""The calendar's static tiles (sild.ledger.tilestore) against the pure tile builder."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sild.core.calendar import CalendarRecord
from sild.core.ledger_errors import LedgerFormatError
from sild.core.merkle import MerkleTree, RootHash, verify_inclusion
from sild.core.tiles import TileId, build_tiles, inclusion_proof_from_tiles
from sild.ledger.tilestore import CalendarWriter, TileStore, replay


def _records(n: int, start: int = 0) -> list[CalendarRecord]:
    return [CalendarRecord(1000 * (i + 1), i % 3 + 1, RootHash(bytes([i % 251]) * 32))
            for i in range(start, start + n)]


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(1, 300), min_size=1, max_size=4))
def test_tiles_equal_the_reference_and_survive_reload(tmp_path_factory: pytest.TempPathFactory,
                                                      chunks: list[int]) -> None:
    """Appending in chunks (with reloads between) writes exactly the reference tiles."""
    root = tmp_path_factory.mktemp("tiles")
    store = TileStore(root)
    done = 0
    for n in chunks:
        writer = CalendarWriter(TileStore(root), done)  # reload the right edge from files
        writer.append(_records(n, done))
        done += n
    recs = _records(done)
    leaves = [r.leaf() for r in recs]
    assert writer.root() == MerkleTree(leaves).root()
    for tile, data in build_tiles(leaves).items():
        assert store.tile(tile) == data
    assert writer.records(0, done) == recs
    i = done // 2
    proof = inclusion_proof_from_tiles(store.tile, i, done)
    verify_inclusion(leaf=leaves[i], index=i, size=done, proof=proof, root=writer.root())


def test_truncated_tile_is_refused(tmp_path: Path) -> None:
    """A tile file cut short raises LedgerFormatError instead of yielding wrong hashes."""
    store = TileStore(tmp_path)
    CalendarWriter(store).append(_records(10))
    path = tmp_path / TileId(0, 0, 10).path()
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(LedgerFormatError, match="truncated"):
        TileStore(tmp_path).tile(TileId(0, 0, 10))
    with pytest.raises(LedgerFormatError):
        CalendarWriter(TileStore(tmp_path), 10)


def test_replay_rebuilds_lost_tiles(tmp_path: Path) -> None:
    """Deleting the tile folder and replaying the records gives the same root."""
    recs = _records(600)
    w = CalendarWriter(TileStore(tmp_path / "a"))
    w.append(recs)
    again = replay(TileStore(tmp_path / "b"), recs, chunk=77)
    assert again.root() == w.root()


def test_old_partial_tiles_are_dropped_once_full(tmp_path: Path) -> None:
    """Once a tile is full its partial versions are deleted; prefixes are still served."""
    store = TileStore(tmp_path)
    w = CalendarWriter(store)
    w.append(_records(100))
    w.append(_records(200, 100))
    assert not (tmp_path / "tile/0/000.p").exists()
    assert (tmp_path / "tile/0/001.p/44").exists()
    assert store.tile(TileId(0, 0, 100)) == store.tile(TileId(0, 0))[: 100 * 32]
