"""The gateway's message log: every signed request and response, durable before release.

X-Road keeps each message with its signature in the message log of both security
servers (research/xroad.md §3.4; X-Road ``dm-ml_x-road_message_log_data_model.md``).
Sild adds the durability rule of ARCHITECTURE.md §4: a response is never released
before its log records are durable. To keep that from costing one disk flush per
message, :class:`MessageLog` does **group commit**: one writer task drains a bounded
queue, collects up to ``max_batch`` records or ``max_delay`` seconds' worth, inserts
them in ONE transaction (``executemany``) in a dedicated worker thread, and only then
resolves every waiter. If the database refuses that transaction for the data in it,
the batch is retried in halves, down to single appends: only an append that really
cannot be stored gets :class:`LoggingFailed` (X-Road ``Server.ClientProxy.LoggingFailed``),
its neighbours in the batch succeed (docs/operations.md "Message log"). The records of
one append commit together or not at all; nothing is half-written.
research/limits.md §6: one durable commit per row caps at about 9.6 k rows/s on SQLite
(synchronous=FULL) and 5 k rows/s on PostgreSQL, batches of 1000 reach 690 k and
100 k rows/s; so the retry is a fallback for rare bad rows (the edge refuses
what a caller could make unstorable, docs/spec/exchange.md §1.1), not a mode to live in.

Each row carries ``record_hash`` = SHA-256 over a canonical JSON encoding of its
content (:func:`record_content`), without the body but with its SHA-512 digest, so the
hash is the same whether the body is logged in full or as a digest only, and stays
checkable after a purge. The ledger anchors these hashes (ARCHITECTURE.md §4
"Anchoring"); archives carry them (:mod:`sild.gateway.messagelog.archive`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection, Engine

from sild.core.canonical import canonical_json
from sild.core.headertext import storable
from sild.core.timefmt import format_micros
from sild.errors import ConfigurationError, LoggingFailed, StorageError
from sild.gateway.messagelog.opmon import OpMonRecord
from sild.gateway.messagelog.usage import (
    MAX_CHAIN_RACES,
    UsageChains,
    UsageRecord,
    chain_race,
    upsert_heads,
)
from sild.store.messagelog_tables import message_log, opmon_records, usage_log

__all__ = [
    "RECORD_TYPE",
    "BodyMode",
    "Kind",
    "LogRecord",
    "LoggingFailed",
    "MessageLog",
    "MessageLogStats",
    "OpMonRecord",
    "Side",
    "UsageRecord",
    "format_ts",
    "parse_ts",
    "record_content",
    "record_hash",
]

log = structlog.get_logger("sild.gateway.messagelog.log")

BodyMode = Literal["full", "digest"]
Side = Literal["consumer", "provider"]
Kind = Literal["request", "response"]

# The "type" member of every record's hashed content; bump it if the encoding changes.
RECORD_TYPE = "sild.messagelog.record/1"


def format_ts(when: datetime) -> str:
    """UTC with microseconds and a ``Z``: ``2026-11-22T12:00:00.000000Z``."""
    return format_micros(when)


def parse_ts(text: str) -> datetime:
    """The inverse of :func:`format_ts`; :class:`ValueError` for anything else."""
    if not isinstance(text, str) or len(text) != 27 or not text.endswith("Z"):
        raise ValueError(f"{str(text)[:40]!r} is not a log timestamp")
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def record_content(*, logged_at: datetime, side: str, kind: str, message_id: str,
                   request_id: str, client_id: str, service_id: str, envelope: bytes,
                   signature: bytes, signer_cert_fingerprint: str, body_digest: bytes,
                   status: int | None) -> dict[str, Any]:
    """The hashed content of one record, as JSON values (bytes in standard base64)."""
    return {
        "type": RECORD_TYPE,
        "logged_at": format_ts(logged_at),
        "side": side,
        "kind": kind,
        "message_id": message_id,
        "request_id": request_id,
        "client_id": client_id,
        "service_id": service_id,
        "envelope": _b64(envelope),
        "signature": _b64(signature),
        "signer_cert_fingerprint": signer_cert_fingerprint,
        "body_digest": _b64(body_digest),
        "status": status,
    }


def record_hash(content: dict[str, Any]) -> bytes:
    """SHA-256 over the canonical JSON of :func:`record_content` (the ledger's input)."""
    return hashlib.sha256(canonical_json(content)).digest()


def _record_hash_trusted(content: dict[str, Any]) -> bytes:
    """:func:`record_hash` without canonical_json's value walk (40 % of its time).

    Only for content built from a :class:`LogRecord`, whose ``__post_init__`` already
    guarantees str and int values; the bytes are the same as canonical_json's
    (tests/unit/gateway/test_messagelog_records.py checks that).
    """
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":"),
                                     ensure_ascii=False, allow_nan=False).encode()).digest()


