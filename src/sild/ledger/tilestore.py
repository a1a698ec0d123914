"""The calendar as C2SP tlog-tiles static files (docs/spec/ledger.md §3.2).

:class:`TileStore` is a folder any web server can serve: ``checkpoint``,
``tile/<L>/<N>[.p/<W>]``, ``tile/entries/<N>[.p/<W>]`` and the publications. Files are
written atomically (temporary file, then rename), so a reader sees a whole tile or none.

:class:`CalendarWriter` appends calendar records. It holds only the *right edge* of the
tree in memory — the rightmost, partial tile of each level (at most 256 hashes per
level) and the current entry bundle — and reads everything else from the files, so
memory does not grow with the log (issue 4: 200 MB at 10 M leaves).
"""

from __future__ import annotations

import os
import shutil
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path

from sild.core.calendar import RECORD_SIZE, CalendarRecord
from sild.core.ledger_errors import LedgerFormatError
from sild.core.merkle import HASH_SIZE, LeafHash, RootHash, root_from, root_of
from sild.core.tiles import (
    TILE_HEIGHT,
    TILE_WIDTH,
    TileId,
    TileReader,
    encode_bundle,
    entries_path,
    parse_bundle,
)
from sild.errors import StorageError

__all__ = ["CalendarWriter", "TileStore", "replay"]


class TileStore:
    """Reads and writes the static files under ``root``; caches full tiles (immutable)."""

    def __init__(self, root: Path, *, cache_tiles: int = 512) -> None:
        self.root = root
        self._cache: OrderedDict[TileId, bytes] = OrderedDict()
        self._cache_max = cache_tiles

    def write(self, rel: str, data: bytes) -> None:
        """Write ``root/rel`` atomically."""
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, path)
        except OSError as e:
            raise StorageError(f"cannot write {path}: {e}") from e

    def drop_partials(self, full: str) -> None:
        """Delete the partial versions of a tile once the full one exists (§3.2)."""
        shutil.rmtree(self.root / (full + ".p"), ignore_errors=True)

    def read(self, rel: str) -> bytes | None:
        """The bytes of ``root/rel``, or None if absent."""
        try:
            return (self.root / rel).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise StorageError(f"cannot read {self.root / rel}: {e}") from e

    def tile(self, tile: TileId) -> bytes:
        """A tile of exactly ``tile.width`` hashes.

        A partial tile may be read as a prefix of the full tile or of a wider partial
        tile: hashes of complete subtrees never change as the log grows.
        """
        cached = self._cache.get(tile)
        if cached is not None:
            self._cache.move_to_end(tile)
            return cached
        want = HASH_SIZE * tile.width
        data = self.read(tile.path())
        if data is None and tile.is_partial:
            data = self.read(TileId(tile.level, tile.index).path())
            if data is None:
                data = self._wider_partial(tile)
        if data is None or len(data) < want:
            raise LedgerFormatError(f"tile {tile.path()} is missing or truncated")
        data = data[:want]
        if not tile.is_partial:
            self._cache[tile] = data
            if len(self._cache) > self._cache_max:
                self._cache.popitem(last=False)
        return data

    def _wider_partial(self, tile: TileId) -> bytes | None:
        folder = self.root / (TileId(tile.level, tile.index).path() + ".p")
        try:
            widths = sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit())
        except FileNotFoundError:
            return None
        for w in widths:
            if w >= tile.width:
                return self.read(tile.path().rsplit(".p/", 1)[0] + f".p/{w}")
        return None

    def bundle(self, index: int, width: int) -> list[bytes]:
        """The entries of bundle ``index`` (a prefix of ``width`` entries)."""
        data = self.read(entries_path(index, width))
        if data is None and width < TILE_WIDTH:
            data = self.read(entries_path(index))
        if data is None:
            raise LedgerFormatError(f"entry bundle {entries_path(index, width)} is missing")
        entries = parse_bundle(data)
        if len(entries) < width:
            raise LedgerFormatError(f"entry bundle {entries_path(index, width)} is truncated")
        return entries[:width]


