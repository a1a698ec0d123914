"""Message-log test kit: sample records, row counts from a fresh connection, DB locks."""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from sild.gateway.messagelog.log import Kind, LogRecord, Side
from sild.store import make_engine

__all__ = ["T0", "count_rows", "make_record", "write_lock"]

T0 = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)


def make_record(i: int, *, at: datetime | None = None, kind: Kind = "request",
                side: Side = "consumer", body: bytes | None = None,
                request_id: str | None = None) -> LogRecord:
    """A distinct, plausible record number ``i`` (logged ``i`` ms after :data:`T0`)."""
    body = body if body is not None else f'{{"n": {i}}}'.encode()
    return LogRecord(
        logged_at=at if at is not None else T0 + timedelta(milliseconds=i),
        side=side,
        kind=kind,
        message_id=f"EE-{i:08d}",
        request_id=request_id or f"00000000-0000-4000-8000-{i:012d}",
        client_id="EE/GOV/70000001/client",
        service_id="EE/GOV/70000002/provider/getPerson",
        envelope=b'{"header":%d}' % i,
        signature=hashlib.sha256(b"sig%d" % i).digest(),
        signer_cert_fingerprint="ab" * 32,
        body=body,
        status=200 if kind == "response" else None,
    )


def count_rows(url: str, table: str = "message_log") -> int:
    """Rows in ``table`` as seen from a brand-new engine (a fresh connection)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            query = sa.select(sa.func.count()).select_from(sa.table(table))
            return int(conn.execute(query).scalar_one())
    finally:
        engine.dispose()


@contextlib.contextmanager
def write_lock(url: str) -> Iterator[None]:
    """Hold a lock that makes every insert into message_log wait until released."""
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(url[len("sqlite:///"):], isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    engine = make_engine(url)
    try:
        with engine.connect() as c, c.begin():
            c.execute(sa.text("LOCK TABLE message_log IN EXCLUSIVE MODE"))
            yield
    finally:
        engine.dispose()