# Text fields → the most characters their message_log column takes (Text: no bound of
# its own; identifiers are bounded by their grammar long before this).
_TEXT_LIMITS: dict[str, int] = {
    name: message_log.c[name].type.length or sys.maxsize  # type: ignore[attr-defined]
    for name in ("message_id", "request_id", "client_id", "service_id",
                 "signer_cert_fingerprint")
}


@dataclass(frozen=True, slots=True, kw_only=True)
class LogRecord:
    """One signed message as the message log keeps it (X-Road ``logrecord``, §3.4).

    ``envelope`` is the signed canonical header, opaque here. ``body_digest`` is the
    SHA-512 of ``body``; give it when you have it (the envelope needs it anyway),
    otherwise it is computed in the writer thread. ``body`` may be ``None`` only
    together with ``body_digest``.
    """

    logged_at: datetime
    side: Side
    kind: Kind
    message_id: str  # X-Road-Id
    request_id: str  # X-Road-Request-Id
    client_id: str
    service_id: str
    envelope: bytes
    signature: bytes
    signer_cert_fingerprint: str
    body: bytes | None
    body_digest: bytes | None = None
    status: int | None = None

    def __post_init__(self) -> None:
        if self.side not in ("consumer", "provider"):
            raise ValueError(f"side must be 'consumer' or 'provider', not {self.side!r}")
        if self.kind not in ("request", "response"):
            raise ValueError(f"kind must be 'request' or 'response', not {self.kind!r}")
        if self.logged_at.tzinfo is None or self.logged_at.utcoffset() is None:
            raise ValueError("logged_at must be timezone-aware")
        if self.body is None and self.body_digest is None:
            raise ValueError("a record without a body needs its body_digest")
        if self.status is not None and type(self.status) is not int:
            raise ValueError("status must be an int or None")
        for name, limit in _TEXT_LIMITS.items():
            value = getattr(self, name)
            if type(value) is not str:
                raise ValueError(f"{name} must be a str")
            # Refused here, not by the database in a group commit where it would fail
            # other callers' rows too (docs/spec/exchange.md §1.1).
            if not storable(value, limit=limit):
                raise ValueError(f"{name} cannot be stored: it must be text of at most "
                                 f"{limit} characters without surrogates or NUL")

    def digest(self) -> bytes:
        """SHA-512 of the body (X-Road's digest algorithm for REST bodies)."""
        if self.body_digest is not None:
            return self.body_digest
        if self.body is None:  # excluded by __post_init__
            raise ValueError("a record without a body needs its body_digest")
        return hashlib.sha512(self.body).digest()

    def content(self, digest: bytes | None = None) -> dict[str, Any]:
        return record_content(
            logged_at=self.logged_at, side=self.side, kind=self.kind,
            message_id=self.message_id, request_id=self.request_id,
            client_id=self.client_id, service_id=self.service_id, envelope=self.envelope,
            signature=self.signature, signer_cert_fingerprint=self.signer_cert_fingerprint,
            body_digest=digest or self.digest(), status=self.status)

    def record_hash(self) -> bytes:
        """The hash stored in ``message_log.record_hash`` and anchored by the ledger."""
        return _record_hash_trusted(self.content())

    def to_row(self, *, keep_body: bool) -> dict[str, Any]:
        """The ``message_log`` row; the body only when ``keep_body``."""
        digest = self.digest()
        content = self.content(digest)
        return {
            "logged_at": self.logged_at.astimezone(UTC),
            "side": self.side,
            "kind": self.kind,
            "message_id": self.message_id,
            "request_id": self.request_id,
            "client_id": self.client_id,
            "service_id": self.service_id,
            "envelope": self.envelope,
            "signature": self.signature,
            "signer_cert_fingerprint": self.signer_cert_fingerprint,
            "body": self.body if keep_body else None,
            "body_digest": digest,
            "status": self.status,
            "record_hash": _record_hash_trusted(content),
        }


@dataclass(frozen=True, slots=True)
class MessageLogStats:
    """Counters since start, for /metrics and benchmarks."""

    commits: int  # transactions committed
    records: int  # records committed
    failed_records: int  # records of appends that could not be stored (LoggingFailed)
    queued: int  # appends waiting for the writer now


