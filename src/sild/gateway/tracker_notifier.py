"""The provider gateway's notifier: usage records to the notification service, at least once.

docs/spec/notify.md §4.1. A task beside the gateway (started by
:class:`sild.gateway.runtime.Gateway` when ``[tracker] notify`` is set):

1. reads ``usage_log`` rows after the stored watermark (``usage_notify_marks``), by id,
   at most ``batch`` at a time, stopping before an id gap until it has been seen for
   ``gap_wait`` seconds (a slower transaction may still fill it — the same rule as
   anchoring, docs/spec/anchoring.md §3 step 3);
2. leaves out sealed records (docs/spec/tracker.md §4): their content never leaves the
   register while sealed, and a notice would warn the person under a covert inquiry;
   the release is a record of its own and is notified like any use (§2.2);
   (it looks every ``interval`` and at once when the message log reports a commit
   that held usage records, :meth:`MessageLog.on_usage_committed`);
3. POSTs the rest as one batch to ``<notify>/v1/events`` — through this gateway's own
   IS port (``/r1/<notification service id>``, with ``X-Road-Client``), so the events
   travel the exchange signed and logged like any message — or to a URL in tests;
4. moves the watermark past the batch only after the service acknowledged it, so a
   crash or an outage resends (the service deduplicates by event id, §2); while the
   service is down it retries with exponential backoff, capped.

Nothing here blocks the exchange: the database work runs in a worker thread on its own
engine, the send is an ordinary HTTP client call, and traffic never waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from sild.clock import utc_now
from sild.core.identifiers import ServiceId
from sild.core.timefmt import format_micros
from sild.errors import ConfigurationError, StorageError, TransportError
from sild.notify.model import event_id, retry_delay
from sild.store import make_engine
from sild.store.messagelog_tables import usage_log, usage_notify_marks

if TYPE_CHECKING:
    import aiohttp

    from sild.gateway.config import GatewaySettings

__all__ = ["NotifierLimits", "NotifierStatus", "TrackerNotifier", "contiguous", "notify_url",
           "usage_event"]

log = structlog.get_logger("sild.gateway.tracker_notifier")
T = TypeVar("T")

MARK = "notify"
MAX_ANSWER = 256 * 1024


@dataclass(frozen=True)
class NotifierLimits:
    """The notifier's timing, each with its reason (STYLE.md rule 8)."""

    # How often new usage records are looked for: the notice's latency (p95 ≤ 5 s).
    interval: float = 0.2
    # Records per batch; the service takes up to 500.
    batch: int = 200
    # One POST, through two gateways to the service and back.
    timeout: float = 10.0
    # Backoff while the service is down: base·2^(n-1) seconds, at most cap.
    retry_base: float = 0.2
    retry_cap: float = 10.0
    # An id gap is held back this long in case a slower transaction fills it.
    gap_wait: float = 5.0


@dataclass(frozen=True, slots=True)
class NotifierStatus:
    watermark: int  # the last usage_log id the service acknowledged (or skipped: sealed)
    waiting: int  # usage records after it
    failures: int  # failed sends in a row


def contiguous(ids: Sequence[int], watermark: int, gaps: dict[int, float], *,
               monotonic: float, wait: float) -> int:
    """How many of ``ids`` (ascending) to take: up to the first gap after ``watermark``
    that has been seen for less than ``wait`` seconds. ``gaps`` maps a gap's first
    missing id to the monotonic time it was first seen (kept by the caller)."""
    expected, take = watermark + 1, 0
    for i in ids:
        if i != expected:
            seen = gaps.setdefault(expected, monotonic)
            if monotonic - seen < wait:
                break
            gaps.pop(expected, None)
        take += 1
        expected = i + 1
    return take


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def usage_event(row: Any) -> dict[str, Any]:
    """A ``usage_log`` row as the event the service takes (docs/spec/notify.md §2).

    The acting official (``user_id``) and the exchange's message ids stay in the
    register: the person learns who (the receiver), when, why and under what law.
    """
    return {
        "id": event_id(row.register, row.subject, int(row.seq)), "register": row.register,
        "subject": row.subject, "seq": int(row.seq),
        "loggedAt": format_micros(_aware(row.logged_at)), "action": row.action,
        "purposeCode": row.purpose_code, "legalBasis": row.legal_basis,
        "receiver": row.receiver, "receiverName": row.receiver_name, "service": row.service,
        "consentId": row.consent_id,
        "categories": [c for c in row.categories.split(",") if c],
        "flags": [f for f in row.flags.split(",") if f], "reason": row.reason,
        "recordHash": bytes(row.record_hash).hex(),
    }


def notify_url(settings: GatewaySettings) -> str:
    """The ``/v1/events`` URL: through the gateway's own IS port for a service id."""
    target = settings.tracker.notify
    if target.startswith(("http://", "https://")):
        return target.rstrip("/") + "/v1/events"
    if settings.is_tls:
        raise ConfigurationError("[tracker] notify as a service id needs a plain-HTTP IS "
                                 "port; with is_tls give the consumer gateway's URL")
    service = ServiceId.parse(target)
    host, _, port = settings.is_listen.rpartition(":")
    host = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]", "": "127.0.0.1"}.get(host, host)
    return f"http://{host}:{port}/r1/{service.path()}/v1/events"


