"""The ledger: rounds, the calendar, checkpoints and receipts (docs/spec/ledger.md §3, §4).

One :class:`Ledger` is the single writer. It runs in one asyncio event loop:

* :meth:`Ledger.submit` appends validated imprints to the round open *now* and returns
  where they sit (round index, first leaf index); nothing is durable yet.
* :meth:`Ledger.close_due` closes every round whose time has passed, empty ones
  included, with the steps of docs/spec/ledger.md §3.1 numbered below: one durable
  database commit per call, new tiles, a new signed checkpoint, witness cosignatures.
* :meth:`Ledger.receipts` answers from the closed rounds: round path from the round
  tree, calendar path from the tiles, the latest cosigned checkpoint.

Only database work runs in worker threads; everything touching the calendar writer
runs on the loop, so readers never see it half-updated.

With a :class:`~sild.ledger.election.WriterLock` the ledger takes part in the writer
election (docs/spec/ledger.md §3.4): :meth:`Ledger.run` closes rounds while it holds
the lock and otherwise follows the database as a standby (:meth:`Ledger.sync`),
serving reads and trying the lock again every ``standby_poll_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from array import array
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import sha256
from itertools import accumulate, islice
from pathlib import Path

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine

from sild.core._b64 import b64encode
from sild.core.calendar import CalendarRecord, Publication
from sild.core.checkpoint import Checkpoint, add_cosignature, parse_checkpoint, sign_checkpoint
from sild.core.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    RootHash,
    consistency_proof_from,
    inclusion_proof_from,
)
from sild.core.note import Ed25519Signer, NoteSignature, parse_note, sign_note
from sild.core.receipt import RECEIPT_MAGIC
from sild.core.tlogproof import HEADER, ROUND_PATH_MAGIC
from sild.errors import (
    NotFound,
    RoundFull,  # re-exported
    ServiceUnavailable,
    StorageError,
)
from sild.ledger.election import NotWriter, WriterLock
from sild.ledger.intake import usable_sizes
from sild.ledger.settings import LedgerSettings
from sild.ledger.tilestore import CalendarWriter, TileStore, replay
from sild.store import migrate
from sild.store.ledger_tables import ledger_publications, ledger_rounds, ledger_state

__all__ = ["Cosigner", "Ledger", "NotWriter", "RoundFull", "Submission", "now_ms"]

log = structlog.get_logger("sild.ledger")

Cosigner = Callable[[bytes, int, Callable[[int], list[bytes]]], Awaitable[list[NoteSignature]]]
"""``(signed checkpoint, new size, proof(old_size)) -> cosignature lines``: asks witnesses."""


def now_ms() -> int:
    """The wall clock in Unix milliseconds (the default clock; tests pass their own)."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class Submission:
    """Where a batch went: leaves ``first .. first + count - 1`` of round ``round``."""

    round: int
    first: int
    count: int

    def ids(self) -> list[str]:
        """Receipt ids ``<round>.<leaf>``."""
        return [f"{self.round}.{i}" for i in range(self.first, self.first + self.count)]


class _Imprints:
    """A round's imprints packed: one ``bytes`` (or, while the round is open, one
    ``bytearray``) of imprints back to back and the offset of each, ``offsets[i] ..
    offsets[i + 1]`` (4 bytes each: a round holds at most ``max_round`` imprints of at
    most 65 bytes). About 37 bytes per SHA-256 imprint instead of ~80 as a list of
    ``bytes`` objects: the open round and the cached ones are most of issue 4's memory
    budget (docs/benchmarks.md, ledger memory)."""

    __slots__ = ("data", "offsets")

    def __init__(self, data: bytes | bytearray = b"", offsets: array[int] | None = None) -> None:
        self.data = data
        self.offsets = array("I", (0,)) if offsets is None else offsets

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def extend(self, imprints: list[bytes]) -> None:
        """Append imprints (to an open round's ``bytearray``)."""
        assert isinstance(self.data, bytearray)
        self.data += b"".join(imprints)
        ends = accumulate(map(len, imprints), initial=self.offsets[-1])
        self.offsets.extend(islice(ends, 1, None))  # without the repeated start

    def leaves(self) -> bytes:
        """The RFC 6962 leaf hashes, packed; hashed in chunks (the hot loop) so the list
        of digest objects stays small."""
        data, offs, sha = self.data, self.offsets, sha256
        parts, n = [], len(offs) - 1
        for s in range(0, n, _LEAF_CHUNK):
            e = min(s + _LEAF_CHUNK, n)
            a, b = offs[s:e], offs[s + 1 : e + 1]
            hashes = [sha(b"\x00" + data[i:j]).digest() for i, j in zip(a, b, strict=True)]
            parts.append(b"".join(hashes))
        return b"".join(parts)


