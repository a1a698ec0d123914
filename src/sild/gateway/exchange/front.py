"""The gateway's IS port on aiohttp's server, in front of the consumer pipeline (the peer
port runs the lean server, sild.gateway.exchange.lean_server).

aiohttp exposes each connection's TLS peer certificate, which the provider side must
check against global configuration, and measured as fast as raw ASGI on uvicorn here
(research/limits.md §3). The pipelines never see aiohttp: a port turns its request
into an :class:`~sild.gateway.exchange.record.Incoming` and sends back the
:class:`~sild.gateway.exchange.record.Answer`.

Admission (docs/spec/exchange.md §8) is asked before the pipeline and before a byte of
the body is read; a refused request is answered 429 / 503 with ``Retry-After`` at once,
with no log row, and its connection is not read for that long (the caller's next
requests wait in its own socket buffer). The body must arrive within ``body_timeout``
(408 otherwise).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from sild.errors import InvalidRequest, Overloaded, RequestTimeout, TooManyRequests
from sild.gateway.admission import Ticket, backoff
from sild.gateway.exchange.record import Answer, ConsumerExchange, Incoming
from sild.web.errors import answer_for

__all__ = ["EarlyAdmission", "add_is_routes", "consumer_handler", "hold_reading", "incoming",
           "read_body", "to_response"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Statuses that tell the caller to come back later; Retry-After is added when missing
# (a provider gateway's 429 / 503 reaches us as a relayed error without its header).
_LATER = (429, 503)


async def read_body(request: web.Request, limit: int, time_limit: float | None = None
                    ) -> bytes:
    """The whole body, refusing more than ``limit`` bytes without reading past it, and
    a body slower than ``time_limit`` seconds (:class:`~sild.errors.RequestTimeout`)."""
    if time_limit is None:
        return await _read_body(request, limit)
    try:
        async with asyncio.timeout(time_limit):
            return await _read_body(request, limit)
    except TimeoutError:
        raise RequestTimeout(f"request body not received within {time_limit:g} s") from None


async def _read_body(request: web.Request, limit: int) -> bytes:
    if not request.body_exists:  # no Content-Length, not chunked: nothing to read
        return b""
    declared = request.content_length
    if declared is not None:
        if declared > limit:
            raise InvalidRequest(
                f"request body of {declared} bytes exceeds the limit of {limit}")
        return await request.read()  # bounded: aiohttp stops at Content-Length
    chunks = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise InvalidRequest(f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def incoming(request: web.Request, body_timeout: float | None = None) -> Incoming:
    def tls_certificate() -> bytes | None:
        transport = request.transport
        ssl_obj = transport.get_extra_info("ssl_object") if transport is not None else None
        der = ssl_obj.getpeercert(binary_form=True) if ssl_obj is not None else None
        return der or None

    async def body(limit: int) -> bytes:
        return await read_body(request, limit, body_timeout)

    return Incoming(request.method, request.raw_path, request.headers, body, tls_certificate)


def to_response(answer: Answer) -> web.Response:
    response = web.Response(status=answer.status, body=answer.body,
                            headers=CIMultiDict(answer.headers))
    return response


def hold_reading(request: web.Request, seconds: float) -> None:
    """Read nothing more from this connection for ``seconds`` (the answer still goes)."""
    _hold(request.transport, seconds)


def _hold(transport: Any, seconds: float) -> None:
    """Read nothing more from ``transport`` for ``seconds`` × 1 to 1.5 (jittered, so that
    refused connections do not all come back at once)."""
    if transport is None or transport.is_closing() or seconds <= 0:
        return
    transport.pause_reading()

    def resume() -> None:
        if not transport.is_closing():
            transport.resume_reading()

    delay = seconds * (1 + random.random() / 2)  # noqa: S311 (not a secret)
    asyncio.get_running_loop().call_later(delay, resume)


def _header(head_lower: bytes, head: bytes, name: bytes) -> str | None:
    """The last ``name`` header's value in a raw head (``name`` lower case, with ':')."""
    i = head_lower.rfind(b"\r\n" + name)
    if i < 0:
        return None
    start = i + 2 + len(name)
    end = head.find(b"\r\n", start)
    return head[start:end if end >= 0 else len(head)].strip().decode("latin-1")


