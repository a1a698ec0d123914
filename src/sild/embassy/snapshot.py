"""Backup, verify and restore of one role's state through a second site.

The payload of a snapshot is a POSIX tar stream (PAX), encrypted in chunks
(sild.embassy.stream) and listed in a signed manifest (sild.embassy.manifest)::

    snapshot.json             kind, time, files, databases (engine, revisions, row
                              counts, anchoring state): the restore's plan
    files/REL                 the role folder's files (settings, keys, certificates)
    db/NAME.sqlite            a SQLite image (VACUUM INTO), or
    db/NAME/TABLE.copy        PostgreSQL COPY text of one table (sild.embassy.databases)

Restore order, so that nothing is written before the snapshot is proven authentic:
(1) manifest signature against the trusted site keys; (2) every chunk's SHA-256 and size
against the manifest; (3) the first chunk decrypts with the given identity; (4) the
targets are new and empty; only then (5) the stream is decrypted (each chunk hashed
again as it is read) into a staging folder beside the target, (6) PostgreSQL databases
loaded in one transaction each, SQLite images moved into place, settings re-pointed,
and (7) the staging folder renamed to the target.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import tarfile
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any, cast

import pyrage

from sild.core.note import Ed25519Verifier
from sild.embassy.databases import (
    database_is_empty,
    dump_postgres,
    image_sqlite,
    restore_postgres,
    sqlite_path,
)
from sild.embassy.keys import SiteKey
from sild.embassy.manifest import Manifest, VerifiedManifest, sign_manifest, verify_manifest
from sild.embassy.roles import Role, detect, repoint
from sild.embassy.site import Site
from sild.embassy.stream import DEFAULT_CHUNK, ChunkReader, ChunkWriter, decrypt_chunk
from sild.errors import ConfigurationError, SnapshotInvalid, StorageError

__all__ = ["BackupResult", "RestoreResult", "backup", "restore", "verify"]

META = "snapshot.json"
_MAX_META = 1 << 20


@dataclass(frozen=True)
class BackupResult:
    manifest: Manifest
    path: str  # where the snapshot is
    plain_bytes: int
    meta: dict[str, Any]


@dataclass
class RestoreResult:
    target: Path
    verified: VerifiedManifest
    meta: dict[str, Any]
    urls: dict[str, str] = field(default_factory=dict)


def _snapshot_id(at: datetime) -> str:
    return f"{at.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(4)}"


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, at: datetime) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o600, int(at.timestamp())
    tar.addfile(info, io.BytesIO(data))


def backup(root: Path, site: Site, *, key: SiteKey,
           recipients: Sequence[pyrage.x25519.Recipient] = (), at: datetime,
           chunk_size: int = DEFAULT_CHUNK, work_dir: Path | None = None) -> BackupResult:
    """Snapshot the role folder ``root`` to ``site``, encrypted to the site's own key and
    ``recipients``, signed with ``key``. Atomic: on any failure or Ctrl-C nothing appears."""
    role = detect(root)
    with site.lock():
        site.remove_partials()  # leftovers of an interrupted backup (kill -9)
        return _backup(role, site, key=key, recipients=recipients, at=at,
                       chunk_size=chunk_size, work_dir=work_dir)


def _backup(role: Role, site: Site, *, key: SiteKey,
            recipients: Sequence[pyrage.x25519.Recipient], at: datetime, chunk_size: int,
            work_dir: Path | None) -> BackupResult:
    to = [key.public().recipient, *recipients]
    names = list(dict.fromkeys(str(r) for r in to))
    snap_id = _snapshot_id(at)
    with tempfile.TemporaryDirectory(prefix="sild-embassy-", dir=work_dir) as tmp:
        stage = Path(tmp)
        dbs: list[dict[str, Any]] = []
        for db in role.databases:  # consistent images first: the slow part, before the site
            if db.engine_kind == "sqlite":
                dbs.append(image_sqlite(db, stage / f"{db.name}.sqlite"))
            else:
                dbs.append(dump_postgres(db, stage / db.name))
        files = role.files()
        meta = {"kind": role.kind, "created_at": at.isoformat(), "source": str(role.root),
                "files": [str(PurePosixPath(*f.parts)) for f in files], "databases": dbs}
        writer = site.writer(snap_id)
        try:
            out = ChunkWriter(writer, to, chunk_size)
            with tarfile.open(fileobj=cast("IO[bytes]", out), mode="w|",
                              format=tarfile.PAX_FORMAT) as tar:
                _add_bytes(tar, META, json.dumps(meta, sort_keys=True).encode(), at)
                for rel, posix in zip(files, meta["files"], strict=True):
                    tar.add(role.root / rel, arcname=f"files/{posix}", recursive=False)
                for info in dbs:
                    name = info["name"]
                    if info["format"] == "sqlite-image":
                        tar.add(stage / f"{name}.sqlite", arcname=f"db/{name}.sqlite")
                    else:
                        for table in info["rows"]:
                            tar.add(stage / name / f"{table}.copy",
                                    arcname=f"db/{name}/{table}.copy")
            chunks = out.finish()
            manifest = Manifest(id=snap_id, kind=role.kind, created_at=at.isoformat(),
                                source=role.root.name, recipients=tuple(names),
                                chunks=tuple(chunks))
            path = writer.commit(sign_manifest(manifest, signer=key.signer))
        except BaseException:
            writer.abort()
            raise
    return BackupResult(manifest, path, out.plain_bytes, meta)


def verify(site: Site, snapshot_id: str, *,
           trusted: Sequence[Ed25519Verifier]) -> VerifiedManifest:
    """Restore steps (1) and (2): signature, then every chunk's hash and size; no key
    needed, so the embassy itself can run it."""
    raw = site.manifest(snapshot_id)
    verified = verify_manifest(raw, trusted=trusted)
    m = verified.manifest
    if m.id != snapshot_id:
        raise SnapshotInvalid(f"manifest is for snapshot {m.id}, found under {snapshot_id}")
    names = site.chunk_names(snapshot_id)
    expected = [f"{i:06d}.age" for i in range(len(m.chunks))]
    if names != expected:
        extra = sorted(set(names) - set(expected))
        missing = sorted(set(expected) - set(names))
        raise SnapshotInvalid(f"chunk files do not match the manifest (missing {missing[:3]}, "
                              f"unexpected {extra[:3]})")
    for i, want in enumerate(m.chunks):
        sha, size = site.hash_chunk(snapshot_id, i)
        if (sha, size) != (want.sha256, want.size):
            raise SnapshotInvalid(f"chunk {i} does not match the signed manifest "
                                  "(altered or truncated)")
    return verified


@contextmanager
def _payload(stream: IO[bytes]) -> Iterator[tarfile.TarFile]:
    """The decrypted tar stream; a broken one (signed, yet not a tar) is SnapshotInvalid."""
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            yield tar
    except tarfile.TarError as e:
        raise SnapshotInvalid(f"payload is not a valid tar stream ({e})") from e


def _read_meta(tar: tarfile.TarFile) -> dict[str, Any]:
    first = tar.next()
    if first is None or first.name != META or not first.isfile() or first.size > _MAX_META:
        raise SnapshotInvalid(f"payload does not start with {META}")
    f = tar.extractfile(first)
    assert f is not None  # a regular file always has one
    try:
        meta: dict[str, Any] = json.loads(f.read())
        if not isinstance(meta["kind"], str) or not isinstance(meta["databases"], list):
            raise TypeError("kind or databases")
        for db in meta["databases"]:
            if db["format"] not in ("sqlite-image", "pg-copy-binary"):
                raise SnapshotInvalid(f"unknown database format {db['format']!r}")
            if db["engine"] not in ("sqlite", "postgresql") or not (
                    isinstance(db["name"], str) and isinstance(db["rows"], dict)
                    and isinstance(db["versions"], dict)):
                raise TypeError(f"database entry {db.get('name')!r}")
    except (ValueError, KeyError, TypeError) as e:
        raise SnapshotInvalid(f"malformed {META} ({e})") from e
    return meta


def _safe_rel(name: str, prefix: str) -> Path:
    """``prefix/REL`` → REL, refusing absolute paths and ``..`` (tar path traversal)."""
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or len(p.parts) < 2 or p.parts[0] != prefix:
        raise SnapshotInvalid(f"unsafe path in the payload: {name!r}")
    return Path(*p.parts[1:])


def _plan_urls(meta: Mapping[str, Any], target: Path,
               given: Mapping[str, str]) -> dict[str, str]:
    """Database name → URL of the restored database, each checked new and empty."""
    names = [db["name"] for db in meta["databases"]]
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise ConfigurationError(f"--database {unknown[0]}: the snapshot has no such database "
                                 f"(it has {', '.join(names)})")
    urls: dict[str, str] = {}
    for db in meta["databases"]:
        name = db["name"]
        if db["engine"] == "sqlite":
            url = given.get(name) or (
                f"sqlite:///{target / (db['relpath'] or f'{name}.db')}")
            if not url.startswith("sqlite"):
                raise ConfigurationError(f"--database {name}: the snapshot holds a SQLite image; "
                                         "restore it to a sqlite:/// URL (cross-engine "
                                         "restore is not supported yet)")
            if sqlite_path(url).exists():
                raise ConfigurationError(f"{sqlite_path(url)} exists; restore only into a new "
                                         "database")
        else:
            url = given.get(name, "")
            if not url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
                raise ConfigurationError(
                    f"the snapshot's {name} database is PostgreSQL: give --database "
                    f"{name}=postgresql://… naming a new, empty database")
            if not database_is_empty(url):
                raise ConfigurationError(f"the {name} target database is not empty; restore "
                                         "only into a new, empty database")
        urls[name] = url
    return urls


def _check_target(target: Path) -> None:
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ConfigurationError(f"{target} is not empty; restore only into a new or empty "
                                 "folder (a fresh machine)")
    if not target.parent.is_dir():
        raise ConfigurationError(f"{target.parent} does not exist")


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path) -> None:
    if not member.isfile():
        raise SnapshotInvalid(f"payload entry {member.name!r} is not a regular file")
    dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    src = tar.extractfile(member)
    assert src is not None
    try:
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, member.mode & 0o700 or 0o600)
    except FileExistsError as e:
        raise SnapshotInvalid(f"payload entry {member.name!r} appears twice") from e
    except OSError as e:
        raise StorageError(f"cannot write {dest}: {e.strerror or e}") from e
    with os.fdopen(fd, "wb") as f:
        shutil.copyfileobj(src, f, 1 << 20)
        f.flush()
        os.fsync(f.fileno())


def restore(site: Site, snapshot_id: str, *, trusted: Sequence[Ed25519Verifier],
            identities: Sequence[pyrage.x25519.Identity], target: Path,
            databases: Mapping[str, str] | None = None) -> RestoreResult:
    """Rebuild a role folder (and its databases) from a snapshot; see the module doc for
    the order of checks. ``databases``: database name → URL for the restored copies
    (default: SQLite files in ``target``; PostgreSQL snapshots need one)."""
    target = target.absolute()
    verified = verify(site, snapshot_id, trusted=trusted)  # (1), (2)
    m = verified.manifest
    limit = max(c.size for c in m.chunks)
    decrypt_chunk(site.read_chunk(m.id, 0, limit=m.chunks[0].size), identities, 0)  # (3)
    _check_target(target)  # (4)
    reader = ChunkReader(site, verified, identities, limit)
    stream = cast("IO[bytes]", io.BufferedReader(reader, 1 << 20))
    stage = target.parent / f".{target.name}.restoring-{secrets.token_hex(4)}"
    placed: list[Path] = []
    try:
        with _payload(stream) as tar:
            meta = _read_meta(tar)
            if meta.get("kind") != m.kind:
                raise SnapshotInvalid("payload kind differs from the signed manifest")
            urls = _plan_urls(meta, target, databases or {})  # (4) databases new and empty
            stage.mkdir(mode=0o700)
            dbdir = stage / ".embassy-db"
            while (member := tar.next()) is not None:  # (5)
                if member.name.startswith("files/"):
                    _extract(tar, member, stage / _safe_rel(member.name, "files"))
                else:
                    _extract(tar, member, dbdir / _safe_rel(member.name, "db"))
        for db in meta["databases"]:  # (6)
            name, url = db["name"], urls[db["name"]]
            if db["format"] == "pg-copy-binary":
                restore_postgres(url, db, dbdir / name)
                continue
            image = dbdir / f"{name}.sqlite"
            if not image.is_file():
                raise SnapshotInvalid(f"snapshot lacks the {name} database image")
            final = sqlite_path(url)
            if final.is_relative_to(target):
                os.replace(image, stage / final.relative_to(target))
            else:
                final.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(image, final)
                placed.append(final)
        repoint(m.kind, stage, urls)
        shutil.rmtree(dbdir, ignore_errors=True)
        (stage / "embassy-restored.json").write_text(json.dumps(
            {"snapshot": m.id, "signed_by": verified.signer, "created_at": m.created_at,
             "databases": meta["databases"]}, indent=2, sort_keys=True) + "\n")
        if target.exists():
            target.rmdir()  # empty, checked in (4)
        os.rename(stage, target)  # (7)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        for p in placed:
            p.unlink(missing_ok=True)
        raise
    return RestoreResult(target, verified, meta, urls)

