"""A lean HTTP/1.1 server for the peer port (issue 7 §4), on httptools (llhttp).

Only other gateways talk to the peer port, over mutual TLS, with one request shape:
``POST /sild/v1/message`` with a ``Content-Length`` body, on kept-alive connections
(:mod:`sild.gateway.exchange.lean_http` on the other side). aiohttp's server machinery
(request and response objects, routing, middleware) was ≈ 15–20 % of the provider's
event-loop time for that; this protocol hands the pipeline an
:class:`~sild.gateway.exchange.record.Incoming` straight from the parser and writes the
:class:`~sild.gateway.exchange.record.Answer` bytes itself.

* requests on one connection are answered in order (pipelined ones wait their turn);
* a declared or streamed body over ``max_body`` is answered 413 and the connection
  closed, without reading further; malformed HTTP is answered 400 and closed;
* anything but ``POST`` to the message path is an X-Road error (405 / 404);
* the TLS peer certificate is read once per connection, for stage (4a);
* admission (docs/spec/exchange.md §8, :mod:`sild.gateway.admission`) is asked on the
  request head: a refused request's body is discarded as it arrives, never buffered,
  its 429 / 503 answered in turn, and the connection then not read for ``Retry-After``;
* timeouts (:mod:`sild.web.deadlines`): a request head must be complete within
  ``header_timeout`` of the connection or of its first byte, a body within
  ``body_timeout`` of its head; an idle kept-alive connection closes after
  ``keepalive_timeout``. Late connections are aborted;
* a connection older than ``lifetime`` (0: no limit) gets ``Connection: close`` on
  its next answer, when nothing else is pipelined behind it (RFC 9112 §9.6): the peer
  opens a new one, which a TCP load balancer in front of several nodes of this
  gateway may send to another node — how a restarted node gets traffic again
  (docs/operations.md "Active-active topology").
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import http
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httptools
import structlog
from multidict import CIMultiDict

from sild.errors import InvalidRequest, PayloadTooLarge, SildError
from sild.gateway.admission import Ticket, backoff
from sild.gateway.exchange.record import Answer, Incoming
from sild.web.deadlines import Deadlines
from sild.web.errors import answer_for, error_answer

__all__ = ["Admit", "PeerServerProtocol", "Timeouts"]

log = structlog.get_logger("sild.gateway.peer_server")

Handler = Callable[[Incoming], Awaitable[Answer]]
# Asked on each request head with the connection's TLS certificate: a Ticket, or a
# SildError with ``retry_after`` (sild.gateway.admission.Gate.admit).
Admit = Callable[[bytes | None], Ticket]
# Requests one connection may have waiting before we stop reading from it.
MAX_PIPELINED = 8


@dataclass(slots=True)
class _Request:
    method: str
    target: str
    headers: CIMultiDict[str]
    body: bytes
    keep_alive: bool
    ticket: Ticket | None = None
    refusal: Answer | None = None
    hold: float = 0.0


class _Refused(Exception):
    def __init__(self, answer: Answer) -> None:
        super().__init__("refused")
        self.answer = answer


def _error(error: SildError, retry_after: int | None = None) -> Answer:
    a = answer_for(error, component="ServerProxy")
    if retry_after is None:
        retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        return Answer(a.status, (*a.headers(), ("Retry-After", str(retry_after))), a.body)
    return Answer(a.status, a.headers(), a.body)


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds; see the module docstring (GatewayLimits in sild.gateway.config)."""

    header: float = 10.0
    body: float = 30.0
    keepalive: float = 75.0
    lifetime: float = 0.0