class EarlyAdmission:
    """Admission on a request's first chunk, before aiohttp parses it
    (``WatchedProtocol(early=…)``, sild.web.deadlines).

    Under a flood most requests are refusals; answering those from the raw head — one
    write, no request object, task or middleware — keeps them cheap (docs/benchmarks.md,
    "Fairness"). Only a chunk that is exactly one complete bodiless ``/r1/`` request head
    is judged here; anything else goes to aiohttp and the handler asks admission as
    usual. An admitted request's ticket is left on the connection for the handler.
    """

    def __init__(self, admit: Callable[[str], Ticket]) -> None:
        self.admit = admit  # by the X-Road-Client text
        # Error ids for these answers: unique, cheaper than uuid4's getrandom per refusal.
        self._ids = itertools.count()
        self._prefix = f"{uuid.uuid4().hex[:12]}-"

    def __call__(self, conn: Any, data: bytes) -> bool:
        end = data.find(b"\r\n\r\n")
        if end < 0 or end + 4 != len(data):
            return False  # partial, or a body or another request follows
        head = data[:end]
        line_end = head.find(b"\r\n")
        parts = (head[:line_end] if line_end >= 0 else head).split(b" ")
        if (len(parts) != 3 or not parts[1].startswith(b"/r1/")
                or parts[2] not in (b"HTTP/1.1", b"HTTP/1.0")):
            return False
        lower = head.lower()
        if b"\r\ncontent-length:" in lower or b"\r\ntransfer-encoding:" in lower:
            return False  # a body: aiohttp reads or discards it
        try:
            ticket = self.admit(_header(lower, head, b"x-road-client:") or "")
        except (TooManyRequests, Overloaded) as e:  # docs/spec/exchange.md §8
            conn.refusals += 1
            self._refuse(conn, e, lower, head, parts[2])
            return True
        conn.refusals = 0
        conn.stash(ticket)
        return False

    def _refuse(self, conn: Any, e: TooManyRequests | Overloaded, lower: bytes, head: bytes,
                version: bytes) -> None:
        transport = conn.transport
        after = backoff(e.retry_after, conn.refusals)
        a = answer_for(e, component="ClientProxy",
                       accept=_header(lower, head, b"accept:") or "",
                       detail=f"{self._prefix}{next(self._ids):x}")
        connection = (_header(lower, head, b"connection:") or "").lower()
        close = "close" in connection or (version == b"HTTP/1.0"
                                          and "keep-alive" not in connection)
        status = "429 Too Many Requests" if a.status == 429 else "503 Service Unavailable"
        lines = [f"HTTP/1.1 {status}", f"Content-Type: {a.content_type}",
                 f"X-Road-Error: {a.code}", f"Retry-After: {after}",
                 f"Content-Length: {len(a.body)}"]
        if close:
            lines.append("Connection: close")
        transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + a.body)
        if close:
            transport.close()
        else:
            _hold(transport, after)


def consumer_handler(run: Callable[[ConsumerExchange], Awaitable[Answer]],
                     clock: Callable[[], datetime], *,
                     admit: Callable[[web.Request], Ticket] | None = None,
                     streak: Callable[[web.Request, bool], int] | None = None,
                     body_timeout: float | None = None,
                     ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The IS port's handler; ``admit`` asks admission, ``streak(request, refused)``
    counts the connection's refusals in a row (0 after an admitted request)."""

    async def handle(request: web.Request) -> web.StreamResponse:
        ticket = None
        if admit is not None:
            try:
                ticket = admit(request)
            except (TooManyRequests, Overloaded) as e:  # docs/spec/exchange.md §8
                after = backoff(e.retry_after, streak(request, True) if streak else 1)
                a = answer_for(e, component="ClientProxy",
                               accept=request.headers.get("Accept", ""))
                if request.content.is_eof():  # else aiohttp discards the unsent body
                    hold_reading(request, after)
                return to_response(Answer(a.status, (*a.headers(), (
                    "Retry-After", str(after))), a.body))
            if streak is not None:
                streak(request, False)
        ex: ConsumerExchange | None = None
        try:
            ex = ConsumerExchange(request_in=clock(),
                                  incoming=incoming(request, body_timeout), ticket=ticket)
            answer = await run(ex)
        finally:  # the ticket, or the one the SOAP front end traded it for
            held = ticket if ex is None else ex.ticket
            if held is not None:
                held.release()
        if answer.status in _LATER and not any(
                k.lower() == "retry-after" for k, _ in answer.headers):
            answer = Answer(answer.status, (*answer.headers, ("Retry-After", "1")),
                            answer.body)
        return to_response(answer)

    return handle


def add_is_routes(app: web.Application, *, rest: Handler, soap: Handler,
                  list_clients: Handler, wsdl: Handler | None = None) -> None:
    """The IS port's routes (research/xroad.md §8): ``/r1/…`` is REST, the GET routes
    are the gateway's own, and anything else is a SOAP POST on any path — absolute-form
    targets included (docs/spec/soap.md §1). Specific routes go above the catch-all."""
    app.router.add_route("*", r"/r1/{tail:[\s\S]*}", rest)  # any byte, even %0A
    app.router.add_get("/listClients", list_clients)
    if wsdl is not None:  # legacy GET /wsdl (docs/spec/wsdl.md §6)
        app.router.add_get("/wsdl", wsdl)
    app.router.add_route("*", r"/{tail:[\s\S]*}", soap)  # SOAP: last, catches the rest
