"""Header, body and idle timeouts for every Sild port (issue 12: a slow connection was
held forever; 3,000 were held open).

One :class:`Deadlines` per port keeps each connection's current deadline; one sweeper
task per port, alive only while some connection has a deadline, closes the connections
past theirs every ``tick`` seconds. Setting a deadline is a dictionary write, so the
per-request cost stays far below a timer handle per state change.

* :func:`timed_http_protocol` — uvicorn's httptools protocol with a header timeout
  (from connect, or from the first byte of a request) and a body timeout; uvicorn's
  own ``timeout_keep_alive`` covers idle kept-alive connections. Used by every
  :class:`~sild.web.shell.Shell` service started through :func:`sild.embedded.start_embedded`.
* :class:`WatchedProtocol` — wraps aiohttp's request handler (the gateway's IS port):
  a request head must be complete within the header timeout; aiohttp's keep-alive
  timeout closes idle connections; the body timeout is the reader's
  (:func:`sild.gateway.exchange.front.read_body`).
* the gateway's peer port (:mod:`sild.gateway.exchange.lean_server`) keeps its own
  states on the same :class:`Deadlines`.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["SHELL_BODY_TIMEOUT", "SHELL_HEADER_TIMEOUT", "Deadlines", "Expiring",
           "WatchedProtocol", "shell_http", "timed_http_protocol"]

# Every Shell service (admin, registry, ledger, witness, identity): a request head
# within 10 s (nginx's client_header_timeout is 60 s; our clients are programs on a
# network, not people on modems), a body within 30 s of its head. uvicorn's own
# timeout_keep_alive (5 s) closes idle kept-alive connections.
SHELL_HEADER_TIMEOUT = 10.0
SHELL_BODY_TIMEOUT = 30.0


# Connections closed between two looks at other work (a sweep of thousands of idle
# connections must not stall the requests in flight).
BATCH = 128


class Expiring(Protocol):
    def expire(self) -> None:
        """Close the connection: its deadline has passed."""


class Deadlines:
    """Connections with a deadline (loop time); the sweeper expires those past it."""

    def __init__(self, *, tick: float = 0.5, on_expire: Callable[[], None] | None = None
                 ) -> None:
        self.tick = tick
        self.on_expire = on_expire
        self._due: dict[Expiring, float] = {}
        self._sweeper: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._due)

    def set(self, item: Expiring, deadline: float) -> None:
        self._due[item] = deadline
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    def has(self, item: Expiring) -> bool:
        return item in self._due

    def clear(self, item: Expiring) -> None:
        self._due.pop(item, None)

    def close(self) -> None:
        """Stop the sweeper (the port is stopping)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        self._due.clear()

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._due:
                await asyncio.sleep(self.tick)
                now = loop.time()
                late = [item for item, due in self._due.items() if due <= now]
                for n, item in enumerate(late, 1):
                    if self._due.get(item, now + 1) > now:
                        continue  # it moved on meanwhile (a new deadline, or closed)
                    del self._due[item]
                    with contextlib.suppress(Exception):  # one bad close must not stop us
                        item.expire()
                    if self.on_expire is not None:
                        self.on_expire()
                    if n % BATCH == 0:  # thousands at once: let requests in between
                        await asyncio.sleep(0)
        finally:
            self._sweeper = None