class CalendarWriter:
    """Appends calendar records and writes the changed tiles; see the module docstring."""

    def __init__(self, store: TileStore, size: int = 0) -> None:
        self.store = store
        self.size = size
        # edge[L] = hashes of the rightmost partial tile at tile level L.
        self._edge: list[list[bytes]] = []
        self._entries: list[bytes] = []
        if size:
            self._load()

    def _load(self) -> None:
        """Read the right edge back from the files (docs/spec/ledger.md §3.3)."""
        level = 0
        while self.size >> (TILE_HEIGHT * level):
            count = self.size >> (TILE_HEIGHT * level)
            n, w = divmod(count, TILE_WIDTH)
            if w:
                data = self.store.tile(TileId(level, n, w))
                hashes = [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]
                self._edge.append(hashes)
            else:
                self._edge.append([])
            level += 1
        n, w = divmod(self.size, TILE_WIDTH)
        self._entries = self.store.bundle(n, w) if w else []
        if any(len(e) != RECORD_SIZE for e in self._entries):
            raise LedgerFormatError("calendar entry bundle holds a record of the wrong size")

    def fetch(self, tile: TileId) -> bytes:
        """A :data:`~sild.core.tiles.TileFetch`: the right edge from memory, the rest from files."""
        level_count = self.size >> (TILE_HEIGHT * tile.level)
        if tile.index == level_count // TILE_WIDTH and tile.level < len(self._edge):
            edge = self._edge[tile.level]
            if tile.width <= len(edge):
                return b"".join(edge[: tile.width])
        return self.store.tile(tile)

    def reader(self, size: int | None = None) -> TileReader:
        """A node reader over the tree of ``size`` (default: the current size)."""
        return TileReader(self.fetch, self.size if size is None else size)

    def append(self, records: Sequence[CalendarRecord]) -> None:
        """Append records and write every new full tile and the new partial tiles.

        Write these *before* the database commit that makes them part of the log: a
        crash in between leaves files beyond the committed size, overwritten later.
        """
        changed: set[int] = set()
        for rec in records:
            entry = rec.to_bytes()
            self._entries.append(entry)
            if len(self._entries) == TILE_WIDTH:
                full = entries_path(self.size // TILE_WIDTH)
                self.store.write(full, encode_bundle(self._entries))
                self.store.drop_partials(full)
                self._entries = []
            self._push(0, rec.leaf(), self.size, changed)
            self.size += 1
        for level in changed:
            edge = self._edge[level]
            if edge:
                n = (self.size >> (TILE_HEIGHT * level)) // TILE_WIDTH
                self.store.write(TileId(level, n, len(edge)).path(), b"".join(edge))
        if self._entries and records:
            n = self.size // TILE_WIDTH
            self.store.write(entries_path(n, len(self._entries)), encode_bundle(self._entries))

    def _push(self, level: int, h: bytes, old_size: int, changed: set[int]) -> None:
        while True:
            if level == len(self._edge):
                self._edge.append([])
            edge = self._edge[level]
            edge.append(h)
            changed.add(level)
            if len(edge) < TILE_WIDTH:
                return
            # A full tile: write it, and its root becomes the next level's hash.
            n = (old_size >> (TILE_HEIGHT * level)) // TILE_WIDTH
            self.store.write(TileId(level, n).path(), b"".join(edge))
            self.store.drop_partials(TileId(level, n).path())
            h = root_of([LeafHash(x) for x in edge])
            self._edge[level] = []
            level += 1

    def root(self) -> RootHash:
        """The root of the calendar at its current size."""
        return root_from(self.reader().node, self.size)

    def records(self, first: int, count: int) -> list[CalendarRecord]:
        """Calendar records ``first .. first + count - 1`` from the entry bundles."""
        out: list[CalendarRecord] = []
        i = first
        end = min(first + count, self.size)
        while i < end:
            n = i // TILE_WIDTH
            if n == self.size // TILE_WIDTH:
                bundle = self._entries
            else:
                bundle = self.store.bundle(n, TILE_WIDTH)
            for e in bundle[i % TILE_WIDTH : i % TILE_WIDTH + (end - i)]:
                out.append(CalendarRecord.parse(e))
            i = (n + 1) * TILE_WIDTH
        return out


def replay(
    store: TileStore, records: Iterable[CalendarRecord], *, chunk: int = 4096
) -> CalendarWriter:
    """Rebuild every tile from the records (after a crash lost files, or for a new folder)."""
    writer = CalendarWriter(store)
    batch: list[CalendarRecord] = []
    for rec in records:
        batch.append(rec)
        if len(batch) >= chunk:
            writer.append(batch)
            batch = []
    writer.append(batch)
    return writer
