"""The second site: where snapshots are kept. A folder, or an S3-compatible store
(sild.embassy.s3site); both are a :class:`Site`.

::

    SITE/ID/manifest.note          the signed manifest (sild.embassy.manifest)
    SITE/ID/chunks/000000.age      ciphertext, one age file per chunk
    SITE/.partial-ID/              a snapshot being written; never listed or restored

A snapshot appears atomically: every chunk and the manifest are written and fsynced
into ``.partial-ID``, which is then renamed to ``ID`` and the site folder fsynced. An
interrupted backup (Ctrl-C, kill -9, full disk) leaves at most a ``.partial-`` folder,
which the next backup to the site removes (backups to one site take turns: a lock
file). The folder may be any mounted second site (NFS, an rsync target).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sild.errors import ConfigurationError, NotFound, SnapshotInvalid, StorageError

__all__ = ["FolderSite", "Site", "SiteWriter", "SnapshotWriter", "open_site"]

MANIFEST = "manifest.note"
_PARTIAL = ".partial-"
_MAX_MANIFEST = 1 << 20  # sild.core.note.MAX_NOTE_SIZE


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def chunk_name(index: int) -> str:
    return f"{index:06d}.age"


class SiteWriter(Protocol):
    """One snapshot being written: chunks, then the manifest makes it appear."""

    def put_chunk(self, index: int, data: bytes) -> None: ...
    def commit(self, manifest: bytes) -> str: ...  # where it is now
    def abort(self) -> None: ...


class Site(Protocol):
    """Where snapshots are kept. A snapshot is complete once its manifest is there."""

    @property
    def where(self) -> str: ...
    def lock(self) -> AbstractContextManager[None]: ...
    def writer(self, snapshot_id: str) -> SiteWriter: ...
    def remove_partials(self) -> list[str]: ...
    def partials(self) -> list[str]: ...
    def ids(self) -> list[str]: ...
    def resolve(self, snapshot: str) -> str: ...
    def manifest(self, snapshot_id: str) -> bytes: ...
    def chunk_names(self, snapshot_id: str) -> list[str]: ...
    def read_chunk(self, snapshot_id: str, index: int, *, limit: int) -> bytes: ...
    def hash_chunk(self, snapshot_id: str, index: int) -> tuple[str, int]: ...


def open_site(text: str, *, create: bool = False) -> Site:
    """``s3://BUCKET/PREFIX`` (sild.embassy.s3site) or a folder."""
    if text.startswith("s3://"):
        from sild.embassy.s3site import S3Site

        return S3Site.open(text)
    return FolderSite.open(Path(text), create=create)


def resolve_id(ids: list[str], snapshot: str, where: str) -> str:
    if snapshot == "latest":
        if not ids:
            raise NotFound(f"no snapshot at {where}")
        return ids[-1]
    if snapshot not in ids:
        raise NotFound(f"no snapshot {snapshot!r} at {where}")
    return snapshot


@dataclass
class SnapshotWriter:
    """Writes one snapshot into ``.partial-ID``; :meth:`commit` makes it appear."""

    site: Path
    id: str

    def __post_init__(self) -> None:
        self.partial = self.site / f"{_PARTIAL}{self.id}"
        try:
            (self.partial / "chunks").mkdir(parents=True)
        except OSError as e:
            raise StorageError(f"cannot write to the site {self.site}: {e.strerror or e}") from e

    def put_chunk(self, index: int, data: bytes) -> None:
        self._write(self.partial / "chunks" / chunk_name(index), data)

    def _write(self, path: Path, data: bytes) -> None:
        try:
            with path.open("xb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            raise StorageError(f"cannot write {path}: {e.strerror or e}") from e

    def commit(self, manifest: bytes) -> str:
        self._write(self.partial / MANIFEST, manifest)
        _fsync_dir(self.partial / "chunks")
        _fsync_dir(self.partial)
        final = self.site / self.id
        os.rename(self.partial, final)  # atomic within one file system
        _fsync_dir(self.site)
        return str(final)

    def abort(self) -> None:
        shutil.rmtree(self.partial, ignore_errors=True)


@dataclass(frozen=True)
class FolderSite:
    root: Path

    @classmethod
    def open(cls, path: Path, *, create: bool = False) -> FolderSite:
        if create:
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise ConfigurationError(f"--site {path}: {e.strerror or e}") from e
        if not path.is_dir():
            raise ConfigurationError(f"--site {path}: not a folder")
        return cls(path)

    def writer(self, snapshot_id: str) -> SnapshotWriter:
        return SnapshotWriter(self.root, snapshot_id)

    @contextmanager
    def lock(self) -> Iterator[None]:
        """One backup at a time per site (``SITE/.lock``, flock): while it is held, any
        ``.partial-`` folder is a leftover of a dead backup, safe to remove."""
        try:
            fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as e:
            raise StorageError(f"cannot write to the site {self.root}: {e.strerror}") from e
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as e:
                raise ConfigurationError(f"another backup to {self.root} is running") from e
            yield
        finally:
            os.close(fd)  # releases the lock

    def remove_partials(self) -> list[str]:
        """Leftovers of interrupted backups; removed, their names returned."""
        gone = []
        for p in self.root.glob(f"{_PARTIAL}*"):
            shutil.rmtree(p, ignore_errors=True)
            gone.append(p.name)
        return gone

    def partials(self) -> list[str]:
        return sorted(p.name for p in self.root.glob(f"{_PARTIAL}*"))

    def ids(self) -> list[str]:
        """Complete snapshots (those with a manifest), oldest first."""
        return sorted(p.name for p in self.root.iterdir()
                      if not p.name.startswith(".") and (p / MANIFEST).is_file())

    @property
    def where(self) -> str:
        return str(self.root)

    def resolve(self, snapshot: str) -> str:
        return resolve_id(self.ids(), snapshot, self.where)

    def manifest(self, snapshot_id: str) -> bytes:
        path = self.root / snapshot_id / MANIFEST
        try:
            with path.open("rb") as f:
                return f.read(_MAX_MANIFEST + 1)
        except OSError as e:
            raise SnapshotInvalid(f"cannot read {path}: {e.strerror or e}") from e

    def chunk_path(self, snapshot_id: str, index: int) -> Path:
        return self.root / snapshot_id / "chunks" / chunk_name(index)

    def chunk_names(self, snapshot_id: str) -> list[str]:
        folder = self.root / snapshot_id / "chunks"
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []

    def read_chunk(self, snapshot_id: str, index: int, *, limit: int) -> bytes:
        """A chunk's bytes, at most ``limit`` + 1 of them (so an oversized one shows)."""
        path = self.chunk_path(snapshot_id, index)
        try:
            with path.open("rb") as f:
                return f.read(limit + 1)
        except OSError as e:
            raise SnapshotInvalid(f"chunk {index} is missing or unreadable "
                                  f"({e.strerror or e})") from e

    def hash_chunk(self, snapshot_id: str, index: int) -> tuple[str, int]:
        """SHA-256 and size of a chunk, read in pieces (pass 1 of a restore)."""
        h, n = hashlib.sha256(), 0
        try:
            with self.chunk_path(snapshot_id, index).open("rb") as f:
                while block := f.read(1 << 20):
                    h.update(block)
                    n += len(block)
        except OSError as e:
            raise SnapshotInvalid(f"chunk {index} is missing or unreadable "
                                  f"({e.strerror or e})") from e
        return h.hexdigest(), n
