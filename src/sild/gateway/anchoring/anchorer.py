"""Anchoring the message log in the ledger: local rounds, queued roots, TimestampingFailed.

docs/spec/anchoring.md (the numbers in comments are its sections and steps). KSI's
hierarchy (ARCHITECTURE.md §4 "Anchoring", research/ksi-tlog.md §6.2 "local
aggregation"): the gateway builds its own RFC 6962 tree over the ``record_hash`` of
the message-log rows committed since the last round, and submits only that tree's
root to the ledger. A record's proof is its local inclusion path (``anchor_records``)
plus the ledger receipt of its round root (``anchor_rounds.receipt``).

Two tasks run beside the gateway:

* the **closer** (§3) makes one round per period out of newly committed rows, in ONE
  transaction (round row + one proof row per record), so a crash leaves either the
  whole round or nothing, and a restart resumes after the last round's last id;
* the **submitter** (§4) sends the roots of pending rounds (oldest first, many per
  request) to the ledger and stores each receipt once it has checked it.

Several gateway nodes on one PostgreSQL database (docs/operations.md "Active-active
topology") elect one anchorer: the node whose connection holds the session advisory lock
:data:`LEADER_LOCK` closes and submits rounds; the others only watch the queue's age
(so every node fails closed together, §4.3) and try for the lock each period. A killed
leader's session ends with its process, PostgreSQL releases the lock, and a standby
takes over within one period, loading the head map as the leader left it. Should two
closers ever overlap (a leader whose connection broke unnoticed), the round's primary
key lets only one of them commit; the loser reloads the map and tries again.

While the ledger is unreachable, rounds queue in the database and traffic goes on;
once the oldest pending round has waited longer than ``max_unanchored`` (X-Road's
acceptable-timestamp-failure-period, default 4 h) the gateway refuses traffic with
:class:`TimestampingFailed` (§4.3), and serves again as soon as receipts arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from sild.core.headmap import map_leaf
from sild.core.ledger_errors import LedgerFormatError, ProofError
from sild.core.merkle import LeafHash, MerkleTree, RootHash, leaf_hash
from sild.core.receipt import check_receipt
from sild.errors import (
    NotFound,
    SildError,
    StorageError,
    TimestampingFailed,  # re-exported
)
from sild.gateway.anchoring.headmap import HeadMap, MapPlan
from sild.gateway.config import AnchoringSettings
from sild.store import make_engine, migrate
from sild.store.anchoring_tables import anchor_records, anchor_rounds
from sild.store.messagelog_tables import message_log

__all__ = [
    "LEADER_LOCK",
    "SHA256_ID",
    "Anchorer",
    "AnchoringLimits",
    "AnchoringStatus",
    "LedgerPort",
    "RoundClosed",
    "TimestampingFailed",
    "aware",
    "close_round",
    "record_imprint",
    "record_leaf",
    "root_imprint",
]

log = structlog.get_logger("sild.gateway.anchoring.anchorer")
T = TypeVar("T")

SHA256_ID = 0x01  # the SHA-256 algorithm id of KSI imprints (core/imprint.py)
# The PostgreSQL advisory lock the anchoring leader holds ("SildAnch").
LEADER_LOCK = 0x53696C64_416E6368


# -- §2.1 the leaf encoding (pure) ------------------------------------------------------


def record_imprint(record_hash: bytes) -> bytes:
    """§2.1: a record's imprint, ``0x01 || record_hash`` (SHA-256, KSI encoding)."""
    if len(record_hash) != 32:
        raise ValueError(f"record hash of {len(record_hash)} bytes, expected 32")
    return bytes([SHA256_ID]) + record_hash


def record_leaf(record_hash: bytes) -> LeafHash:
    """§2.1: the round-tree leaf, ``SHA-256(0x00 || 0x01 || record_hash)`` (RFC 6962)."""
    return leaf_hash(record_imprint(record_hash))


def root_imprint(root: bytes) -> bytes:
    """§2.3: what the ledger receives for a round, ``0x01 || root``."""
    if len(root) != 32:
        raise ValueError(f"round root of {len(root)} bytes, expected 32")
    return bytes([SHA256_ID]) + root


def aware(when: datetime) -> datetime:
    """SQLite hands back naive datetimes for UTC columns; make them UTC-aware."""
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


