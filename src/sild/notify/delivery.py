"""The delivery worker: webhook POSTs with signatures, retries and dead letters.

docs/spec/notify.md §5. One asyncio task claims due deliveries from the store
(:meth:`~sild.notify.store.NotifyStore.claim`) and sends each in its own task:

1. bounded: at most ``concurrency`` POSTs in flight, at most ``per_subscription`` per
   subscription, each cut off after ``webhook_timeout`` — a receiver that hangs or
   answers 500 holds its own slots only, never another person's delivery nor the
   ``/v1/events`` endpoint (§5.4);
2. signed: Standard Webhooks headers ``webhook-id`` (the delivery, the same on every
   retry), ``webhook-timestamp`` and ``webhook-signature`` (§5.2);
3. safe: no redirects; a name is resolved and each address checked before connecting
   (:class:`GuardedResolver`), so a name that resolves to a private address is refused
   like a literal one (§3.1);
4. outcome: 2xx → delivered; anything else → again after :func:`retry_delay`, dead
   after ``max_attempts`` (§5.3). All state is in the store: a restart resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random
import socket
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

import aiohttp
import structlog
from aiohttp.abc import AbstractResolver, ResolveResult

from sild.notify.model import Network, address_allowed, retry_delay, sign
from sild.notify.store import Claimed, NotifyStore

__all__ = ["DeliveryWorker", "GuardedResolver", "RefusedAddress"]

log = structlog.get_logger("sild.notify.delivery")


class RefusedAddress(OSError):
    """The webhook's host resolves only to addresses that are not allowed."""


class GuardedResolver(AbstractResolver):
    """aiohttp's threaded resolver, keeping only allowed addresses (§3.1)."""

    def __init__(self, allowed: Sequence[Network]) -> None:
        self._inner = aiohttp.ThreadedResolver()
        self._allowed = tuple(allowed)

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        kept = [r for r in found if address_allowed(r["host"], self._allowed)]
        if not kept:
            raise RefusedAddress(f"{host} resolves to no public address")
        return kept

    async def close(self) -> None:
        await self._inner.close()


class DeliveryWorker:
    """``await start()`` … ``wake()`` after new events … ``await stop()``."""

    def __init__(self, store: NotifyStore, *, rng: random.Random | None = None) -> None:
        self.store = store
        self.limits = store.limits
        self._rng = rng or random.Random()  # noqa: S311  (jitter, not a secret)
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._busy: dict[str, int] = {}
        self._inflight: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self.sent = 0  # attempts made (for tests and /healthz)

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._wake, self._stop = asyncio.Event(), asyncio.Event()  # this loop's (a restart)
        connector = aiohttp.TCPConnector(resolver=GuardedResolver(self.store.allowed),
                                         limit=self.limits.concurrency, force_close=False)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=self.limits.webhook_timeout),
            headers={"User-Agent": "sild-notify/1"})
        self._task = asyncio.create_task(self._loop(), name="sild-notify-delivery")

    async def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self._task, 5)
        for task in list(self._inflight):  # leased: due again after the lease
            task.cancel()
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=5)
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            free = self.limits.concurrency - len(self._inflight)
            claimed: list[Claimed] = []
            if free > 0:
                try:
                    claimed = await asyncio.to_thread(self.store.claim, limit=free,
                                                      busy=dict(self._busy))
                except Exception as e:  # the store is down: try again shortly
                    log.warning("claim_failed", error=str(e)[:200])
            for c in claimed:
                self._busy[c.subscription_id] = self._busy.get(c.subscription_id, 0) + 1
                task = asyncio.create_task(self._deliver(c))
                self._inflight.add(task)
                task.add_done_callback(self._inflight.discard)
            if len(claimed) >= free > 0:
                continue  # more may be due: look again at once
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.limits.poll)

    async def _deliver(self, c: Claimed) -> None:
        try:
            ok, status, error = await self._post(c)
            self.sent += 1
            retry = None
            if not ok and c.attempts < self.limits.max_attempts:
                retry = retry_delay(c.attempts, base=self.limits.retry_base,
                                    cap=self.limits.retry_cap, jitter=self._rng.random())
            state = await asyncio.to_thread(self.store.finish, c.id, ok=ok, status=status,
                                            error=error, retry_in=retry)
            if state == "dead":
                log.warning("delivery_dead", delivery=c.id, subscription=c.subscription_id,
                            attempts=c.attempts, error=error)
            elif not ok:
                log.info("delivery_retry", delivery=c.id, attempts=c.attempts, error=error,
                         retry_in=retry)
        except Exception as e:  # the store failed: the lease brings it back
            log.warning("delivery_unrecorded", delivery=c.id, error=str(e)[:200])
        finally:
            left = self._busy.get(c.subscription_id, 1) - 1
            if left > 0:
                self._busy[c.subscription_id] = left
            else:
                self._busy.pop(c.subscription_id, None)
            self._wake.set()  # a slot is free

    async def _post(self, c: Claimed) -> tuple[bool, int | None, str | None]:
        assert self._session is not None
        host = urlsplit(c.url).hostname or ""
        with contextlib.suppress(ValueError):  # a literal address skips the resolver
            ipaddress.ip_address(host)
            if not address_allowed(host, self.store.allowed):
                return False, None, f"{host} is not a public address"
        ts = int(time.time())
        msg_id = f"ntf_{c.id}"
        headers = {"Content-Type": "application/json", "webhook-id": msg_id,
                   "webhook-timestamp": str(ts),
                   "webhook-signature": sign(c.secret, msg_id=msg_id, timestamp=ts,
                                             body=c.body)}
        try:
            async with self._session.post(c.url, data=c.body, headers=headers,
                                          allow_redirects=False) as r:
                answer = await r.content.read(self.limits.max_answer)
                if 200 <= r.status < 300:
                    return True, r.status, None
                text = answer.decode("utf-8", "replace").strip()[:200]
                return False, r.status, f"HTTP {r.status}" + (f": {text}" if text else "")
        except TimeoutError:
            return False, None, f"no answer within {self.limits.webhook_timeout:g} s"
        except RefusedAddress as e:
            return False, None, str(e)
        except aiohttp.ClientConnectorError as e:
            if isinstance(e.os_error, RefusedAddress):  # from GuardedResolver, wrapped
                return False, None, str(e.os_error)
            return False, None, f"{type(e).__name__}: {str(e)[:160]}"
        except (aiohttp.ClientError, OSError) as e:
            return False, None, f"{type(e).__name__}: {str(e)[:160]}"
