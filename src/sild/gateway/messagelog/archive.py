"""Message-log archives: export a time range to a signed ZIP, verify it, purge what is archived.

X-Road archives its message log into ZIP files linked by a digest chain
(``last_archive_digest``) and purges the database after ``keep-records-for`` days
(research/xroad.md §3.4 "Archiving"). A Sild archive is a ZIP with three members::

    records.jsonl        one canonical-JSON line per record: the hashed content
                         (sild.gateway.messagelog.record_content), id, body, record_hash
    manifest.json        canonical JSON: time range, count, ids, SHA-256 of records.jsonl,
                         SHA-256 of the previous archive file (the chain), signer key id
    manifest.dsse.json   the manifest in a DSSE envelope signed with the gateway's sign key

The ZIP is written by this module byte for byte (no timestamps, no extra fields), so
:func:`verify_archive` can check every byte of it: member data through CRC-32 and the
signed SHA-256, everything else against the exact layout the writer produces. A
flipped byte anywhere is an error.

Each record is archived once: export takes the records of [start, end) that are not
yet in an archive and marks exactly those (``message_log.archive_id``); purge deletes
only marked records, so a record committed after an export can never be purged
unexported.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from sild.core.canonical import canonical_json, parse_json_object
from sild.core.dsse import Envelope, Signature
from sild.crypto.keys import PrivateKey, PublicKey, key_id, sign, verify
from sild.errors import (
    ArchiveInvalid,  # re-exported
    ConfigurationError,
    InvalidRequest,
    SignatureError,
    StorageError,
)
from sild.gateway.messagelog.log import format_ts, parse_ts, record_content, record_hash
from sild.store.messagelog_tables import log_archives, message_log, opmon_records

__all__ = [
    "ARCHIVE_FORMAT",
    "MANIFEST_TYPE",
    "ArchiveInvalid",
    "ArchiveSummary",
    "LogStats",
    "PurgeResult",
    "export_archive",
    "log_stats",
    "purge",
    "verify_archive",
]

ARCHIVE_FORMAT = "sild.messagelog.archive/1"
MANIFEST_TYPE = "application/vnd.sild.messagelog-manifest+json"  # DSSE payloadType
RECORDS, MANIFEST, SIGNED_MANIFEST = "records.jsonl", "manifest.json", "manifest.dsse.json"
_MEMBERS = (RECORDS, MANIFEST, SIGNED_MANIFEST)
_CHUNK = 1000  # rows read per query and ids marked per UPDATE
_CONTENT_KEYS = frozenset(record_content(
    logged_at=datetime(2000, 1, 1, tzinfo=UTC), side="", kind="", message_id="",
    request_id="", client_id="", service_id="", envelope=b"", signature=b"",
    signer_cert_fingerprint="", body_digest=b"", status=None))
_LINE_KEYS = _CONTENT_KEYS | {"id", "body", "record_hash"}


@dataclass(frozen=True, slots=True)
class ArchiveSummary:
    """What :func:`verify_archive` proved about one archive file."""

    file_sha256: bytes
    start: datetime
    end: datetime
    records: int
    first_id: int | None
    last_id: int | None
    records_sha256: bytes
    previous_sha256: bytes | None
    key_id: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PurgeResult:
    message_log: int
    opmon_records: int


@dataclass(frozen=True, slots=True)
class LogStats:
    records: int
    archived: int
    with_body: int
    opmon_records: int
    archives: int
    oldest: datetime | None
    newest: datetime | None

    @property
    def unarchived(self) -> int:
        return self.records - self.archived


def _utc(when: datetime) -> datetime:
    """A database time as aware UTC (SQLite hands back naive UTC)."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _aware(when: datetime, what: str) -> datetime:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ConfigurationError(f"{what} must be timezone-aware")
    return when.astimezone(UTC)


# -- the ZIP layout (APPNOTE.TXT §4.3), written and checked byte for byte ------------

_DOS_DATE = (1 << 5) | 1  # 1980-01-01, the earliest DOS date: archives carry no clock
_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_END = struct.Struct("<IHHHHIIH")


@dataclass(frozen=True, slots=True)
class _Member:
    name: str
    crc: int
    size: int
    compressed: int
    offset: int