# -- limits ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AnchoringLimits:
    """Limits of the anchoring tasks, each with its reason (STYLE.md rule 8)."""

    # Rows per local round: the round's tree is held in memory while it is built
    # (100 k leaves ≈ 10 MB); more rows simply make more rounds.
    max_leaves: int = 100_000
    # Roots per ledger request when catching up (the ledger's max_batch is 10,000).
    submit_batch: int = 1_000
    # A gap in message_log ids (a rolled-back PostgreSQL batch burns sequence values) is
    # held back this long in case a slower transaction fills it (§3 step 3).
    gap_wait: float = 5.0
    # How long one receipt long-poll may wait for the ledger's round to close.
    receipt_wait: float = 10.0
    # Retry delay after a failed submission doubles from the period up to this.
    max_retry_delay: float = 30.0


@dataclass(frozen=True, slots=True)
class RoundClosed:
    """What :func:`close_round` made."""

    round_id: int
    first_record_id: int
    last_record_id: int
    size: int
    root: RootHash
    created_at: datetime
    map_plan: MapPlan | None = None  # the head map's change, when the round carries one


@dataclass(frozen=True, slots=True)
class AnchoringStatus:
    """For /status, metrics and tests."""

    rounds: int
    pending: int
    anchored_through: int  # the last record id inside a round (0: none)
    oldest_pending: datetime | None
    waiting_records: int  # message-log rows not yet in a round


# -- §3 closing a round (one transaction) ------------------------------------------------


def close_round(conn: Connection, *, now: datetime, limits: AnchoringLimits,
                gaps: dict[int, float], monotonic: float,
                headmap: HeadMap | None = None) -> RoundClosed | None:
    """§3 steps 1–5 on an open transaction; None when there is nothing new.

    ``gaps`` maps an id gap's first missing id to the monotonic time it was first seen
    (kept by the caller between rounds). With a ``headmap`` the round also carries the
    map of usage-chain heads when it changed (docs/spec/tracker.md §3.4): its root is
    the round tree's last leaf, and a round is closed for it even without new rows.
    The caller hands the returned ``map_plan`` to :meth:`HeadMap.committed` after commit.
    """
    # (1) where the last round ended
    last_round, watermark = conn.execute(sa.select(
        sa.func.max(anchor_rounds.c.id), sa.func.max(anchor_rounds.c.last_record_id))).one()
    last_round = int(last_round or 0)
    watermark = None if watermark is None else int(watermark)
    # (2) the rows committed since, by id, at most max_leaves
    q = sa.select(message_log.c.id, message_log.c.record_hash, message_log.c.logged_at)
    if watermark is not None:
        q = q.where(message_log.c.id > watermark)
    rows = conn.execute(q.order_by(message_log.c.id).limit(limits.max_leaves)).all()
    # (3) stop before an id gap until it has been seen for gap_wait seconds
    expected = watermark + 1 if watermark is not None else (rows[0].id if rows else 0)
    take = 0
    for row in rows:
        if row.id != expected:
            seen = gaps.setdefault(expected, monotonic)
            if monotonic - seen < limits.gap_wait:
                break
            gaps.pop(expected, None)
        take += 1
        expected = row.id + 1
    rows = rows[:take]
    plan = (headmap.plan(conn, gaps=gaps, monotonic=monotonic, gap_wait=limits.gap_wait)
            if headmap is not None else None)
    if not rows and plan is None:
        return None
    # (4) the round tree over the records' leaves (§2.1), the map leaf last, and paths
    leaves = [record_leaf(bytes(r.record_hash)) for r in rows]
    if plan is not None:
        leaves.append(map_leaf(plan.update.root, plan.entries))
    tree = MerkleTree(leaves)
    root = tree.root()
    round_id = last_round + 1
    if rows:
        first_id, last_id = int(rows[0].id), int(rows[-1].id)
        last_logged = max(aware(r.logged_at) for r in rows)
    else:  # only the map changed (e.g. a release by `sild tracker unseal`): no ids
        first_id, last_id, last_logged = (watermark or 0) + 1, watermark or 0, now
    # (5) the round and every record's proof, in the caller's single transaction
    values: dict[str, object] = {}
    if plan is not None:
        values = {"map_root": plan.update.root, "map_entries": plan.entries,
                  "map_through": plan.through,
                  "map_path": b"".join(tree.inclusion_proof(len(leaves) - 1))}
    conn.execute(anchor_rounds.insert().values(
        id=round_id, created_at=now, first_record_id=first_id, last_record_id=last_id,
        last_logged_at=last_logged, size=len(leaves), root=root, **values))
    if rows:
        conn.execute(anchor_records.insert(), [
            {"record_id": r.id, "round_id": round_id, "leaf_index": i,
             "path": b"".join(tree.inclusion_proof(i))} for i, r in enumerate(rows)])
    if plan is not None and headmap is not None:
        headmap.write(conn, round_id, plan)
    return RoundClosed(round_id, first_id, last_id, len(rows), root, now, plan)


