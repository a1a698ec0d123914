"""Export, verify and purge of message-log archives on SQLite and PostgreSQL (X-Road §3.4)."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from sild.crypto.keys import KeyType, generate_key
from sild.errors import SignatureError, SildError, StorageError
from sild.gateway.messagelog.archive import (
    ArchiveInvalid,
    export_archive,
    log_stats,
    purge,
    verify_archive,
)
from sild.gateway.messagelog.log import LogRecord, MessageLog
from sild.store import make_engine, migrate
from sild.store.messagelog_tables import log_archives, message_log
from sild.testing.messagelog import T0, make_record

KEY = generate_key(KeyType.ED25519)
HOUR = timedelta(hours=1)


def _engine(url: str) -> sa.Engine:
    engine = make_engine(url)
    migrate(engine, "messagelog")
    return engine


def _log(engine: sa.Engine, records: list[LogRecord], body_mode: str = "full") -> None:
    async def main() -> None:
        mlog = MessageLog(engine, body_mode=body_mode)
        await mlog.start()
        await asyncio.gather(*(mlog.append(r) for r in records))
        await mlog.close()

    asyncio.run(main())


def test_export_then_verify_round_trip(db_url: str, tmp_path: Path) -> None:
    """An exported archive verifies and holds exactly the records of the range."""
    engine = _engine(db_url)
    _log(engine, [make_record(i) for i in range(50)]
         + [make_record(1000, at=T0 + 2 * HOUR)])  # outside the range
    path = export_archive(engine, start=T0, end=T0 + HOUR, sign_key=KEY, out_dir=tmp_path)
    summary = verify_archive(path, KEY.public_key())
    stats = log_stats(engine)
    with engine.connect() as conn:
        archived = conn.execute(sa.select(log_archives)).one()
    engine.dispose()
    assert summary.records == 50
    assert (summary.start, summary.end, summary.previous_sha256) == (T0, T0 + HOUR, None)
    assert summary.file_sha256 == hashlib.sha256(path.read_bytes()).digest()
    assert archived.sha256 == summary.file_sha256
    assert archived.file_name == path.name
    assert (stats.records, stats.archived, stats.unarchived) == (51, 50, 1)


def test_digest_mode_records_verify_without_bodies(db_url: str, tmp_path: Path) -> None:
    """Records logged without bodies still verify: the hash covers the body digest."""
    engine = _engine(db_url)
    _log(engine, [make_record(i) for i in range(5)], body_mode="digest")
    path = export_archive(engine, start=T0, end=T0 + HOUR, sign_key=KEY, out_dir=tmp_path)
    engine.dispose()
    assert verify_archive(path, KEY.public_key()).records == 5


def test_archives_form_a_digest_chain(db_url: str, tmp_path: Path) -> None:
    """Each archive's signed manifest names the SHA-256 of the previous archive file."""
    engine = _engine(db_url)
    _log(engine, [make_record(i) for i in range(3)]
         + [make_record(10 + i, at=T0 + HOUR + timedelta(seconds=i)) for i in range(3)])
    first = export_archive(engine, start=T0, end=T0 + HOUR, sign_key=KEY, out_dir=tmp_path)
    second = export_archive(engine, start=T0 + HOUR, end=T0 + 2 * HOUR, sign_key=KEY,
                            out_dir=tmp_path)
    engine.dispose()
    s2 = verify_archive(second, KEY.public_key())
    assert s2.previous_sha256 == hashlib.sha256(first.read_bytes()).digest()
    assert s2.records == 3


def test_export_takes_each_record_once(db_url: str, tmp_path: Path) -> None:
    """A record committed after an export of its range goes into the next archive only."""
    engine = _engine(db_url)
    _log(engine, [make_record(i) for i in range(4)])
    export_archive(engine, start=T0, end=T0 + HOUR, sign_key=KEY, out_dir=tmp_path)
    _log(engine, [make_record(99)])  # late: logged_at inside the exported range
    again = export_archive(engine, start=T0, end=T0 + HOUR, sign_key=KEY, out_dir=tmp_path)
    engine.dispose()
    assert verify_archive(again, KEY.public_key()).records == 1


