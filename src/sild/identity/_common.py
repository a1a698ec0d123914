"""Small helpers shared by the identity modules (validation of names, ids, files)."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sild.errors import InvalidRequest, KeyFileError, NotFound

__all__ = ["actor_name", "aware", "check_id", "new_id", "pem", "reason_text", "spki_sha256",
           "write_new"]


def spki_sha256(public_key: Any) -> tuple[bytes, str]:
    """(DER SubjectPublicKeyInfo, its SHA-256 in hex): the key fingerprint drills match."""
    der: bytes = public_key.public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    return der, hashlib.sha256(der).hexdigest()


def aware(t: datetime) -> datetime:
    """SQLite gives naive datetimes back; everything stored is UTC."""
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def check_id(record_id: object, what: str) -> int:
    """Ids are positive 32-bit integers; anything else names no record (not a crash)."""
    if not isinstance(record_id, int) or isinstance(record_id, bool) \
            or not 0 < record_id < 2**31:
        raise NotFound(f"no {what} {record_id!r}")
    return record_id


def new_id(res: sa.CursorResult[Any]) -> int:
    """The primary key an INSERT just made."""
    pk = res.inserted_primary_key
    assert pk is not None
    return int(pk[0])


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def actor_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 200 or not name.isprintable():
        raise InvalidRequest("an actor name is 1-200 printable characters")
    return name.strip()


def reason_text(text: object) -> str:
    if not isinstance(text, str) or not text.strip() or len(text) > 2000:
        raise InvalidRequest("a reason is 1-2000 characters of text")
    return text.strip()


def write_new(out: Path, data: bytes) -> None:
    """Create ``out`` (never overwrite), 0600, durably."""
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as e:
        raise KeyFileError(f"{out} exists; refusing to overwrite") from e
    except OSError as e:
        raise KeyFileError(f"cannot write {out}: {e.strerror}") from e
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        out.unlink(missing_ok=True)
        raise