class WatchedProtocol(asyncio.Protocol):
    """An aiohttp request handler whose request heads must arrive in time.

    Deadline ``header_timeout`` from connect, and from the first byte after a request
    was handled; cleared when the application sees the request (:meth:`busy`).

    ``early(self, data)``, when given, sees the first chunk of each new request on an
    otherwise idle connection (nothing buffered in aiohttp); returning True means it
    answered the request itself and aiohttp never sees those bytes
    (:class:`sild.gateway.exchange.front.EarlyAdmission`). It may leave an admission
    ``ticket`` for the handler to take; one left untaken is released on the next
    stash or when the connection ends. aiohttp's handler is made (``factory()``) only
    when a request is for it, so a connection whose requests are all answered early
    costs no aiohttp handler at all; such a connection idle for ``idle_timeout`` is
    closed.
    """

    __slots__ = ("_busy", "_dirty", "_fresh", "_idle", "connections", "deadlines", "early",
                 "factory", "header_timeout", "idle_timeout", "inner", "loop", "refusals",
                 "ticket", "transport", "watched")

    def __init__(self, factory: Callable[[], asyncio.Protocol], deadlines: Deadlines, *,
                 header_timeout: float, idle_timeout: float,
                 watched: dict[Any, WatchedProtocol], connections: set[WatchedProtocol],
                 early: Callable[[WatchedProtocol, bytes], bool] | None = None) -> None:
        self.factory = factory
        self.inner: asyncio.Protocol | None = None
        self.deadlines = deadlines
        self.header_timeout = header_timeout
        self.idle_timeout = idle_timeout
        self.watched = watched
        self.connections = connections
        self.transport: asyncio.BaseTransport | None = None
        self.loop = asyncio.get_running_loop()
        self._busy = False
        # Admission refusals in a row on this connection (sild.gateway.exchange.front).
        self.refusals = 0
        self.early = early
        self.ticket: Any = None  # an admission Ticket left by ``early`` for the handler
        self._fresh = True  # no byte of a next request buffered in aiohttp
        self._dirty = False  # bytes came while the application had a request
        self._idle = False  # the deadline set is idle_timeout's, not a header's

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.connections.add(self)
        self.deadlines.set(self, self.loop.time() + self.header_timeout)
        if self.early is None:
            self._handler()

    def _handler(self) -> asyncio.Protocol:
        inner = self.inner
        if inner is None:
            inner = self.inner = self.factory()
            self.watched[inner] = self
            inner.connection_made(self.transport)  # type: ignore[arg-type]
        return inner

    def data_received(self, data: bytes) -> None:
        if self._fresh and not self._busy:
            self._fresh = False
            if self.early is not None and self.early(self, data):
                self._fresh = True  # answered whole: nothing reached aiohttp
                # idle now; aiohttp's keep-alive timer covers this only once it exists
                self.deadlines.set(self, self.loop.time() + self.idle_timeout)
                self._idle = True
                return
            if self._idle or not self.deadlines.has(self):  # a head starts now
                self.deadlines.set(self, self.loop.time() + self.header_timeout)
                self._idle = False
        else:  # a request in more than one chunk, or pipelined: aiohttp's alone
            self._dirty = True
            if not self._busy and not self.deadlines.has(self):
                self.deadlines.set(self, self.loop.time() + self.header_timeout)
                self._idle = False
        self._handler().data_received(data)

    def stash(self, ticket: Any) -> None:
        """Keep ``ticket`` for the handler of the request just admitted by ``early``."""
        if self.ticket is not None:
            self.ticket.release()
        self.ticket = ticket

    def take(self) -> Any:
        ticket, self.ticket = self.ticket, None
        return ticket

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.inner is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        self.deadlines.clear(self)
        self.connections.discard(self)
        if self.ticket is not None:
            self.ticket.release()
            self.ticket = None
        if self.inner is not None:
            self.watched.pop(self.inner, None)
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()

    def busy(self, value: bool) -> None:
        """The application has (True) or has finished (False) a request of ours."""
        self._busy = value
        if value:
            self.deadlines.clear(self)
        else:  # the next chunk starts a new request unless bytes came meanwhile
            self._fresh, self._dirty = not self._dirty, False

    def expire(self) -> None:
        if self.transport is not None:
            self.transport.abort()  # type: ignore[attr-defined]  # a stream transport


def timed_http_protocol(*, header_timeout: float, body_timeout: float,
                        on_expire: Callable[[], None] | None = None) -> type[Any]:
    """uvicorn's httptools protocol with header and body timeouts (``Config(http=…)``)."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    deadlines_of: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Deadlines] = (
        weakref.WeakKeyDictionary())

    class TimedHttpToolsProtocol(HttpToolsProtocol):
        _deadlines: Deadlines

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            loop = asyncio.get_running_loop()
            deadlines = deadlines_of.get(loop)
            if deadlines is None:
                deadlines = deadlines_of[loop] = Deadlines(on_expire=on_expire)
            self._deadlines = deadlines
            super().connection_made(transport)
            self._deadlines.set(self, self.loop.time() + header_timeout)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._deadlines.set(self, self.loop.time() + header_timeout)

        def on_headers_complete(self) -> None:
            super().on_headers_complete()
            self._deadlines.set(self, self.loop.time() + body_timeout)

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._deadlines.clear(self)

        def connection_lost(self, exc: Exception | None) -> None:
            self._deadlines.clear(self)
            super().connection_lost(exc)

        def expire(self) -> None:
            if self.transport is not None and not self.transport.is_closing():
                self.transport.abort()

    return TimedHttpToolsProtocol


_SHELL_HTTP: list[type[Any]] = []


def shell_http() -> type[Any]:
    """The uvicorn protocol class of every Shell service (one class per process)."""
    if not _SHELL_HTTP:
        _SHELL_HTTP.append(timed_http_protocol(header_timeout=SHELL_HEADER_TIMEOUT,
                                               body_timeout=SHELL_BODY_TIMEOUT))
    return _SHELL_HTTP[0]