def test_purge_never_deletes_unexported_records(db_url: str, tmp_path: Path) -> None:
    """Purge removes archived records past the cut-off and nothing else."""
    engine = _engine(db_url)
    _log(engine, [make_record(i) for i in range(10)])
    export_archive(engine, start=T0, end=T0 + HOUR, sign_key=KEY, out_dir=tmp_path)
    _log(engine, [make_record(100 + i) for i in range(3)]  # late, inside the range
         + [make_record(200, at=T0 - HOUR)])  # old but never exported
    result = purge(engine, before=T0 + 48 * HOUR)
    with engine.connect() as conn:
        left = conn.execute(sa.select(message_log.c.message_id, message_log.c.archive_id)
                            .order_by(message_log.c.id)).all()
    engine.dispose()
    assert result.message_log == 10
    assert sorted(m for m, _ in left) == ["EE-00000100", "EE-00000101", "EE-00000102",
                                          "EE-00000200"]
    assert all(a is None for _, a in left)


def test_purge_keeps_archived_records_younger_than_the_cutoff(db_url: str,
                                                              tmp_path: Path) -> None:
    """An archived record logged after the cut-off stays."""
    engine = _engine(db_url)
    _log(engine, [make_record(i) for i in range(4)])
    export_archive(engine, start=T0, end=T0 + HOUR, sign_key=KEY, out_dir=tmp_path)
    result = purge(engine, before=T0)
    engine.dispose()
    assert result.message_log == 0


def test_export_refuses_a_row_changed_after_logging(db_url: str, tmp_path: Path) -> None:
    """A row whose content no longer matches its record_hash stops the export."""
    engine = _engine(db_url)
    _log(engine, [make_record(i) for i in range(3)])
    with engine.begin() as conn:
        conn.execute(message_log.update().where(message_log.c.message_id == "EE-00000001")
                     .values(client_id="EE/GOV/66666666/evil"))
    out = tmp_path / "out"
    with pytest.raises(StorageError, match="record_hash"):
        export_archive(engine, start=T0, end=T0 + HOUR, sign_key=KEY, out_dir=out)
    engine.dispose()
    assert list(out.iterdir()) == []  # no archive, not even a temporary file


@pytest.fixture(scope="module")
def small_archive(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    tmp = tmp_path_factory.mktemp("archive")
    engine = _engine(f"sqlite:///{tmp}/a.db")
    _log(engine, [make_record(1), make_record(2, kind="response")])
    path = export_archive(engine, start=T0, end=T0 + HOUR, sign_key=KEY, out_dir=tmp)
    engine.dispose()
    return path.read_bytes()


def test_flipping_any_byte_of_the_archive_fails_verification(small_archive: bytes,
                                                            tmp_path: Path) -> None:
    """Every single-byte change anywhere in the file is rejected."""
    path = tmp_path / "a.zip"
    path.write_bytes(small_archive)
    verify_archive(path, KEY.public_key())  # the original is fine
    accepted = []
    for i in range(len(small_archive)):
        flipped = bytearray(small_archive)
        flipped[i] ^= 0x01
        path.write_bytes(bytes(flipped))
        try:
            verify_archive(path, KEY.public_key())
        except SildError:
            continue
        accepted.append(i)
    assert accepted == []


def test_truncated_or_extended_archive_fails(small_archive: bytes, tmp_path: Path) -> None:
    """Appending to or cutting the file is rejected."""
    path = tmp_path / "a.zip"
    for data in (small_archive + b"\0", small_archive[:-1], small_archive[:100]):
        path.write_bytes(data)
        with pytest.raises(ArchiveInvalid):
            verify_archive(path, KEY.public_key())


def test_another_key_does_not_verify(small_archive: bytes, tmp_path: Path) -> None:
    """An archive checked against a different public key fails with SignatureError."""
    path = tmp_path / "a.zip"
    path.write_bytes(small_archive)
    with pytest.raises(SignatureError):
        verify_archive(path, generate_key(KeyType.P256).public_key())