def _method(name: str) -> int:
    """records.jsonl is deflated; the small manifests are stored as they are."""
    return zipfile.ZIP_DEFLATED if name == RECORDS else zipfile.ZIP_STORED


def _local_header(m: _Member) -> bytes:
    name = m.name.encode("ascii")
    return _LOCAL.pack(0x04034B50, 20, 0, _method(m.name), 0, _DOS_DATE, m.crc,
                       m.compressed, m.size, len(name), 0) + name


def _central(members: list[_Member]) -> bytes:
    out = bytearray()
    for m in members:
        name = m.name.encode("ascii")
        out += _CENTRAL.pack(0x02014B50, 20, 20, 0, _method(m.name), 0, _DOS_DATE, m.crc,
                             m.compressed, m.size, len(name), 0, 0, 0, 0, 0, m.offset) + name
    start = members[-1].offset + len(_local_header(members[-1])) + members[-1].compressed
    return bytes(out) + _END.pack(0x06054B50, 0, 0, len(members), len(members), len(out),
                                  start, 0)


# -- export ---------------------------------------------------------------------------

def _line(row: Any) -> bytes:
    content = record_content(
        logged_at=_utc(row.logged_at), side=row.side, kind=row.kind, message_id=row.message_id,
        request_id=row.request_id, client_id=row.client_id, service_id=row.service_id,
        envelope=row.envelope, signature=row.signature,
        signer_cert_fingerprint=row.signer_cert_fingerprint, body_digest=row.body_digest,
        status=row.status)
    if record_hash(content) != row.record_hash:
        raise StorageError(f"message_log row {row.id} does not match its record_hash: "
                           "the row was changed after it was logged; run an audit")
    content["id"] = row.id
    content["body"] = None if row.body is None else base64.b64encode(row.body).decode()
    content["record_hash"] = base64.b64encode(row.record_hash).decode()
    return canonical_json(content) + b"\n"


def _rows(engine: Engine, start: datetime, end: datetime) -> Iterator[Any]:
    last = -1
    while True:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(message_log)
                .where(message_log.c.archive_id.is_(None), message_log.c.logged_at >= start,
                       message_log.c.logged_at < end, message_log.c.id > last)
                .order_by(message_log.c.id).limit(_CHUNK)).all()
        yield from rows
        if len(rows) < _CHUNK:
            return
        last = rows[-1].id


def _last_archive(conn: sa.Connection) -> bytes | None:
    value = conn.execute(sa.select(log_archives.c.sha256)
                         .order_by(log_archives.c.id.desc()).limit(1)).scalar()
    return bytes(value) if value is not None else None