# -- the ledger, as the submitter sees it -------------------------------------------------


class LedgerPort:
    """The two calls the submitter makes (:class:`sild.ledger.client.LedgerClient`)."""

    async def add_roots(self, imprints: Sequence[bytes]) -> list[str]:  # pragma: no cover
        """Submit; the receipt ids ``<round>.<leaf>`` in order."""
        raise NotImplementedError

    async def receipt(self, receipt_id: str, *, wait_s: float) -> bytes | None:
        """One receipt, None while its ledger round is open."""
        raise NotImplementedError  # pragma: no cover

    async def close(self) -> None:  # pragma: no cover
        """Release connections."""


class _HttpLedger(LedgerPort):
    def __init__(self, url: str, timeout_s: float, credential_file: str = "") -> None:
        from pathlib import Path

        from sild.ledger.client import LedgerClient
        from sild.ledger.submitters import read_credential

        # The gateway's API key for the ledger's POST /add (docs/spec/ledger.md §8.1).
        credential = read_credential(Path(credential_file)) if credential_file else None
        self._client = LedgerClient(url, timeout_s=timeout_s, credential=credential)

    async def add_roots(self, imprints: Sequence[bytes]) -> list[str]:
        return (await self._client.add(imprints)).ids()

    async def receipt(self, receipt_id: str, *, wait_s: float) -> bytes | None:
        return await self._client.receipt(receipt_id, wait_s=wait_s)

    async def close(self) -> None:
        await self._client.close()


# -- the two tasks ----------------------------------------------------------------------


