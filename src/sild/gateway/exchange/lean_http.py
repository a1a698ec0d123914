"""A lean HTTP/1.1 client for the gateway's two outbound hops (issue 7 §4).

aiohttp's client cost about a third of each gateway's event-loop time per request
(py-spy, bench/bench_exchange.py): request objects, auto headers, URL objects, stream
readers. A gateway needs far less — one request shape to a few hosts over pooled
keep-alive connections — so this client writes the request line and headers itself and
parses the answer with httptools (llhttp, the parser uvicorn uses). It also sends the
request target exactly as given: ``/a?`` keeps its bare ``?`` (PR-REST §4.5), which
aiohttp's URL objects drop.

* one :class:`HttpPool` per hop: idle connections per ``(host, port)``, at most
  ``limit_per_host`` in use at once, idle ones closed after ``idle_timeout``;
* ``check_peer(address, der)`` runs once per new TLS connection: the peer gateway's
  certificate must be the one registered for that address, from an approved CA,
  unrevoked (ARCHITECTURE.md §3); a pooled connection is re-checked after
  :meth:`HttpPool.renew`, which the gateway calls on every new configuration;
* :meth:`HttpPool.renew` retires every pooled connection (a new global configuration
  may revoke a peer): idle ones close now, busy ones when their answer is in;
* answers to HEAD, 1xx, 204 and 304 have no body (RFC 9110 §6.4.1); a body over
  ``limit`` bytes closes the connection and fails the call;
* nothing is retried: a request is sent at most once (ARCHITECTURE.md §8);
* no header is added but ``Host`` and ``Content-Length`` (PR-REST §4.3: no
  ``Accept-Encoding`` the client never sent, no ``User-Agent``).
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from collections.abc import Callable
from dataclasses import dataclass

import httptools

from sild.errors import InvalidRequest, PeerUnreachable, SslAuthenticationFailed, TransportError

__all__ = ["HttpPool", "HttpReply", "split_url"]

_NO_BODY = frozenset({204, 304})


@dataclass(frozen=True, slots=True)
class HttpReply:
    status: int
    headers: tuple[tuple[str, str], ...]  # names as sent, lower-cased
    body: bytes


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time."""

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._parser: httptools.HttpResponseParser | None = None
        self._waiter: asyncio.Future[HttpReply] | None = None
        self._head = False
        self._limit = 0
        self._size = 0
        self._headers: list[tuple[str, str]] = []
        self._chunks: list[bytes] = []
        self._until_close = False  # a body delimited by the end of the connection
        self.keep_alive = False

    # -- asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream transport

    def data_received(self, data: bytes) -> None:
        parser = self._parser
        if parser is None:  # nothing was asked: a confused or hostile peer
            self._close()
            return
        try:
            parser.feed_data(data)
        except httptools.HttpParserError as e:  # also a callback's error, as its context
            cause = e.__context__ if isinstance(e.__context__, _TooLarge) else e
            self._fail(TransportError(f"malformed or oversized HTTP answer: {cause}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._until_close and self._parser is not None and exc is None:
            # RFC 9112 §6.3 (8): no length and not chunked: the body ends with the
            # connection (llhttp cannot be told of the end, so we finish it here).
            self._complete(self._parser.get_status_code(), keep_alive=False)
            return
        self._fail(TransportError("the connection closed before the answer was complete"))

    # -- httptools callbacks -------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._headers, self._chunks, self._size = [], [], 0
        self._until_close = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.decode("latin-1").lower(), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        if self._parser is None:
            return
        status = self._parser.get_status_code()
        if self._head:
            if status >= 200:  # HEAD: no body follows, whatever the headers say
                self._complete(status, keep_alive=self._parser.should_keep_alive())
                self._parser = None  # the parser still expects a body: never reuse it
            return
        names = {k for k, _ in self._headers}
        self._until_close = (status >= 200 and status not in _NO_BODY
                             and "content-length" not in names
                             and "transfer-encoding" not in names)

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > self._limit:
            raise _TooLarge(f"answer body exceeds the limit of {self._limit} bytes")
        self._chunks.append(body)

    def on_message_complete(self) -> None:
        if self._parser is None:
            return
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # an interim answer; the real one follows
            return
        self._complete(status, keep_alive=self._parser.should_keep_alive())

    # -- the request -------------------------------------------------------------------

    def send(self, payload: bytes, *, head: bool, limit: int) -> asyncio.Future[HttpReply]:
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self._parser = httptools.HttpResponseParser(self)
        self._head, self._limit = head, limit
        self.transport.write(payload)
        return self._waiter

    def _complete(self, status: int, *, keep_alive: bool) -> None:
        waiter = self._waiter
        self._waiter = None
        self.keep_alive = keep_alive
        body = b"".join(self._chunks) if status not in _NO_BODY else b""
        if waiter is not None and not waiter.done():
            waiter.set_result(HttpReply(status, tuple(self._headers), body))

    def _fail(self, error: Exception) -> None:
        waiter = self._waiter
        self._waiter = None
        self._parser = None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        self._close()

    def _close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class _TooLarge(Exception):
    pass


def _check_header(name: str, value: str) -> None:
    """No CR, LF or NUL may reach the wire (request splitting, RFC 9110 §5.5)."""
    if any(c in name for c in "\r\n\0: ") or any(c in value for c in "\r\n\0"):
        raise InvalidRequest(f"header {name[:40]!r} holds characters HTTP forbids")


class HttpPool:
    """Pooled keep-alive HTTP/1.1 connections to a few hosts."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None,
                 check_peer: Callable[[str, bytes], str | None] | None = None,
                 limit_per_host: int = 256, idle_timeout: float = 30.0) -> None:
        self.ssl_context = ssl_context
        self.check_peer = check_peer
        self.limit_per_host = limit_per_host
        self.idle_timeout = idle_timeout
        self._idle: dict[tuple[str, int, bool], collections.deque[_Connection]] = {}
        self._slots: dict[tuple[str, int, bool], asyncio.Semaphore] = {}
        self._generation = 0
        self._closed = False

    def renew(self) -> None:
        """Retire every pooled connection: new ones from now on (e.g. a new configuration)."""
        self._generation += 1
        for idle in self._idle.values():
            while idle:
                idle.pop()._close()

    async def close(self) -> None:
        self._closed = True
        self.renew()

    async def request(self, host: str, port: int, method: str, target: str,
                      headers: list[tuple[str, str]], body: bytes, *, time_limit: float,
                      limit: int, tls: bool | ssl.SSLContext = False) -> HttpReply:
        """One request; ``target`` is written as given (path and query, still encoded).

        :class:`PeerUnreachable` when no connection could be made (nothing was sent),
        :class:`SslAuthenticationFailed` for TLS and pinning failures,
        :class:`TransportError` for everything after sending, timeouts included.
        """
        if self._closed:
            raise TransportError("the connection pool is closed")
        for name, value in headers:
            _check_header(name, value)
        if any(c in target for c in " \r\n\0") or not target.startswith("/"):
            raise InvalidRequest("request target holds characters HTTP forbids")
        key = (host, port, tls is not False)
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = asyncio.Semaphore(self.limit_per_host)
        authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        lines = [f"{method} {target} HTTP/1.1", f"Host: {authority}"]
        lines.extend(f"{k}: {v}" for k, v in headers)
        if body or method not in ("GET", "HEAD", "DELETE", "OPTIONS", "TRACE"):
            lines.append(f"Content-Length: {len(body)}")
        payload = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "strict") + body
        async with slot:
            try:
                async with asyncio.timeout(time_limit):
                    conn = await self._checkout(key, host, port, tls)
                    try:
                        reply = await conn.send(payload, head=method == "HEAD", limit=limit)
                    except BaseException:
                        conn._close()
                        raise
            except TimeoutError as e:
                raise TransportError(f"{host}:{port} did not answer within "
                                     f"{time_limit:g} s") from e
            self._checkin(key, conn)
            return reply

    async def _checkout(self, key: tuple[str, int, bool], host: str, port: int,
                        tls: bool | ssl.SSLContext) -> _Connection:
        loop = asyncio.get_running_loop()
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if (not conn.closed and conn.generation == self._generation
                    and loop.time() - conn.idle_since < self.idle_timeout):
                return conn
            conn._close()
        context: ssl.SSLContext | None = None
        if isinstance(tls, ssl.SSLContext):
            context = tls
        elif tls:
            context = self.ssl_context
        generation = self._generation
        try:
            _, conn = await loop.create_connection(
                lambda: _Connection(generation), host, port, ssl=context,
                server_hostname="" if context is not None and not context.check_hostname
                else None)
        except ssl.SSLError as e:
            raise SslAuthenticationFailed(f"TLS with {host}:{port} failed: {e}") from e
        except OSError as e:
            raise PeerUnreachable(f"cannot connect to {host}:{port}: {e.strerror or e}") from e
        if context is not None and self.check_peer is not None:
            assert conn.transport is not None
            ssl_obj = conn.transport.get_extra_info("ssl_object")
            der = ssl_obj.getpeercert(binary_form=True) if ssl_obj is not None else None
            reason = "no certificate" if not der else self.check_peer(f"{host}:{port}", der)
            if reason is not None:
                conn._close()
                # the TLS peer is not the gateway registered at that address
                raise SslAuthenticationFailed(f"gateway at {host}:{port}: {reason}")
        return conn

    def _checkin(self, key: tuple[str, int, bool], conn: _Connection) -> None:
        if (conn.closed or not conn.keep_alive or conn.generation != self._generation
                or self._closed):
            conn._close()
            return
        conn.idle_since = asyncio.get_running_loop().time()
        self._idle.setdefault(key, collections.deque()).append(conn)


def split_url(url: str) -> tuple[bool, str, int, str]:
    """(https?, host, port, target) of an absolute URL; the target (path and query) is
    the URL's own text after the authority, not re-encoded."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest(f"URL {url[:80]!r} is not http(s)://host[:port]/…")
    https = parts.scheme == "https"
    target = url[len(parts.scheme) + 3 + len(parts.netloc):] or "/"
    if not target.startswith("/"):
        target = "/" + target
    return https, parts.hostname, parts.port or (443 if https else 80), target

