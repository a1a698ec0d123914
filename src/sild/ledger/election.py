"""Electing the ledger's single writer (docs/spec/ledger.md §3.4).

Every ``sild ledger serve`` process on one database competes for one lock; the holder
is the writer, the others are standbys that follow the database and serve reads.

* PostgreSQL: ``pg_try_advisory_lock`` on a dedicated connection held for the writer's
  life. The lock is the database session's, so it goes when the writer's process (or
  its connection) dies, and a standby's next try wins it.
* SQLite: ``flock`` on a lock file beside the database file (one machine by nature).

The lock is not the only fence: every round commit is a compare-and-swap on the
durable calendar size (:meth:`sild.ledger.service.Ledger._commit`), so even a writer
that lost its lock without noticing cannot append a second version of a round.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from hashlib import sha256
from pathlib import Path
from typing import IO, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sild.errors import (
    NotWriter,  # re-exported
    )

__all__ = ["FileWriterLock", "NotWriter", "PostgresWriterLock", "WriterLock", "writer_lock"]

# One key per database: the ledger's tables are not namespaced, so two ledgers sharing a
# database must not both write, whatever their origins. 64 bits of SHA-256 of a label.
LOCK_KEY = int.from_bytes(sha256(b"sild-ledger-writer/v1").digest()[:8], "big", signed=True)


class WriterLock(Protocol):
    """The writer's lock: try to take it, check it is still held, give it back."""

    def try_acquire(self) -> bool:
        """Take the lock if it is free; True if this process now holds it."""
        ...

    def held(self) -> bool:
        """True while the lock is still ours (the session that holds it is alive)."""
        ...

    def release(self) -> None:
        """Give the lock back (idempotent)."""
        ...

    def describe(self) -> str:
        """What is locked, for messages."""
        ...


class PostgresWriterLock:
    """``pg_try_advisory_lock`` on one dedicated connection, held for the writer's life."""

    def __init__(self, engine: Engine, key: int = LOCK_KEY) -> None:
        self.engine = engine
        self.key = key
        self._conn: Connection | None = None

    def try_acquire(self) -> bool:
        if self._conn is not None:
            return self.held()
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = bool(conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key})
                       .scalar())
        except Exception:
            conn.invalidate()
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def held(self) -> bool:
        if self._conn is None:
            return False
        try:
            self._conn.execute(sa.text("SELECT 1"))
        except Exception:  # the session is gone, and the lock with it
            self._drop()
            return False
        return True

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            self._drop()

    def _drop(self) -> None:
        # Close the DBAPI connection for real rather than return it to the pool: a
        # pooled session would keep holding the lock for whoever borrowed it next.
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.invalidate()
            with contextlib.suppress(Exception):
                conn.close()

    def describe(self) -> str:
        return f"PostgreSQL advisory lock {self.key} on {self.engine.url.render_as_string()}"


class FileWriterLock:
    """``flock(LOCK_EX | LOCK_NB)`` on a file; the kernel drops it when the process dies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] | None = None

    def try_acquire(self) -> bool:
        if self._file is not None:
            return True
        f = open(self.path, "ab")  # noqa: SIM115 - held open for the writer's life
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            return False
        f.truncate(0)
        f.write(f"{os.getpid()}\n".encode())
        f.flush()
        self._file = f
        return True

    def held(self) -> bool:
        return self._file is not None

    def release(self) -> None:
        f, self._file = self._file, None
        if f is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)
            f.close()

    def describe(self) -> str:
        return f"lock file {self.path}"


def writer_lock(engine: Engine, folder: Path) -> WriterLock:
    """The lock for a ledger's database: advisory on PostgreSQL, a file beside SQLite's."""
    url = engine.url
    if url.get_backend_name() == "postgresql":
        return PostgresWriterLock(engine)
    db = url.database
    if db and db != ":memory:" and not db.startswith("file:"):
        return FileWriterLock(Path(db).with_name(Path(db).name + ".writer-lock"))
    return FileWriterLock(folder / "writer.lock")