class Anchorer:
    """Closes local rounds and anchors their roots; ``start()`` … ``stop()``.

    One anchorer per message-log database: a second one cannot create a round with
    the same number or anchor a record twice (primary keys), it only loses the race.
    """

    def __init__(self, engine: Engine, settings: AnchoringSettings, *,
                 limits: AnchoringLimits | None = None, ledger: LedgerPort | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 own_engine: bool = False, standby: bool = False) -> None:
        self.engine = engine
        self.settings = settings
        self.limits = limits or AnchoringLimits()
        self._ledger = ledger or _HttpLedger(settings.ledger_url,
                                             timeout_s=self.limits.receipt_wait + 30,
                                             credential_file=settings.credential)
        self._clock = clock
        self._own_engine = own_engine
        self._executor: ThreadPoolExecutor | None = None
        self._stop = asyncio.Event()
        self._work = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._gaps: dict[int, float] = {}
        self._oldest_pending: float | None = None  # epoch seconds of the oldest pending round
        self.headmap: HeadMap | None = None  # docs/spec/tracker.md §3.4, loaded at start
        self.last_error: str | None = None
        # PostgreSQL: the connection holding LEADER_LOCK while this node leads (used
        # only in the anchorer's thread); SQLite has one writer host, always the leader.
        self._leader_conn: Connection | None = None
        self._standby = standby  # never leads (extra processes on one SQLite host)
        self.leading = engine.dialect.name != "postgresql" and not standby

    @classmethod
    def open(cls, database_url: str, settings: AnchoringSettings, **kw: Any) -> Anchorer:
        """An anchorer with its own engine on the gateway's database."""
        return cls(make_engine(database_url), settings, own_engine=True, **kw)

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Create the tables if needed, learn the queue's age, start both tasks."""
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="sild-anchoring")
        await self._db(self._migrate)
        await self._db(self._refresh_pending)
        await self._db(self._load_map)
        self._tasks = [asyncio.create_task(self._close_loop(), name="sild-anchoring-closer"),
                       asyncio.create_task(self._submit_loop(), name="sild-anchoring-submitter")]

    async def stop(self) -> None:
        """Stop both tasks; a round being written finishes (or rolls back) first."""
        self._stop.set()
        self._work.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self._executor is not None:
            with contextlib.suppress(SQLAlchemyError):
                await self._db(self._resign)
            self._executor.shutdown(wait=True)
            self._executor = None
        await self._ledger.close()
        if self._own_engine:
            self.engine.dispose()

    # -- §4.3 the gate on traffic -------------------------------------------------------

    def check_open(self) -> None:
        """Raise :class:`TimestampingFailed` when the oldest pending round is overdue."""
        oldest = self._oldest_pending
        if oldest is not None:
            waited = time.time() - oldest
            if waited > self.settings.max_unanchored:
                raise TimestampingFailed(
                    f"message log not anchored for {waited:.0f} s "
                    f"(limit {self.settings.max_unanchored:.0f} s): {self.last_error or ''}",
                    waited=waited)

    def status(self) -> AnchoringStatus:
        """Counts from the database (blocking; for tests, CLI and the admin API)."""
        with self.engine.connect() as conn:
            rounds, through = conn.execute(sa.select(
                sa.func.count(), sa.func.max(anchor_rounds.c.last_record_id))).one()
            pending, oldest = conn.execute(sa.select(
                sa.func.count(), sa.func.min(anchor_rounds.c.created_at)).where(
                    anchor_rounds.c.receipt.is_(None))).one()
            waiting = conn.execute(sa.select(sa.func.count()).select_from(message_log).where(
                message_log.c.id > int(through or 0))).scalar()
        return AnchoringStatus(int(rounds), int(pending), int(through or 0),
                               aware(oldest) if oldest is not None else None, int(waiting or 0))

    # -- the closer ---------------------------------------------------------------------

    async def close_once(self) -> RoundClosed | None:
        """One round now (§3); None when there was nothing new."""
        def work() -> RoundClosed | None:
            try:
                with self.engine.begin() as conn:
                    closed = close_round(conn, now=self._clock(), limits=self.limits,
                                         gaps=self._gaps, monotonic=time.monotonic(),
                                         headmap=self.headmap)
            except IntegrityError as e:  # another anchorer made this round first
                self._load_map()
                raise StorageError(f"anchoring round lost a race: {e.orig}") from e
            if closed is not None and closed.map_plan is not None and self.headmap:
                self.headmap.committed(closed.map_plan)
            return closed
        closed = await self._db(work)
        if closed is not None:
            if self._oldest_pending is None:
                self._oldest_pending = closed.created_at.timestamp()
            self._work.set()
        return closed

    async def _close_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.leading = await self._db(self._lead)
                if self.leading:
                    await self.close_once()
                else:  # a standby: keep the queue's age current for check_open (§4.3)
                    await self._db(self._refresh_pending)
            except (SildError, SQLAlchemyError) as e:
                log.warning("anchoring_round_failed", error=str(e))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.settings.period)

    # -- the submitter (§4) --------------------------------------------------------------

    async def submit_once(self) -> int:
        """§4 steps 1–4 for up to ``submit_batch`` pending rounds; rounds anchored."""
        pending = await self._db(self._pending)
        if not pending:
            return 0
        # (1) submit the roots that have no ledger id yet, all in one request
        fresh = [p for p in pending if p[2] is None]
        if fresh:
            ids = await self._ledger.add_roots([root_imprint(p[1]) for p in fresh])
            given = {p[0]: i for p, i in zip(fresh, ids, strict=True)}
            await self._db(lambda: self._set_ledger_ids(given))
            pending = [(r, root, lid or given[r]) for r, root, lid in pending]
        # (2) wait for each receipt; (3) check it before storing; (4) store
        done: list[tuple[int, bytes]] = []
        lost: list[int] = []
        for round_id, root, ledger_id in pending:
            if ledger_id is None:  # not possible after step 1; keep mypy and readers sure
                continue
            try:
                raw = await self._ledger.receipt(ledger_id, wait_s=self.limits.receipt_wait)
            except NotFound:  # the ledger lost an unclosed round (e.g. it crashed)
                log.warning("anchoring_receipt_missing", round=round_id, ledger_id=ledger_id)
                lost.append(round_id)
                continue
            if raw is None:
                break  # the ledger round is still open; the rest is later still
            try:
                check_receipt(raw, imprint=root_imprint(root))
            except (LedgerFormatError, ProofError, ValueError) as e:
                # e.g. the ledger lost an unclosed round in a crash: submit again (§4 step 3)
                log.warning("anchoring_receipt_refused", round=round_id, error=str(e))
                lost.append(round_id)
                continue
            done.append((round_id, raw))
        now = self._clock()
        await self._db(lambda: self._store(done, lost, now))
        return len(done)

    async def _submit_loop(self) -> None:
        delay = self.settings.period
        while not self._stop.is_set():
            if not self.leading:  # the leader submits; standbys wait for the lock
                await self._wait(self.settings.period)
                continue
            try:
                anchored = await self.submit_once()
                self.last_error = None
                delay = self.settings.period
                if anchored:
                    continue  # maybe more are queued
            except (SildError, SQLAlchemyError) as e:
                self.last_error = str(e)
                log.warning("anchoring_submit_failed", error=str(e))
                with contextlib.suppress(TimeoutError):  # new rounds do not shorten a back-off
                    await asyncio.wait_for(self._stop.wait(), delay)
                # retry at least ~8 times within max_unanchored, never slower than the cap
                cap = max(self.settings.period, self.settings.max_unanchored / 8)
                delay = min(delay * 2, self.limits.max_retry_delay, cap)
                continue
            self._work.clear()
            await self._wait(self.settings.period)

    async def _wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._work.wait(), seconds)

    # -- database work (in the anchorer's one thread) -------------------------------------

    async def _db(self, fn: Callable[[], T]) -> T:
        if self._executor is None:
            raise StorageError("anchoring is not running")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def _migrate(self) -> None:
        from sild.gateway.stores import migration_lock

        with migration_lock(self.engine):  # nodes starting together take turns
            migrate(self.engine, "anchoring")

    def _lead(self) -> bool:
        """True while this node holds the anchoring leadership (PostgreSQL: the session
        advisory lock :data:`LEADER_LOCK` on a connection kept for it)."""
        if self._standby:
            return False
        if self.engine.dialect.name != "postgresql":
            return True
        conn = self._leader_conn
        if conn is not None:
            try:
                conn.execute(sa.text("SELECT 1"))
                conn.commit()  # not left idle in a transaction
                return True
            except SQLAlchemyError:  # the session (and with it the lock) is gone
                self._resign()
                return False
        conn = self.engine.connect()
        try:
            won = bool(conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"),
                                    {"k": LEADER_LOCK}).scalar())
            conn.commit()
        except SQLAlchemyError:
            conn.close()
            raise
        if not won:
            conn.close()
            return False
        self._leader_conn = conn
        self._load_map()  # rounds the previous leader closed changed the map
        log.info("anchoring_leader", lock=LEADER_LOCK)
        return True

    def _resign(self) -> None:
        conn, self._leader_conn = self._leader_conn, None
        if conn is not None:
            with contextlib.suppress(SQLAlchemyError):
                conn.invalidate()  # closes the session: PostgreSQL releases the lock
            conn.close()

    def _pending(self) -> list[tuple[int, bytes, str | None]]:
        r = anchor_rounds.c
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(r.id, r.root, r.ledger_id).where(
                r.receipt.is_(None)).order_by(r.id).limit(self.limits.submit_batch)).all()
        return [(int(x.id), bytes(x.root), x.ledger_id) for x in rows]

    def _set_ledger_ids(self, given: dict[int, str]) -> None:
        with self.engine.begin() as conn:
            for round_id, ledger_id in given.items():
                conn.execute(anchor_rounds.update().where(anchor_rounds.c.id == round_id)
                             .values(ledger_id=ledger_id))

    def _store(self, done: list[tuple[int, bytes]], lost: list[int], now: datetime) -> None:
        r = anchor_rounds.c
        with self.engine.begin() as conn:
            for round_id, raw in done:
                conn.execute(anchor_rounds.update().where(r.id == round_id)
                             .values(receipt=raw, anchored_at=now))
            for round_id in lost:
                conn.execute(anchor_rounds.update().where(r.id == round_id)
                             .values(ledger_id=None))
        self._refresh_pending()

    def _load_map(self) -> None:
        """The head map's tree from its stored buckets (tracker.md §3.4)."""
        if not HeadMap.available(self.engine):
            self.headmap = None
            return
        headmap = HeadMap()
        with self.engine.connect() as conn:
            headmap.load(conn)
        self.headmap = headmap

    def _refresh_pending(self) -> None:
        with self.engine.connect() as conn:
            oldest = conn.execute(sa.select(sa.func.min(anchor_rounds.c.created_at)).where(
                anchor_rounds.c.receipt.is_(None))).scalar()
        self._oldest_pending = aware(oldest).timestamp() if oldest is not None else None