def export_archive(engine: Engine, *, start: datetime, end: datetime, sign_key: PrivateKey,
                   out_dir: Path, at: datetime | None = None) -> Path:
    """Write the unarchived records of [start, end) to a signed archive in ``out_dir``.

    Records the archive in ``log_archives`` (chained to the previous one) and marks its
    records, in one transaction after the file is durable. Returns the file's path,
    ``mlog-{start}-{end}-{sha256[:16]}.zip`` like X-Road's archive names (§3.4).
    """
    start, end = _aware(start, "start"), _aware(end, "end")
    if start >= end:
        raise ConfigurationError("export range is empty: --from must be before --to")
    created = _aware(at, "at") if at is not None else datetime.now(UTC)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        with engine.connect() as conn:
            previous = _last_archive(conn)
        fd, tmp_name = tempfile.mkstemp(dir=out_dir, prefix=".mlog-", suffix=".tmp")
        tmp = Path(tmp_name)
    except SQLAlchemyError as e:
        raise StorageError(f"cannot read the message log: {e}") from e
    except OSError as e:
        raise ConfigurationError(f"cannot write to {out_dir}: {e.strerror}") from e
    final: Path | None = None
    try:
        with os.fdopen(fd, "w+b") as f:
            # (1) records.jsonl, streamed and deflated after room for its local header
            header_len = len(_local_header(_Member(RECORDS, 0, 0, 0, 0)))
            f.write(b"\0" * header_len)
            ids: list[int] = []
            sha, raw_sha, crc, size = hashlib.sha256(), hashlib.sha256(), 0, 0
            deflater = zlib.compressobj(6, zlib.DEFLATED, -15)
            for row in _rows(engine, start, end):
                line = _line(row)
                ids.append(row.id)
                sha.update(line)
                crc = zlib.crc32(line, crc)
                size += len(line)
                chunk = deflater.compress(line)
                raw_sha.update(chunk)
                f.write(chunk)
            chunk = deflater.flush()
            raw_sha.update(chunk)
            f.write(chunk)
            records_end = f.tell()
            if max(size, records_end) >= 0xFFFFFFFF:
                raise StorageError("archive too large for ZIP32: export a shorter range")
            first = _Member(RECORDS, crc, size, records_end - header_len, 0)
            f.seek(0)
            f.write(_local_header(first))
            f.seek(records_end)
            members = [first]
            # (2) the manifest, plain and signed (DSSE)
            public = sign_key.public_key()
            manifest = canonical_json({
                "format": ARCHIVE_FORMAT,
                "from": format_ts(start),
                "to": format_ts(end),
                "created_at": format_ts(created),
                "records": len(ids),
                "first_id": ids[0] if ids else None,
                "last_id": ids[-1] if ids else None,
                "records_sha256": sha.hexdigest(),
                # the deflated bytes too: a deflate stream has slack (final-block flag,
                # padding bits) that decompression alone would not notice
                "records_deflated_sha256": raw_sha.hexdigest(),
                "previous_archive_sha256": previous.hex() if previous else None,
                "key_id": key_id(public),
            })
            unsigned = Envelope(MANIFEST_TYPE, manifest, ())
            envelope = Envelope(MANIFEST_TYPE, manifest, (Signature(
                key_id(public), sign(key=sign_key, data=unsigned.signed_bytes())),)).encode()
            for member_name, data in ((MANIFEST, manifest), (SIGNED_MANIFEST, envelope)):
                m = _Member(member_name, zlib.crc32(data), len(data), len(data), f.tell())
                members.append(m)
                f.write(_local_header(m))
                f.write(data)
            # (3) the central directory, then make it durable and hash the whole file
            f.write(_central(members))
            f.flush()
            os.fsync(f.fileno())
            f.seek(0)
            file_sha = hashlib.sha256()
            while block := f.read(1 << 20):
                file_sha.update(block)
            digest = file_sha.digest()
        final = out_dir / (f"mlog-{start:%Y%m%dT%H%M%SZ}-{end:%Y%m%dT%H%M%SZ}-"
                           f"{digest.hex()[:16]}.zip")
        os.replace(tmp, final)
        _fsync_dir(out_dir)
        # (4) record the archive and mark exactly the records it holds
        with engine.begin() as conn:
            if _last_archive(conn) != previous:
                raise StorageError("another export finished meanwhile; run export again")
            archive_id = conn.execute(log_archives.insert().values(
                created_at=created, from_ts=start, to_ts=end, records=len(ids),
                file_name=final.name, sha256=digest, previous_sha256=previous,
            ).returning(log_archives.c.id)).scalar_one()
            for i in range(0, len(ids), _CHUNK):
                conn.execute(message_log.update()
                             .where(message_log.c.id.in_(ids[i:i + _CHUNK]))
                             .values(archive_id=archive_id))
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if final is not None:
            final.unlink(missing_ok=True)
        if isinstance(e, SQLAlchemyError):
            raise StorageError(f"message-log export failed: {e}") from e
        if isinstance(e, OSError):
            raise ConfigurationError(f"cannot write the archive in {out_dir}: {e}") from e
        raise
    return final


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- verify ---------------------------------------------------------------------------

def _check_layout(path: Path, zf: zipfile.ZipFile) -> list[_Member]:
    """Every byte outside member data must be what the writer produces."""
    infos = zf.infolist()
    if tuple(i.filename for i in infos) != _MEMBERS:
        raise ArchiveInvalid(f"{path.name}: members are not {', '.join(_MEMBERS)}")
    members: list[_Member] = []
    offset = 0
    with path.open("rb") as f:
        for info in infos:
            m = _Member(info.filename, info.CRC, info.file_size, info.compress_size, offset)
            header = _local_header(m)
            f.seek(offset)
            if info.header_offset != offset or f.read(len(header)) != header:
                raise ArchiveInvalid(f"{path.name}: {info.filename} header was altered")
            members.append(m)
            offset += len(header) + info.compress_size
        tail = _central(members)
        f.seek(offset)
        if f.read() != tail:
            raise ArchiveInvalid(f"{path.name}: ZIP directory was altered or data appended")
    return members