# One append's rows: (index in its batch, message_log rows, opmon_records rows, usage
# records — numbered and chained only inside the transaction).
_Rows = tuple[int, list[dict[str, Any]], list[dict[str, Any]], list[UsageRecord]]

AnyRecord = LogRecord | OpMonRecord | UsageRecord


@dataclass(slots=True)
class _Item:
    records: tuple[AnyRecord, ...]
    future: asyncio.Future[None]


class MessageLog:
    """Group-committing writer of :class:`LogRecord` and :class:`OpMonRecord` rows.

    ``max_batch`` bounds the records per transaction, ``max_delay`` how long (seconds)
    the writer waits for more after the first; while a commit runs, new appends queue
    and form the next batch. The queue holds at most ``max_queue`` appends (default
    ``4 * max_batch``); beyond that :meth:`append` waits (back-pressure), so memory
    does not grow with load. All records of one :meth:`append` call commit together.
    The tables must exist (``sild.store.migrate(engine, "messagelog")``).
    """

    def __init__(self, engine: Engine, *, body_mode: BodyMode | str = "full",
                 max_batch: int = 512, max_delay: float = 0.002,
                 max_queue: int | None = None) -> None:
        if body_mode not in ("full", "digest"):
            raise ConfigurationError("message log body mode must be 'full' or 'digest'")
        if max_batch < 1 or max_delay < 0:
            raise ConfigurationError("message log max_batch must be ≥ 1 and max_delay ≥ 0")
        self._engine = engine
        self._keep_body = body_mode == "full"
        self._max_batch = max_batch
        self._max_delay = max_delay
        self._max_queue = max_queue if max_queue is not None else 4 * max_batch
        self._queue: asyncio.Queue[_Item | None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._conn: Connection | None = None  # used only in the executor's one thread
        self._closing = False
        self._putting = 0  # appends between "accepted" and "queued"
        self._commits = 0
        self._records = 0
        self._failed = 0
        # table name → (INSERT statement, column names, DateTime bind processors)
        self._prepared: dict[str, tuple[str, list[str], list[Any]]] = {}
        self._chains = UsageChains()  # used only in the executor's one thread
        # called (in the loop) after a commit that held usage records: the notifier
        self._usage_listeners: list[Callable[[], None]] = []

    # -- lifecycle ----------------------------------------------------------------

    async def start(self) -> None:
        """Start the writer task (call once, inside the event loop that appends)."""
        if self._task is not None:
            raise StorageError("message log already started")
        self._queue = asyncio.Queue(self._max_queue)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="sild-messagelog")
        self._task = asyncio.create_task(self._run(), name="sild-messagelog-writer")

    async def close(self) -> None:
        """Commit everything already appended, then stop the writer and its thread."""
        if self._task is None or self._queue is None or self._closing:
            return
        self._closing = True
        await self._queue.put(None)
        await self._task
        if self._executor is not None:  # set together with _task
            await asyncio.get_running_loop().run_in_executor(self._executor, self._close_conn)
            self._executor.shutdown(wait=True)

    def on_usage_committed(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener()`` after each commit that held usage records (the tracker
        notifier wakes on it, docs/spec/notify.md §4.1); returns the way to remove it."""
        self._usage_listeners.append(listener)
        return lambda: self._usage_listeners.remove(listener)

    def stats(self) -> MessageLogStats:
        return MessageLogStats(self._commits, self._records, self._failed,
                               self._queue.qsize() if self._queue is not None else 0)

    # -- appending ----------------------------------------------------------------

    async def append(self, *records: AnyRecord) -> None:
        """Return once every record is committed (ARCHITECTURE.md §4 durability rule).

        Raises :class:`LoggingFailed` if the batch holding them could not be committed,
        or if the log is not running.
        """
        if not records:
            return
        if self._queue is None or self._closing:
            raise LoggingFailed("message log is not running")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._putting += 1
        try:
            await self._queue.put(_Item(records, future))
        finally:
            self._putting -= 1
        await future

    # -- the writer ---------------------------------------------------------------

    async def _run(self) -> None:
        queue = self._queue
        if queue is None:  # set in start(), before this task is created
            raise StorageError("message log not started")
        loop = asyncio.get_running_loop()
        try:
            stop = False
            while not stop:
                first = await queue.get()
                if first is None:
                    break
                batch, count = [first], len(first.records)
                deadline = loop.time() + self._max_delay
                while count < self._max_batch:
                    try:
                        item = queue.get_nowait()
                    except asyncio.QueueEmpty:
                        # Give ready handlers one turn of the event loop to add theirs;
                        # stop early if that brings nothing (waiting longer would only
                        # add latency: what arrives during the commit forms the next
                        # batch). Never wait past max_delay.
                        if loop.time() >= deadline:
                            break
                        await asyncio.sleep(0)
                        if queue.empty():
                            break
                        continue
                    if item is None:
                        stop = True
                        break
                    batch.append(item)
                    count += len(item.records)
                await self._flush(batch)
            # Closing: commit what is still queued, including appends that were
            # waiting for room when close() was called.
            while True:
                batch = []
                while len(batch) < self._max_batch and not queue.empty():
                    item = queue.get_nowait()
                    if item is not None:
                        batch.append(item)
                if batch:
                    await self._flush(batch)
                elif self._putting == 0:
                    break
                else:
                    await asyncio.sleep(0)
        finally:
            # Never leave a caller waiting forever (e.g. the writer was cancelled).
            while not queue.empty():
                item = queue.get_nowait()
                if item is not None:
                    _fail(item, LoggingFailed("message log stopped"))

    async def _flush(self, batch: list[_Item]) -> None:
        loop = asyncio.get_running_loop()
        try:
            errors, commits = await loop.run_in_executor(self._executor, self._commit_batch,
                                                         batch)
        except asyncio.CancelledError:
            # The writer is being torn down mid-commit: report failure (the safe side,
            # the response is not released) rather than leave callers waiting.
            for item in batch:
                _fail(item, LoggingFailed("message log stopped during a commit"))
            raise
        except Exception as e:  # _commit_batch reports per append; this is a bug in it
            log.exception("messagelog_flush_crashed")
            errors, commits = [e] * len(batch), 0
        self._commits += commits
        # Every waiter is released only now, after the thread returned: its rows are
        # durable (committed) or it gets LoggingFailed, never a response without them.
        for item, error in zip(batch, errors, strict=True):
            if error is None:
                self._records += len(item.records)
                if not item.future.done():
                    item.future.set_result(None)
                continue
            self._failed += len(item.records)
            cause = getattr(error, "orig", None) or error
            failure = LoggingFailed(f"message log commit failed: {type(cause).__name__}")
            failure.__cause__ = error
            _fail(item, failure)
        if self._usage_listeners and any(
                error is None and any(isinstance(r, UsageRecord) for r in item.records)
                for item, error in zip(batch, errors, strict=True)):
            for listener in list(self._usage_listeners):
                listener()
        failed = sum(1 for e in errors if e is not None)
        if failed:
            first = next(e for e in errors if e is not None)
            cause = getattr(first, "orig", None) or first
            log.error("messagelog_commit_failed", appends=failed, batch=len(batch),
                      error=f"{type(cause).__name__}: {cause}")

    def _commit_batch(self, batch: Sequence[_Item]) -> tuple[list[Exception | None], int]:
        """Commit a batch; per append ``None`` (durable) or the error that refused it.

        Runs in the writer thread. One transaction for the whole batch. If the database
        refuses it for the data in it (a constraint, a value it cannot store), the batch
        is split in halves and each half retried in a transaction of its own, down to
        single appends: only the appends that really cannot be stored fail, and one bad
        row never fails its neighbours. Halving rather than one transaction per append:
        a refused transaction costs no disk flush, a committed one does, so one bad
        append in 500 costs 8 commits instead of 499 (0.1 s of writer stall instead of
        2.5 s; docs/benchmarks.md "One refused append in a batch"). All records of one
        append commit together or not at all. If the database itself fails (lost
        connection, locked, disk full), retrying would only multiply the wait: every
        append not yet committed fails. Returns the errors and the number of commits.
        """
        errors: list[Exception | None] = [None] * len(batch)
        rows: list[_Rows] = []
        for i, item in enumerate(batch):
            try:
                rows.append((i, *self._rows(item.records)))
            except Exception as e:  # this append's rows cannot even be built
                errors[i] = e
        commits = 0
        races = 0
        todo = [rows] if rows else []  # a stack of parts, the first part on top
        while todo:
            part = todo.pop()
            try:
                self._commit(part)
                commits += 1
                continue
            except Exception as e:
                if chain_race(e) and races < MAX_CHAIN_RACES:
                    # another node extended a chain first: the same part again, numbered
                    # from the heads now stored (usage.py; forget() already ran)
                    races += 1
                    todo.append(part)
                    continue
                if len(part) > 1 and _refused_for_data(e):
                    half = len(part) // 2
                    todo += [part[half:], part[:half]]
                    continue
                failed = [part] if _refused_for_data(e) else [part, *todo]
                for i, *_ in (entry for p in failed for entry in p):
                    errors[i] = e
                if len(failed) > 1:  # the database failed, not these appends
                    break
        return errors, commits

    def _rows(self, records: Sequence[AnyRecord]
              ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[UsageRecord]]:
        logs: list[dict[str, Any]] = []
        ops: list[dict[str, Any]] = []
        usages: list[UsageRecord] = []
        for r in records:
            if isinstance(r, LogRecord):
                logs.append(r.to_row(keep_body=self._keep_body))
            elif isinstance(r, UsageRecord):
                usages.append(r)
            else:
                ops.append(r.to_row())
        return logs, ops, usages

    def _commit(self, rows: Sequence[_Rows]) -> None:
        """One transaction for the rows of these appends (runs in the writer thread)."""
        logs = [row for _, rows_, _, _ in rows for row in rows_]
        ops = [row for _, _, rows_, _ in rows for row in rows_]
        usages = [u for _, _, _, us in rows for u in us]
        conn = self._conn
        if conn is None or conn.closed or conn.invalidated:
            self._close_conn()
            conn = self._conn = self._engine.connect()
        heads: dict[Any, Any] = {}
        try:
            with conn.begin():
                if logs:
                    self._insert(conn, message_log, logs)
                if ops:
                    self._insert(conn, opmon_records, ops)
                if usages:  # docs/spec/tracker.md §2: in the same transaction
                    usage_rows, head_rows, heads = self._chains.rows(conn, usages)
                    self._insert(conn, usage_log, usage_rows)
                    upsert_heads(conn, head_rows)
        except BaseException as e:
            # The transaction was rolled back. After a data error the connection is
            # clean; after anything else take a fresh one next time.
            self._chains.forget()
            if not _refused_for_data(e) or conn.invalidated:
                self._close_conn()
            raise
        self._chains.committed(heads)

    def _insert(self, conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        """executemany straight on the driver with a statement prepared once per table.

        SQLAlchemy's compile-and-bind per batch cost ~40 % of the writer's time
        (py-spy, bench/bench_exchange.py); the driver takes bytes, ints and bools as
        they are, so only DateTime values go through SQLAlchemy's bind processor (SQLite
        stores them as text in SQLAlchemy's own format, which readers expect).
        """
        prepared = self._prepared.get(table.name)
        if prepared is None:
            dialect = conn.dialect
            cols = [c for c in table.columns if not (c.primary_key and c.autoincrement)]
            mark = {"qmark": "?", "format": "%s", "pyformat": "%s", "numeric": "?"}.get(
                dialect.paramstyle)
            if mark is None:
                raise ConfigurationError(f"unsupported driver paramstyle {dialect.paramstyle}")
            quoted = ", ".join(dialect.identifier_preparer.quote(c.name) for c in cols)
            # Built from our own table metadata only, never from input.
            sql = (f"INSERT INTO {dialect.identifier_preparer.format_table(table)} "  # noqa: S608
                   f"({quoted}) VALUES ({', '.join([mark] * len(cols))})")
            procs = [c.type.dialect_impl(dialect).bind_processor(dialect)
                     if isinstance(c.type, sa.DateTime) else None for c in cols]
            prepared = self._prepared[table.name] = (sql, [c.name for c in cols], procs)
        sql, names, procs = prepared
        params = [tuple(p(row.get(n)) if p is not None else row.get(n)
                        for n, p in zip(names, procs, strict=True)) for row in rows]
        conn.exec_driver_sql(sql, params)

    def _close_conn(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception as e:  # a broken connection may fail to close; it is dropped
                log.warning("messagelog_connection_close_failed", error=str(e))


def _refused_for_data(error: BaseException) -> bool:
    """Whether the database refused the rows themselves (worth retrying in smaller parts).

    A constraint (a duplicate request record) or a value the database cannot store; not
    a lost connection, a lock timeout or a full disk, which fail every row alike.
    """
    if isinstance(error, sa.exc.IntegrityError | sa.exc.DataError):
        return True
    if isinstance(error, sa.exc.StatementError):  # a driver or bind error, wrapped
        error = error.orig if error.orig is not None else error
        return isinstance(error, ValueError | TypeError)
    return isinstance(error, ValueError | TypeError)


def _fail(item: _Item, error: LoggingFailed) -> None:
    if not item.future.done():
        item.future.set_exception(error)