class PeerServerProtocol(asyncio.Protocol):
    """One connection of the peer port."""

    def __init__(self, handler: Handler, *, path: str, max_body: int,
                 on_answer: Callable[[Answer, float], None] | None = None,
                 tasks: set[asyncio.Task[None]] | None = None,
                 connections: set[PeerServerProtocol] | None = None,
                 admit: Admit | None = None, deadlines: Deadlines | None = None,
                 timeouts: Timeouts = Timeouts()) -> None:
        self.handler = handler
        self.path = path
        self.max_body = max_body
        self.on_answer = on_answer
        self.tasks = tasks if tasks is not None else set()
        # Open connections, so that the gateway can close them when it stops.
        self.connections = connections if connections is not None else set()
        self.transport: asyncio.Transport | None = None
        self.certificate: bytes | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.pending: collections.deque[_Request] = collections.deque()
        self.worker: asyncio.Task[None] | None = None
        self._url = b""
        self._headers: list[tuple[str, str]] = []
        self._chunks: list[bytes] = []
        self._size = 0
        self._paused = False
        self.admit = admit
        self.deadlines = deadlines
        self.timeouts = timeouts
        self._in_message = False
        self._held = False
        self._streak = 0  # refusals in a row on this connection (front.backoff)
        self._ticket: Ticket | None = None
        self._refusal: Answer | None = None
        self._hold = 0.0
        self._retire_at = float("inf")  # when the connection's lifetime is over

    # -- asyncio.Protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream transport
        self.connections.add(self)
        ssl_obj = transport.get_extra_info("ssl_object")
        der = ssl_obj.getpeercert(binary_form=True) if ssl_obj is not None else None
        self.certificate = der or None
        if self.timeouts.lifetime > 0:
            self._retire_at = asyncio.get_running_loop().time() + self.timeouts.lifetime
        self._watch(self.timeouts.header)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as e:
            refused = e.__context__ if isinstance(e.__context__, _Refused) else None
            self._finish(refused.answer if refused is not None else _error(
                InvalidRequest(f"malformed HTTP request: {e}")))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.connections.discard(self)
        if self.deadlines is not None:
            self.deadlines.clear(self)
        self._release_all()

    def expire(self) -> None:
        """A request head or body, or the next request, came too late (Deadlines)."""
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        """Close the connection (the gateway is stopping)."""
        if self.transport is not None:
            self.transport.close()

    # -- httptools callbacks -----------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url, self._headers, self._chunks, self._size = b"", [], [], 0
        self._in_message, self._ticket, self._refusal = True, None, None
        self._watch(self.timeouts.header)

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        declared = next((v for k, v in self._headers if k.lower() == "content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            raise _Refused(_error(PayloadTooLarge(
                f"request body of {declared} bytes exceeds the limit of {self.max_body}")))
        if self.admit is not None:  # before a byte of the body is kept
            try:
                self._ticket = self.admit(self.certificate)
                self._streak = 0
            except SildError as e:
                self._streak += 1
                after = backoff(int(getattr(e, "retry_after", 1)), self._streak)
                self._refusal = _error(e, after)
                self._hold = float(after)
        self._watch(self.timeouts.body)

    def on_body(self, body: bytes) -> None:
        if self._refusal is not None:
            return  # refused: the body is discarded as it arrives
        self._size += len(body)
        if self._size > self.max_body:
            raise _Refused(_error(PayloadTooLarge(
                f"request body exceeds the limit of {self.max_body} bytes")))
        self._chunks.append(body)

    def on_message_complete(self) -> None:
        method = self.parser.get_method().decode("latin-1")
        self._in_message = False
        if self.deadlines is not None:
            self.deadlines.clear(self)  # answering: no read deadline until it is written
        self.pending.append(_Request(method, self._url.decode("latin-1"),
                                     CIMultiDict(self._headers), b"".join(self._chunks),
                                     self.parser.should_keep_alive(), self._ticket,
                                     self._refusal, self._hold))
        self._ticket = None
        if len(self.pending) >= MAX_PIPELINED and self.transport is not None:
            self.transport.pause_reading()  # a peer that pipelines waits: memory stays bounded
            self._paused = True
        if self.worker is None:
            self.worker = asyncio.get_running_loop().create_task(self._work())
            self.tasks.add(self.worker)
            self.worker.add_done_callback(self.tasks.discard)

    # -- answering -----------------------------------------------------------------------

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self.pending and self.transport is not None:
                request = self.pending.popleft()
                if self._paused and len(self.pending) < MAX_PIPELINED // 2:
                    self._paused = False
                    if not self._held:
                        self.transport.resume_reading()
                start = loop.time()
                try:
                    answer = (request.refusal if request.refusal is not None
                              else await self._answer(request))
                    if self.on_answer is not None:
                        self.on_answer(answer, loop.time() - start)
                    last = not request.keep_alive or (
                        not self.pending and not self._in_message
                        and loop.time() >= self._retire_at)
                    self._write(answer, close=last)
                finally:
                    if request.ticket is not None:
                        request.ticket.release()
                if last:
                    return
                if request.refusal is not None and request.hold > 0:
                    self._hold_reading(request.hold)
        finally:
            self.worker = None
            if self.transport is not None and not self._in_message and not self.pending:
                self._watch(self.timeouts.keepalive)

    def _hold_reading(self, seconds: float) -> None:
        """Read nothing more from a refused caller for Retry-After seconds: its next
        requests wait in its own socket buffer, and TCP pushes back (never our queue)."""
        transport = self.transport
        if transport is None or self._held:
            return
        self._held = True
        transport.pause_reading()

        def release() -> None:
            self._held = False
            if self.transport is not None and not self._paused:
                self.transport.resume_reading()

        # Spread over [1, 1.5) × seconds: refused peers do not all come back at once.
        delay = seconds * (1 + random.random() / 2)  # noqa: S311 (not a secret)
        asyncio.get_running_loop().call_later(delay, release)

    def _watch(self, seconds: float) -> None:
        if self.deadlines is not None:
            self.deadlines.set(self, asyncio.get_running_loop().time() + seconds)

    def _release_all(self) -> None:
        for request in self.pending:
            if request.ticket is not None:
                request.ticket.release()
        if self._ticket is not None:
            self._ticket.release()
            self._ticket = None

    async def _answer(self, request: _Request) -> Answer:
        if request.target.split("?", 1)[0] != self.path:
            return Answer(*_parts(error_answer("Client.NotFound", "no such path", status=404)))
        if request.method != "POST":
            return Answer(*_parts(error_answer("Client.InvalidHttpMethod",
                                               "the peer port takes POST only", status=405)))
        body = request.body

        async def read(limit: int) -> bytes:
            return body[:limit + 1]

        certificate = self.certificate
        return await self.handler(Incoming(request.method, request.target, request.headers,
                                           read, lambda: certificate))

    def _write(self, answer: Answer, *, close: bool) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        try:
            phrase = http.HTTPStatus(answer.status).phrase
        except ValueError:
            phrase = "Unknown"
        head = [f"HTTP/1.1 {answer.status} {phrase}"]
        head.extend(f"{k}: {v}" for k, v in answer.headers if k.lower() != "content-length")
        head.append(f"Content-Length: {len(answer.body)}")
        if close:
            head.append("Connection: close")
        transport.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + answer.body)
        if close:
            transport.close()

    def _finish(self, answer: Answer) -> None:
        """Answer a request that cannot be read on, then close the connection."""
        self._release_all()
        self.pending.clear()
        self._write(answer, close=True)
        with contextlib.suppress(Exception):
            if self.transport is not None:
                self.transport.close()


def _parts(a: object) -> tuple[int, tuple[tuple[str, str], ...], bytes]:
    from sild.web.errors import ErrorAnswer

    assert isinstance(a, ErrorAnswer)
    return a.status, a.headers(), a.body
