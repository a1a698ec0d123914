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
* the TLS peer certificate is read once per connection, for stage (4a).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import http
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httptools
import structlog
from multidict import CIMultiDict

from sild.errors import InvalidRequest, PayloadTooLarge, SildError
from sild.gateway.exchange.record import Answer, Incoming
from sild.web.errors import answer_for, error_answer

__all__ = ["PeerServerProtocol"]

log = structlog.get_logger("sild.gateway.peer_server")

Handler = Callable[[Incoming], Awaitable[Answer]]
# Requests one connection may have waiting before we stop reading from it.
MAX_PIPELINED = 8


@dataclass(slots=True)
class _Request:
    method: str
    target: str
    headers: CIMultiDict[str]
    body: bytes
    keep_alive: bool


class _Refused(Exception):
    def __init__(self, answer: Answer) -> None:
        super().__init__("refused")
        self.answer = answer


def _error(error: SildError) -> Answer:
    a = answer_for(error, component="ServerProxy")
    return Answer(a.status, a.headers(), a.body)


class PeerServerProtocol(asyncio.Protocol):
    """One connection of the peer port."""

    def __init__(self, handler: Handler, *, path: str, max_body: int,
                 on_answer: Callable[[Answer, float], None] | None = None,
                 tasks: set[asyncio.Task[None]] | None = None,
                 connections: set[PeerServerProtocol] | None = None) -> None:
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

    # -- asyncio.Protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream transport
        self.connections.add(self)
        ssl_obj = transport.get_extra_info("ssl_object")
        der = ssl_obj.getpeercert(binary_form=True) if ssl_obj is not None else None
        self.certificate = der or None

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

    def close(self) -> None:
        """Close the connection (the gateway is stopping)."""
        if self.transport is not None:
            self.transport.close()

    # -- httptools callbacks -----------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url, self._headers, self._chunks, self._size = b"", [], [], 0

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        declared = next((v for k, v in self._headers if k.lower() == "content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            raise _Refused(_error(PayloadTooLarge(
                f"request body of {declared} bytes exceeds the limit of {self.max_body}")))

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > self.max_body:
            raise _Refused(_error(PayloadTooLarge(
                f"request body exceeds the limit of {self.max_body} bytes")))
        self._chunks.append(body)

    def on_message_complete(self) -> None:
        method = self.parser.get_method().decode("latin-1")
        self.pending.append(_Request(method, self._url.decode("latin-1"),
                                     CIMultiDict(self._headers), b"".join(self._chunks),
                                     self.parser.should_keep_alive()))
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
                    self.transport.resume_reading()
                    self._paused = False
                start = loop.time()
                answer = await self._answer(request)
                if self.on_answer is not None:
                    self.on_answer(answer, loop.time() - start)
                self._write(answer, close=not request.keep_alive)
                if not request.keep_alive:
                    return
        finally:
            self.worker = None

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
        self.pending.clear()
        self._write(answer, close=True)
        with contextlib.suppress(Exception):
            if self.transport is not None:
                self.transport.close()


def _parts(a: object) -> tuple[int, tuple[tuple[str, str], ...], bytes]:
    from sild.web.errors import ErrorAnswer

    assert isinstance(a, ErrorAnswer)
    return a.status, a.headers(), a.body