_LEAF_CHUNK = 4096


class _Round:
    """A closed round's imprints, its RFC 6962 tree and its calendar record."""

    __slots__ = ("imprints", "record", "tree")

    def __init__(self, imprints: _Imprints, time_ms: int) -> None:
        imprints.data = bytes(imprints.data)  # frozen; the open round's buffer is freed
        self.imprints = imprints
        self.tree = MerkleTree.packed(self.imprints.leaves())
        self.record = CalendarRecord(time_ms, len(self.imprints), self.tree.root())


def split_imprints(blob: bytes) -> _Imprints:
    """The imprints of a stored round (self-delimiting, as accepted at intake)."""
    sizes = usable_sizes(datetime(1970, 1, 1, tzinfo=UTC))  # every algorithm ever accepted
    offsets = array("I", (0,))
    pos = 0
    while pos < len(blob):
        pos += 1 + sizes[blob[pos]]
        offsets.append(pos)
    if pos != len(blob):
        raise StorageError("a stored round's imprints end in a truncated imprint")
    return _Imprints(blob, offsets)


class Ledger:
    """The single writer of one ledger; see the module docstring."""

    def __init__(
        self,
        *,
        settings: LedgerSettings,
        engine: Engine,
        signer: Ed25519Signer,
        tiles: Path,
        clock: Callable[[], int] = now_ms,
        cosigner: Cosigner | None = None,
        lock: WriterLock | None = None,
        guard: WriterLock | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.signer = signer
        self.store = TileStore(tiles)
        self.clock = clock
        self.cosigner = cosigner
        self.rounds = settings.clock
        self.limits = settings.limits
        self._pending: dict[int, _Imprints] = {}
        self._closed: OrderedDict[int, _Round] = OrderedDict()
        self._writer = CalendarWriter(self.store)
        self.checkpoint: bytes = b""  # the latest published (cosigned) checkpoint note
        self.size = 0  # rounds closed and published
        self._tick = asyncio.Event()
        self._proofs: dict[int, bytes] = {}  # round → "index …\n<path>\n\n<checkpoint>"
        self._lock = asyncio.Lock()
        # Without a lock this object is the writer by fiat (tests, tools); the commit's
        # compare-and-swap still refuses a second writer (§3.4).
        self.lock = lock
        self.guard = guard  # the folder's own lock: one process per folder (§3.4)
        self.role = "writer" if lock is None else "standby"
        self._published = 0  # the largest publication size written to the folder

    # --- start-up (docs/spec/ledger.md §3.3) ---------------------------------------------

    def open(self) -> None:
        """Create tables, load the state, and rebuild any tile the folder lacks."""
        migrate(self.engine, "ledger")
        if self.lock is not None and self.lock.try_acquire():
            self.role = "writer"
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(ledger_state).where(ledger_state.c.id == 1)).first()
        if row is not None:
            origin = parse_checkpoint(parse_note(bytes(row.checkpoint)).text).origin
            if origin != self.settings.origin:
                raise StorageError(
                    f"the database holds ledger {origin!r}, not {self.settings.origin!r}"
                )
        if row is None:
            self.size, self.checkpoint = 0, self._sign(0, EMPTY_ROOT)
            self.store.write("checkpoint", self.checkpoint)
            return
        self.size, self.checkpoint = int(row.size), bytes(row.checkpoint)
        try:
            self._writer = CalendarWriter(self.store, self.size)
            ok = self._writer.root() == bytes(row.root)
        except Exception as e:  # any unreadable tile means: rebuild from the database
            log.warning("ledger.tiles_unreadable", error=str(e))
            ok = False
        if not ok:
            log.warning("ledger.rebuilding_tiles", size=self.size)
            self._writer = replay(self.store, self._stored_records())
            if self._writer.root() != bytes(row.root):
                raise StorageError("the stored rounds do not lead to the stored calendar root")
        self.store.write("checkpoint", self.checkpoint)
        self._write_publications()

    def close(self) -> None:
        """Give back the writer lock and the folder, close the database connections."""
        for lock in (self.lock, self.guard):
            if lock is not None:
                lock.release()
        self.engine.dispose()

    def _stored_records(self) -> list[CalendarRecord]:
        q = sa.select(ledger_rounds.c.time_ms, ledger_rounds.c.size, ledger_rounds.c.root)
        with self.engine.connect() as conn:
            rows = conn.execute(q.where(ledger_rounds.c.idx < self.size).order_by("idx"))
            return [CalendarRecord(r.time_ms, r.size, RootHash(bytes(r.root))) for r in rows]

    def _sign(self, size: int, root: RootHash) -> bytes:
        return sign_checkpoint(Checkpoint(self.settings.origin, size, root), signer=self.signer)

    # --- intake (docs/spec/ledger.md §2) ------------------------------------------------

    def submit(self, imprints: list[bytes]) -> Submission:
        """Queue validated imprints in the round open now (see :mod:`sild.ledger.intake`)."""
        if self.role != "writer":
            raise NotWriter("this ledger process is a standby; submit to the writer")
        r = self.rounds.round_at(self.clock())
        if r < self.size:  # before genesis, or the clock went back past a closed round
            raise ServiceUnavailable("the ledger's clock is behind its calendar", round=r)
        pending = self._pending.get(r)
        if pending is None:
            pending = self._pending[r] = _Imprints(bytearray())
        first = len(pending)
        if first + len(imprints) > self.limits.max_round:
            raise RoundFull(f"round {r} is full; retry after it closes", round=r)
        pending.extend(imprints)
        return Submission(r, first, len(imprints))

    # --- closing rounds (docs/spec/ledger.md §3.1) --------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Close rounds while this process is the writer, follow as a standby otherwise,
        until ``stop`` is set (docs/spec/ledger.md §3.4)."""
        try:
            while not stop.is_set():
                if self.role == "writer":
                    await self._run_writer(stop)
                else:
                    await self._run_standby(stop)
        finally:
            aclose = getattr(self.cosigner, "aclose", None)
            if aclose is not None:
                await aclose()
            for lock in (self.lock, self.guard):
                if lock is not None:
                    lock.release()

    async def _run_writer(self, stop: asyncio.Event) -> None:
        """Close rounds at their boundaries until ``stop`` is set or the lock is lost."""
        while not stop.is_set():
            now = self.clock()
            nxt = self.rounds.end_ms(self.rounds.round_at(now))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, (nxt - now) / 1000))
            if self.lock is not None and not await asyncio.to_thread(self.lock.held):
                self._step_down("lost the writer lock")
                return
            try:
                await self.close_due()
            except NotWriter as e:
                self._step_down(e.message)
                return
            except Exception:  # keep serving; the next tick retries from the durable state
                log.exception("ledger.close_failed")

    def _step_down(self, why: str) -> None:
        """Stop writing: what was pending is dropped (never acknowledged by a receipt)."""
        log.error("ledger.standby", reason=why, dropped=sum(map(len, self._pending.values())))
        self.role = "standby"
        self._pending.clear()
        if self.lock is not None:
            self.lock.release()

    async def _run_standby(self, stop: asyncio.Event) -> None:
        """Follow the database and try the lock every ``standby_poll_s`` until it is ours."""
        assert self.lock is not None
        while not stop.is_set():
            try:
                await self.sync()
                if await asyncio.to_thread(self.lock.try_acquire):
                    # Whatever the last writer committed before it died is durable now.
                    await self.sync()
                    self.role = "writer"
                    log.warning("ledger.writer", took_over_at=self.size)
                    return
            except Exception:  # the database may be down too: keep trying
                log.exception("ledger.standby_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.limits.standby_poll_s)

    async def sync(self) -> int:
        """Append the rounds another writer committed since our size; return the size.

        The database is read in a worker thread; the calendar writer is updated here on
        the loop, as when closing a round, and waiters are woken.
        """
        grown = False
        while True:
            got = await asyncio.to_thread(self._read_committed, self._writer.size)
            if got is None:
                break
            size, root, checkpoint, records = got
            self._writer.append(records)
            if self._writer.size < size:
                continue  # a long catch-up, in chunks; publish once complete
            if self._writer.root() != root:
                self._writer = CalendarWriter(self.store, self.size)
                raise StorageError(f"the committed rounds do not lead to the root at {size}")
            self.checkpoint, self.size = checkpoint, size
            self.store.write("checkpoint", checkpoint)
            self._proofs.clear()
            grown = True
        if grown:
            await asyncio.to_thread(self._write_publications)
            old, self._tick = self._tick, asyncio.Event()
            old.set()
        return self.size

    def _read_committed(
        self, have: int
    ) -> tuple[int, RootHash, bytes, list[CalendarRecord]] | None:
        """The durable state and up to ``catch_up_chunk`` records after ``have``."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(ledger_state).where(ledger_state.c.id == 1)).first()
            if row is None or int(row.size) == have:
                return None
            if int(row.size) < have:
                raise StorageError(f"the database's calendar ({row.size}) is behind ours ({have})")
            end = min(int(row.size), have + self.limits.catch_up_chunk)
            q = sa.select(ledger_rounds.c.idx, ledger_rounds.c.time_ms, ledger_rounds.c.size,
                          ledger_rounds.c.root)
            q = q.where(ledger_rounds.c.idx >= have, ledger_rounds.c.idx < end).order_by("idx")
            rows = conn.execute(q).all()
        if [r.idx for r in rows[:1]] != [have] or len(rows) != end - have:
            raise StorageError(f"rounds {have}..{end - 1} are missing from the database")
        records = [CalendarRecord(r.time_ms, r.size, RootHash(bytes(r.root))) for r in rows]
        return int(row.size), RootHash(bytes(row.root)), bytes(row.checkpoint), records

    async def close_due(self) -> int:
        """Close every round that has ended; return the calendar size."""
        async with self._lock:
            current = self.rounds.round_at(self.clock())
            while self.size < current:
                end = min(current, self.size + self.limits.catch_up_chunk)
                await self._close(self.size, end)
            return self.size

    async def _close(self, first: int, end: int) -> None:
        # (1) take the rounds' submissions; new ones go to the round open now.
        batches = {r: self._pending.pop(r) for r in range(first, end) if r in self._pending}
        # (2) one RFC 6962 tree per non-empty round; (3) its calendar record.
        records: list[CalendarRecord] = []
        closed: dict[int, _Round] = {}
        for r in range(first, end):
            t = self.rounds.end_ms(r)
            imprints = batches.pop(r, None)
            if imprints:
                rnd = _Round(imprints, t)
                closed[r] = rnd
                records.append(rnd.record)
            else:
                records.append(CalendarRecord.empty(t))
        # (4) append to the calendar and write its tiles (before the commit: §3.3).
        self._writer.append(records)
        root = self._writer.root()
        # (5) a new checkpoint, signed by the ledger key.
        checkpoint = self._sign(end, root)
        # (6) one durable commit: the rounds and the new state.
        rows = [
            {
                "idx": r,
                "time_ms": rec.time_ms,
                "size": rec.size,
                "root": rec.root,
                "imprints": bytes(closed[r].imprints.data) if r in closed else None,
            }
            for r, rec in zip(range(first, end), records, strict=True)
        ]
        try:
            await asyncio.to_thread(self._commit, rows, first, end, root, checkpoint)
        except BaseException:
            # Nothing was acknowledged: forget the appended rounds, keep the durable state.
            self._writer = CalendarWriter(self.store, self.size)
            raise
        # (7) witnesses cosign (tlog-witness), within a bounded time.
        old_size = self.size
        if self.cosigner is not None:
            checkpoint = await self._cosign(checkpoint, end)
        # (8) publish: the checkpoint file, receipts, the waiters.
        self.store.write("checkpoint", checkpoint)
        self.checkpoint, self.size = checkpoint, end
        self._proofs.clear()
        for r, rnd in closed.items():
            self._closed[r] = rnd
        self._trim_closed()
        # (9) a publication every `publication_every` rounds.
        every = self.settings.publication_every
        if end // every > old_size // every:
            await asyncio.to_thread(self._publish, end, root, records[-1].time_ms, checkpoint)
        old, self._tick = self._tick, asyncio.Event()
        old.set()

    def _commit(
        self,
        rows: list[dict[str, int | bytes | None]],
        old: int,
        size: int,
        root: bytes,
        checkpoint: bytes,
    ) -> None:
        """(6) One transaction: the state moves from ``old`` to ``size`` (compare-and-swap,
        so a second writer can never append another version of a round), and the rounds."""
        state = {"size": size, "root": root, "checkpoint": checkpoint}
        try:
            with self.engine.begin() as conn:
                done = conn.execute(
                    ledger_state.update().where(
                        ledger_state.c.id == 1, ledger_state.c.size == old
                    ),
                    state,
                )
                if done.rowcount == 0:
                    exists = conn.execute(sa.select(ledger_state.c.size)).first()
                    if exists is not None or old != 0:
                        raise NotWriter(
                            f"another writer moved the calendar past {old}", size=old
                        )
                    conn.execute(ledger_state.insert(), {"id": 1, **state})
                if rows:
                    conn.execute(ledger_rounds.insert(), rows)
        except sa.exc.IntegrityError as e:  # a concurrent first insert of state or rounds
            raise NotWriter(f"another writer committed round {old} first", size=old) from e

    async def _cosign(self, checkpoint: bytes, size: int) -> bytes:
        assert self.cosigner is not None
        reader = self._writer.reader(size)

        def proof(old: int) -> list[bytes]:
            return consistency_proof_from(reader.node, old, size)

        try:
            sigs = await asyncio.wait_for(
                self.cosigner(checkpoint, size, proof), self.limits.witness_timeout_s
            )
        except TimeoutError:
            log.warning("ledger.witness_timeout", size=size)
            return checkpoint
        for s in sigs:
            checkpoint = add_cosignature(checkpoint, s)
        # Not committed again: one commit per round. After a restart the ledger-signed
        # note is served until the next round is cosigned.
        return checkpoint

    def _publish(self, size: int, root: bytes, time_ms: int, checkpoint: bytes) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                ledger_publications.insert(),
                {"size": size, "root": root, "time_ms": time_ms, "checkpoint": checkpoint},
            )
        self._write_publications()

    def _write_publications(self) -> None:
        """Write ``publication/<size>`` and ``publications`` for any publication the
        folder lacks (a standby writes those its writer made)."""
        pubs = self.publications()
        new = [(p, cp) for p, _, cp in pubs if p.size > self._published]
        if not new:
            return
        for p, cp in new:
            self.store.write(f"publication/{p.size}", cp)
        self.store.write("publications", self.publications_file(pubs))
        self._published = new[-1][0].size

    def publications(self) -> list[tuple[Publication, int, bytes]]:
        """Every publication: (size and root, time in Unix ms, cosigned checkpoint)."""
        q = sa.select(ledger_publications).order_by(ledger_publications.c.size)
        with self.engine.connect() as conn:
            return [
                (Publication(r.size, RootHash(bytes(r.root))), r.time_ms, bytes(r.checkpoint))
                for r in conn.execute(q)
            ]

    def publications_file(
        self, pubs: list[tuple[Publication, int, bytes]] | None = None
    ) -> bytes:
        """The publications file: a note signed by the ledger (docs/spec/ledger.md §6.2)."""
        lines = [f"sild-publications/v1 {self.settings.origin}"]
        for p, t, _ in self.publications() if pubs is None else pubs:
            lines.append(f"{p.size} {b64encode(p.root)} {t} {p.code()}")
        return sign_note("".join(x + "\n" for x in lines), signer=self.signer)

    # --- receipts (docs/spec/ledger.md §4) -----------------------------------------------

    async def wait_closed(self, round_index: int, wait_s: float) -> bool:
        """Wait until ``round_index`` is closed and published, or ``wait_s`` seconds pass."""
        deadline = time.monotonic() + wait_s
        while self.size <= round_index:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                await asyncio.wait_for(self._tick.wait(), left)
            except TimeoutError:
                return False
        return True

    def _round(self, r: int) -> _Round:
        rnd = self._closed.get(r)
        if rnd is not None:
            return rnd
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(ledger_rounds).where(ledger_rounds.c.idx == r)).first()
        if row is None or row.imprints is None:
            raise NotFound(f"round {r} has no receipts (empty, pruned or not closed)", round=r)
        rnd = _Round(split_imprints(bytes(row.imprints)), row.time_ms)
        if rnd.record.root != bytes(row.root):
            raise StorageError(f"round {r}: stored imprints do not lead to its root", round=r)
        self._closed[r] = rnd  # a standby (or a restarted writer) serves it again soon
        self._trim_closed()
        return rnd

    def _trim_closed(self) -> None:
        """Keep at most ``keep_rounds`` round trees and ``keep_hashes`` hashes in memory
        (the newest round always): memory stays bounded however busy rounds get."""
        held = sum(len(r.imprints) for r in self._closed.values())
        while len(self._closed) > 1 and (
            len(self._closed) > self.limits.keep_rounds or held > self.limits.keep_hashes
        ):
            held -= len(self._closed.popitem(last=False)[1].imprints)

    def _tail(self, r: int) -> bytes:
        """``index r``, the calendar path and the checkpoint: shared by the round's receipts."""
        tail = self._proofs.get(r)
        if tail is None:
            size = parse_checkpoint(parse_note(self.checkpoint).text).size
            path = inclusion_proof_from(self._writer.reader(size).node, r, size)
            lines = [b"index %d" % r, *(b64encode(h).encode() for h in path)]
            tail = b"\n".join(lines) + b"\n\n" + self.checkpoint
            self._proofs[r] = tail
        return tail

    def receipts(self, round_index: int, first: int, count: int) -> list[bytes]:
        """The receipts of leaves ``first .. first + count - 1`` of a closed round."""
        if round_index >= self.size:
            raise NotFound(f"round {round_index} is not closed yet", round=round_index)
        rnd = self._round(round_index)
        k = len(rnd.imprints)
        if first < 0 or count <= 0 or first + count > k:
            raise NotFound(f"round {round_index} has {k} hashes", round=round_index)
        tail = self._tail(round_index)
        # The bytes of ReceiptExtra(imprint, t, RoundPath(r, k, i, path)).to_bytes(), built
        # directly: the hot loop of intake (test_service_receipts_match_the_core_format).
        t = rnd.record.time_ms.to_bytes(8, "big")
        mid = ROUND_PATH_MAGIC + round_index.to_bytes(8, "big") + k.to_bytes(8, "big")
        head = HEADER + b"\nextra "
        tail = b"\n" + tail
        data, offsets = rnd.imprints.data, rnd.imprints.offsets
        out = []
        proofs = rnd.tree.inclusion_proofs(first, count)
        for i, path in zip(range(first, first + count), proofs, strict=True):
            imp = data[offsets[i] : offsets[i + 1]]
            extra = b"".join((RECEIPT_MAGIC, bytes((len(imp),)), imp, t, mid,
                              i.to_bytes(8, "big"), bytes((len(path),)), *path))
            out.append(head + b64encode(extra).encode() + tail)
        return out