class TrackerNotifier:
    """``await start()`` … ``await stop()``; ``open()`` and :meth:`send_once` for tests."""

    def __init__(self, engine: Engine, url: str, *, client: str = "",
                 limits: NotifierLimits | None = None, owns_engine: bool = False,
                 rng: random.Random | None = None) -> None:
        self.engine = engine
        self.url = url
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if client:
            self.headers["X-Road-Client"] = client
        self.limits = limits or NotifierLimits()
        self._owns_engine = owns_engine
        self._rng = rng or random.Random()  # noqa: S311  (jitter, not a secret)
        self._gaps: dict[int, float] = {}
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._session: aiohttp.ClientSession | None = None
        self.failures = 0
        self.sent = 0  # events acknowledged (duplicates included)

    @classmethod
    def for_gateway(cls, settings: GatewaySettings,
                    limits: NotifierLimits | None = None) -> TrackerNotifier:
        t = settings.tracker
        limits = limits or NotifierLimits(interval=t.notify_interval)
        return cls(make_engine(settings.database_url), notify_url(settings),
                   client=t.notify_client, limits=limits, owns_engine=True)

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        """The HTTP session and the database thread, without the loop (:meth:`send_once`
        by hand, in tests)."""
        import aiohttp

        self._stop = asyncio.Event()  # bound to this loop
        self._wake = asyncio.Event()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="sild-notifier")
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.limits.timeout), headers=self.headers)

    async def start(self) -> None:
        await self.open()
        self._task = asyncio.create_task(self._loop(), name="sild-tracker-notifier")
        log.info("notifier_started", url=self.url)

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self._task, 5)
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        if self._owns_engine:
            self.engine.dispose()

    def wake(self) -> None:
        """New usage records were committed (the message log calls this): look now."""
        self._wake.set()

    async def _db(self, fn: Any, *args: Any) -> Any:
        if self._executor is None:
            return fn(*args)
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _loop(self) -> None:
        while not self._stop.is_set():
            delay = self.limits.interval
            try:
                moved = await self.send_once()
                self.failures = 0
                if moved >= self.limits.batch:
                    delay = 0  # more are waiting: at once
            except (TransportError, StorageError) as e:
                self.failures += 1
                delay = retry_delay(self.failures, base=self.limits.retry_base,
                                    cap=self.limits.retry_cap, jitter=self._rng.random())
                log.warning("notify_failed", error=e.message[:300], failures=self.failures,
                            retry_in=round(delay, 2))
            except Exception as e:  # a bug: keep trying, loudly
                self.failures += 1
                delay = self.limits.retry_cap
                log.exception("notify_crashed", exc_type=type(e).__name__)
            if delay and self.failures:  # backing off: only stop cuts the wait short
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
            elif delay:  # a commit with usage records, or the poll interval
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
            self._wake.clear()

    # -- one round: read, send, advance (§4.1 steps 1–4) --------------------------------------

    async def send_once(self) -> int:
        """Send what waits (one batch); returns how far the watermark moved, in records."""
        mark: int = await self._db(self._watermark)
        rows: list[Any] = await self._db(self._after, mark)
        if not rows:
            return 0
        events = [usage_event(r) for r in rows if not r.sealed]
        if events:
            await self._post(events)
        await self._db(self._advance, int(rows[-1].id))
        self.sent += len(events)
        return len(rows)

    def _watermark(self) -> int:
        m = usage_notify_marks.c
        try:
            with self.engine.begin() as conn:
                found = conn.execute(sa.select(m.last_id).where(m.name == MARK)).scalar()
                if found is not None:
                    return int(found)
                # first start: notify what is logged from now on, not the whole history
                start = int(conn.execute(sa.select(sa.func.max(usage_log.c.id))).scalar() or 0)
                conn.execute(usage_notify_marks.insert().values(
                    name=MARK, last_id=start, updated_at=utc_now()))
                return start
        except IntegrityError:  # another node wrote it first
            return self._watermark()
        except SQLAlchemyError as e:
            raise StorageError(f"usage log unavailable: {type(e).__name__}") from e

    def _after(self, mark: int) -> list[Any]:
        u = usage_log.c
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(sa.select(usage_log).where(u.id > mark).order_by(u.id)
                                    .limit(self.limits.batch)).all()
        except SQLAlchemyError as e:
            raise StorageError(f"usage log unavailable: {type(e).__name__}") from e
        take = contiguous([int(r.id) for r in rows], mark, self._gaps,
                          monotonic=time.monotonic(), wait=self.limits.gap_wait)
        return list(rows[:take])

    def _advance(self, last_id: int) -> None:
        m = usage_notify_marks.c
        try:
            with self.engine.begin() as conn:  # only forwards (two nodes may share it)
                conn.execute(usage_notify_marks.update().where(
                    m.name == MARK, m.last_id < last_id).values(last_id=last_id,
                                                                 updated_at=utc_now()))
        except SQLAlchemyError as e:
            raise StorageError(f"usage log unavailable: {type(e).__name__}") from e

    async def _post(self, events: list[dict[str, Any]]) -> None:
        import aiohttp

        assert self._session is not None, "start() first"
        body = orjson.dumps({"events": events})
        try:
            async with self._session.post(self.url, data=body, allow_redirects=False) as r:
                raw = await r.content.read(MAX_ANSWER)
                status, code = r.status, r.headers.get("X-Road-Error", "")
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            raise TransportError(f"notification service unreachable at {self.url}: "
                                 f"{type(e).__name__}") from e
        try:
            answer = orjson.loads(raw) if status == 200 else None
        except orjson.JSONDecodeError:
            answer = None
        if not isinstance(answer, dict) or not isinstance(answer.get("accepted"), int) \
                or not isinstance(answer.get("rejected"), list):
            raise TransportError(f"notification service at {self.url} answered HTTP {status}"
                                 + (f" {code}" if code else "") + " without an acknowledgement")
        for bad in answer["rejected"][:10]:  # not retried: the same event fails the same way
            log.error("notify_event_rejected", event=str(bad)[:300])