def _manifest(path: Path, zf: zipfile.ZipFile, public_key: PublicKey) -> dict[str, Any]:
    manifest = zf.read(MANIFEST)
    signed = zf.read(SIGNED_MANIFEST)
    envelope = Envelope.parse(signed, what=f"{path.name} signed manifest")
    if envelope.payload_type != MANIFEST_TYPE:
        raise ArchiveInvalid(f"{path.name}: signed manifest has type {envelope.payload_type!r}")
    if envelope.payload != manifest:
        raise ArchiveInvalid(f"{path.name}: manifest.json differs from the signed manifest")
    if envelope.encode() != signed:
        raise ArchiveInvalid(f"{path.name}: signed manifest is not in its canonical form")
    kid = key_id(public_key)
    sigs = [s for s in envelope.signatures if s.keyid == kid]
    if not sigs:
        raise SignatureError(f"{path.name}: manifest is not signed by key {kid}")
    verify(public_key=public_key, signature=sigs[0].sig, data=envelope.signed_bytes())
    data = parse_json_object(manifest, f"{path.name} manifest")
    if data.get("format") != ARCHIVE_FORMAT:
        raise ArchiveInvalid(f"{path.name}: not a {ARCHIVE_FORMAT} archive")
    return data


def _check_line(path: Path, n: int, raw: bytes, start: datetime, end: datetime) -> int:
    where = f"{path.name}: record line {n}"
    try:
        obj = json.loads(raw)
    except ValueError as e:
        raise ArchiveInvalid(f"{where} is not JSON") from e
    if not isinstance(obj, dict) or set(obj) != _LINE_KEYS:
        raise ArchiveInvalid(f"{where} has the wrong fields")
    if canonical_json(obj) + b"\n" != raw:
        raise ArchiveInvalid(f"{where} is not canonical JSON")
    content = {k: obj[k] for k in _CONTENT_KEYS}
    try:
        stored = base64.b64decode(obj["record_hash"], validate=True)
        digest = base64.b64decode(obj["body_digest"], validate=True)
        body = None if obj["body"] is None else base64.b64decode(obj["body"], validate=True)
        logged_at = parse_ts(obj["logged_at"])
    except (binascii.Error, ValueError, TypeError) as e:
        raise ArchiveInvalid(f"{where}: malformed field ({e})") from e
    if record_hash(content) != stored:
        raise ArchiveInvalid(f"{where}: record_hash does not match the record")
    if body is not None and hashlib.sha512(body).digest() != digest:
        raise ArchiveInvalid(f"{where}: body does not match its SHA-512 digest")
    if not start <= logged_at < end:
        raise ArchiveInvalid(f"{where}: logged_at is outside the archive's time range")
    record_id = obj["id"]
    if not isinstance(record_id, int) or isinstance(record_id, bool):
        raise ArchiveInvalid(f"{where}: id is not an integer")
    return record_id


def _raw_blocks(f: IO[bytes], m: _Member) -> Iterator[bytes]:
    """The stored (deflated) bytes of member ``m``, in blocks."""
    f.seek(m.offset + len(_local_header(m)))
    left = m.compressed
    while left:
        block = f.read(min(left, 1 << 20))
        if not block:
            raise ArchiveInvalid(f"{m.name} is truncated")
        left -= len(block)
        yield block


def _record_lines(path: Path, m: _Member, deflated_sha: bytes) -> Iterator[bytes]:
    """The lines of records.jsonl, after its deflated bytes matched the signed digest."""
    with path.open("rb") as f:
        raw = hashlib.sha256()
        for block in _raw_blocks(f, m):
            raw.update(block)
        if raw.digest() != deflated_sha:
            raise ArchiveInvalid(f"{path.name}: records.jsonl does not match the signed digest")
        d = zlib.decompressobj(-15)
        crc, size, pending = 0, 0, b""
        for block in _raw_blocks(f, m):
            data = d.decompress(block)
            crc, size = zlib.crc32(data, crc), size + len(data)
            *lines, pending = (pending + data).split(b"\n")
            for line in lines:
                yield line + b"\n"
        if not d.eof or d.unused_data or pending or crc != m.crc or size != m.size:
            raise ArchiveInvalid(f"{path.name}: records.jsonl is not intact")


