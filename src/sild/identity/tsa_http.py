"""The timestamping authority over HTTP (RFC 3161 §3.4), backed by the ledger.

docs/spec/tsa.md §3, §5:

* ``POST /`` (any path), ``Content-Type: application/timestamp-query``, body the DER
  TimeStampReq → ``application/timestamp-reply``, the DER TimeStampResp;
* ``GET /healthz`` → ``{"ledger", "policy"}``.

A request is (1) parsed (:func:`~sild.identity.tsa.parse_request`); (2) its imprint goes
to the ledger, batched with the others that arrive within ``linger`` (one ``POST /add``
for many requests, research/ksi-tlog.md §6.4); (3) the receipt is verified under the
TSA's trust policy for the ledger (its key) and its round time must agree with the
TSA's clock; (4) the token is signed with ``genTime`` = the round's time. A ledger
that is down, slow or untrusted gives ``rejection`` / ``timeNotAvailable``: a token is
never issued without a receipt. Every TSA answer is HTTP 200 except: body over the
limit 413, other content type 415, other method 405 — each still a DER TimeStampResp
(rejection, badRequest).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sild.core.receipt import InternallyConsistentReceipt, parse_receipt
from sild.core.verification import ReceiptVerifier, Status, TrustPolicy
from sild.errors import ServiceUnavailable, SildError
from sild.identity._http import BodyTooLarge, read_limited, serve_app
from sild.identity.tsa import (
    SILD_TSA_POLICY,
    FailInfo,
    TsaLimits,
    TsaRejection,
    TsaSigner,
    issue_token,
    parse_request,
    rejection,
)
from sild.ledger.client import LedgerClient

__all__ = ["LedgerStamper", "TimestampService", "create_tsa_app", "serve_tsa"]

log = structlog.get_logger("sild.identity.tsa")

TS_QUERY = "application/timestamp-query"
TS_REPLY = "application/timestamp-reply"


@dataclass(frozen=True, slots=True)
class StamperLimits:
    """How imprints are batched to the ledger, with reasons."""

    # Requests arriving within this many seconds share one POST /add: at 1 s rounds a
    # few ms of extra latency buys one HTTP call per batch instead of one per token.
    linger_s: float = 0.005
    # The ledger's own max_batch (docs/spec/ledger.md §2.1).
    max_batch: int = 10_000
    # A receipt normally comes one round (≤ 20 s, the longest period) after submission;
    # past this the TSA answers timeNotAvailable instead of keeping the client waiting.
    timeout_s: float = 30.0
    # genTime comes from the ledger; it must agree with the TSA's clock this closely
    # (a ledger with a wrong clock must not make the TSA sign a wrong time).
    max_skew: timedelta = timedelta(seconds=5)


class LedgerStamper:
    """Anchors imprints in the ledger in batches and returns verified receipts."""

    def __init__(self, client: LedgerClient, *, policy: TrustPolicy,
                 limits: StamperLimits = StamperLimits(),
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        if not policy.log_keys and not policy.publications:
            raise ServiceUnavailable("the TSA needs the ledger's key to check its receipts")
        self.client = client
        self.limits = limits
        self.clock = clock
        self._verifier = ReceiptVerifier(policy)
        self._pending: list[tuple[bytes, asyncio.Future[tuple[bytes,
                                                             InternallyConsistentReceipt]]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def stamp(self, imprint: bytes) -> tuple[bytes, InternallyConsistentReceipt]:
        """The verified receipt for ``imprint``; :class:`ServiceUnavailable` if none comes."""
        fut: asyncio.Future[tuple[bytes, InternallyConsistentReceipt]] = (
            asyncio.get_running_loop().create_future())
        self._pending.append((imprint, fut))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        try:
            return await asyncio.wait_for(asyncio.shield(fut), self.limits.timeout_s)
        except TimeoutError as e:
            # Nobody waits any more: consume the late outcome so asyncio does not
            # report an unretrieved exception.
            fut.add_done_callback(lambda f: f.cancelled() or f.exception())
            raise ServiceUnavailable("the ledger did not return a receipt in time") from e

    async def _flush(self) -> None:
        await asyncio.sleep(self.limits.linger_s)
        while self._pending:
            batch = self._pending[: self.limits.max_batch]
            del self._pending[: self.limits.max_batch]
            task = asyncio.create_task(self._anchor(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _anchor(self, batch: list[tuple[bytes, asyncio.Future[
            tuple[bytes, InternallyConsistentReceipt]]]]) -> None:
        try:
            sub = await self.client.add([imprint for imprint, _ in batch])
            receipts = await self.client.receipts(sub, wait_s=self.limits.timeout_s)
        except (SildError, asyncio.CancelledError) as e:
            message = e.message if isinstance(e, SildError) else "the TSA is stopping"
            log.warning("tsa.ledger_failed", error=message, batch=len(batch))
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(ServiceUnavailable(f"ledger: {message}"))
            if isinstance(e, asyncio.CancelledError):
                raise
            return
        at = self.clock()
        for (imprint, fut), receipt in zip(batch, receipts, strict=True):
            if fut.done():
                continue
            v = self._verifier.verify(receipt, imprint=imprint, at=at)
            if v.status is not Status.OK or v.receipt is None:
                log.error("tsa.receipt_rejected", code=v.code, message=v.message)
                fut.set_exception(ServiceUnavailable(f"ledger receipt refused: {v.code}"))
            else:
                fut.set_result((receipt, v.receipt))

    async def close(self) -> None:
        """Stop: batches still waiting for the ledger are cancelled (their requests get
        timeNotAvailable), then the ledger client is closed."""
        if self._flusher is not None:
            self._flusher.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for _, fut in self._pending:
            if not fut.done():
                fut.set_exception(ServiceUnavailable("the TSA is stopping"))
        self._pending.clear()
        await self.client.close()


class TimestampService:
    """One TSA: a signer, a ledger stamper, its policy and limits."""

    def __init__(self, *, signer: TsaSigner, stamper: LedgerStamper,
                 accuracy: timedelta, policy: str = SILD_TSA_POLICY,
                 limits: TsaLimits | None = None) -> None:
        self.signer = signer
        self.stamper = stamper
        self.accuracy = accuracy
        self.policy = policy
        self.limits = limits or TsaLimits()

    async def respond(self, der: bytes) -> bytes:
        """The DER TimeStampResp for the DER TimeStampReq ``der``; never raises."""
        received = self.stamper.clock()
        try:
            req = parse_request(der, policies=(self.policy,), limits=self.limits)  # (1)
        except TsaRejection as r:
            return rejection(r.fail, r.text)
        try:
            receipt, checked = await self.stamper.stamp(req.imprint)  # (2), (3)
        except ServiceUnavailable as e:
            return rejection(FailInfo.TIME_NOT_AVAILABLE, e.message)
        gen_time = checked.time
        skew = self.stamper.limits.max_skew
        if not received - skew - self.accuracy <= gen_time <= self.stamper.clock() + skew:
            log.error("tsa.ledger_clock", gen_time=gen_time.isoformat(),
                      received=received.isoformat())
            return rejection(FailInfo.TIME_NOT_AVAILABLE,
                             "the ledger's round time disagrees with the TSA's clock")
        leaf = parse_receipt(receipt)[1].round_path.leaf_index
        try:
            return issue_token(req, signer=self.signer, gen_time=gen_time,  # (4)
                               serial=(checked.round_index << 32) | leaf,
                               accuracy=self.accuracy, receipt=receipt, policy=self.policy)
        except Exception as e:  # a bug or a key problem: answer, log, do not crash
            log.exception("tsa.sign_failed", error=repr(e))
            return rejection(FailInfo.SYSTEM_FAILURE, "the TSA could not sign")


def _reply(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type=TS_REPLY)


def create_tsa_app(service: TimestampService) -> Starlette:
    """The ASGI app of one TSA."""

    async def post(request: Request) -> Response:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != TS_QUERY:
            return _reply(rejection(FailInfo.BAD_REQUEST, f"Content-Type must be {TS_QUERY}"),
                          415)
        try:
            body = await read_limited(request, service.limits.max_request)
        except BodyTooLarge:
            return _reply(rejection(FailInfo.BAD_REQUEST, "request is too large"), 413)
        return _reply(await service.respond(body))

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ledger": service.stamper.client.url, "policy": service.policy})

    async def other(request: Request) -> Response:
        return _reply(rejection(FailInfo.BAD_REQUEST, "use POST"), 405)

    return Starlette(routes=[
        Route("/healthz", healthz, methods=["GET"]),
        Route("/{path:path}", post, methods=["POST"]),
        Route("/{path:path}", other, methods=["GET", "PUT", "DELETE", "PATCH", "OPTIONS"]),
    ])


async def serve_tsa(*, signer: TsaSigner, ledger_url: str, ledger_policy: TrustPolicy,
                    accuracy: timedelta | None = None, policy: str = SILD_TSA_POLICY,
                    host: str = "127.0.0.1", port: int = 8481,
                    started: Callable[[str], None] | None = None,
                    ledger_credential: str | None = None) -> None:
    """Run a TSA until cancelled (``sild identity tsa serve``).

    ``ledger_credential`` is the TSA's API key for the ledger's ``POST /add``
    (docs/spec/ledger.md §8.1).

    ``accuracy`` defaults to the ledger's round period when ``ledger_policy`` knows the
    ledger's clock (``genesis`` directive), else to one second (the default period).
    """
    if accuracy is None:
        clock = ledger_policy.clock
        accuracy = timedelta(milliseconds=clock.period_ms if clock else 1000)
    stamper = LedgerStamper(LedgerClient(ledger_url, timeout_s=StamperLimits().timeout_s,
                                        credential=ledger_credential),
                            policy=ledger_policy)
    service = TimestampService(signer=signer, stamper=stamper, accuracy=accuracy, policy=policy)
    try:
        await serve_app(create_tsa_app(service), host, port, started)
    finally:
        await stamper.close()