def verify_archive(path: Path, public_key: PublicKey) -> ArchiveSummary:
    """Check an archive's signature, digests, every record hash and every byte.

    Raises :class:`SignatureError` if the manifest is not signed by ``public_key`` and
    :class:`ArchiveInvalid` for any other mismatch.
    """
    try:
        file_sha = hashlib.sha256()
        with path.open("rb") as f:
            while block := f.read(1 << 20):
                file_sha.update(block)
        with zipfile.ZipFile(path) as zf:
            members = _check_layout(path, zf)
            manifest = _manifest(path, zf, public_key)
        try:
            start, end = parse_ts(manifest["from"]), parse_ts(manifest["to"])
            created = parse_ts(manifest["created_at"])
            count = manifest["records"]
            records_sha = bytes.fromhex(manifest["records_sha256"])
            deflated_sha = bytes.fromhex(manifest["records_deflated_sha256"])
            prev = manifest["previous_archive_sha256"]
            previous = bytes.fromhex(prev) if prev is not None else None
            kid = str(manifest["key_id"])
            first_id, last_id = manifest["first_id"], manifest["last_id"]
        except (KeyError, TypeError, ValueError) as e:
            raise ArchiveInvalid(f"{path.name}: malformed manifest ({e})") from e
        sha, n, ids_ok = hashlib.sha256(), 0, True
        first: int | None = None
        last: int | None = None
        for line in _record_lines(path, members[0], deflated_sha):
            sha.update(line)
            n += 1
            record_id = _check_line(path, n, line, start, end)
            if last is not None and record_id <= last:
                ids_ok = False
            first = record_id if first is None else first
            last = record_id
    except OSError as e:
        raise InvalidRequest(f"cannot read archive {path}: {e.strerror or e}") from e
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        raise ArchiveInvalid(f"{path.name}: not an intact ZIP archive ({e})") from e
    if sha.digest() != records_sha:
        raise ArchiveInvalid(f"{path.name}: records.jsonl does not match the signed digest")
    if n != count or not ids_ok or (first, last) != (first_id, last_id):
        raise ArchiveInvalid(f"{path.name}: record count or ids differ from the manifest")
    return ArchiveSummary(file_sha.digest(), start, end, n, first, last, records_sha,
                          previous, kid, created)


# -- purge and stats ------------------------------------------------------------------

def purge(engine: Engine, *, before: datetime, require_archived: bool = True) -> PurgeResult:
    """Delete message-log records logged before ``before`` that are in an archive.

    X-Road ``keep-records-for`` (§3.4). With ``require_archived=False`` unarchived
    records go too; nothing but tests should ask for that. Operational-monitoring
    records are not archived (X-Road keeps them for a retention period only) and are
    deleted by the same cut-off.
    """
    before = _aware(before, "before")
    condition = message_log.c.logged_at < before
    if require_archived:
        condition = sa.and_(condition, message_log.c.archive_id.is_not(None))
    try:
        with engine.begin() as conn:
            logs = conn.execute(message_log.delete().where(condition)).rowcount
            ops = conn.execute(opmon_records.delete().where(
                opmon_records.c.monitoring_data_ts < int(before.timestamp()))).rowcount
    except SQLAlchemyError as e:
        raise StorageError(f"message-log purge failed: {e}") from e
    return PurgeResult(int(logs), int(ops))


def log_stats(engine: Engine) -> LogStats:
    """Counts for ``sild gateway log stats``."""
    c = message_log.c
    try:
        with engine.connect() as conn:
            row = conn.execute(sa.select(
                sa.func.count(),
                sa.func.count(c.archive_id),
                sa.func.count(c.body),
                sa.func.min(c.logged_at),
                sa.func.max(c.logged_at),
            ).select_from(message_log)).one()
            ops = conn.execute(sa.select(sa.func.count()).select_from(opmon_records)).scalar_one()
            archives = conn.execute(
                sa.select(sa.func.count()).select_from(log_archives)).scalar_one()
    except SQLAlchemyError as e:
        raise StorageError(f"cannot read the message log: {e}") from e
    return LogStats(int(row[0]), int(row[1]), int(row[2]), int(ops), int(archives),
                    _utc(row[3]) if row[3] is not None else None,
                    _utc(row[4]) if row[4] is not None else None)
