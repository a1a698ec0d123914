"""A listening port that accepts new connections at a bounded rate (issue 12, fairness).

A flood of new connections — one request each, ``Connection: close`` — costs the
gateway ~90 µs of Python per connection even when every request is refused at its
first chunk (sild.gateway.exchange.front.EarlyAdmission): at 10 k connections/s that
is a whole core, and the clients on their kept-alive connections wait behind it
(docs/benchmarks.md, "Fairness under flood"). A stranger's new connection cannot be
told from a client's before a byte is read, so the only defence before Python is the
accept rate itself, as HAProxy's ``rate-limit sessions`` or nginx's ``limit_conn``:

* each port accepts at most ``rate`` new connections per second (a token bucket of
  ``burst``); when the bucket is empty it stops watching the listening socket until a
  token is due, and new connections wait in the kernel's queue (``KERNEL_BACKLOG``);
  past that the kernel drops their SYNs and the flooder's own TCP backs off — no
  Python runs for them at all;
* at most ``ACCEPT_BATCH`` connections are accepted per event-loop iteration, so one
  iteration never sets up hundreds of connections while requests wait;
* connections already open (the kept-alive clients) are not touched.

The price: a client's *new* connection opened while such a flood is on waits in the
same kernel queue, behind the flood's — up to ``KERNEL_BACKLOG / rate`` seconds
(about 1 s at the default 1000/s), or a SYN retransmission when the queue is full
(measured in docs/benchmarks.md).

The server is its own accept loop on ``loop.add_reader`` and hands each accepted
socket to ``loop.connect_accepted_socket`` (TLS included), so it runs the same on
asyncio and uvloop. On EMFILE and kin (or any other accept error) it pauses accepting
for a second, as asyncio's own servers do after resource errors.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl as ssl_module
from collections.abc import Callable
from typing import Any

import structlog

__all__ = ["ACCEPT_BATCH", "KERNEL_BACKLOG", "PacedServer", "create_server"]

log = structlog.get_logger("sild.web.listen")

# Connections accepted per loop iteration: each costs ~100 µs of Python (transport,
# protocol, a task), so 16 keep an iteration near 2 ms of accept work.
ACCEPT_BATCH = 16
# Connections the kernel queues before the application accepts them (listen(2)).
KERNEL_BACKLOG = 1024
# After an accept error (EMFILE, ENFILE, ENOBUFS, ENOMEM or another), accept nothing for
# this long (asyncio's own delay after resource errors).
RETRY_AFTER_ACCEPT_ERROR = 1.0
_RESOURCE_ERRORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def _bind(host: str | None, port: int, *, reuse_port: bool) -> list[socket.socket]:
    """Listening sockets for every address of ``host`` (all interfaces when empty)."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                               proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE)
    socks: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(
                (i[0], i[1], i[2], i[3], i[4]) for i in infos):
            sock = socket.socket(family, kind, proto)
            socks.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(KERNEL_BACKLOG)
            sock.setblocking(False)
    except OSError:
        for sock in socks:
            sock.close()
        raise
    return socks


class PacedServer(asyncio.AbstractServer):
    """Listening sockets accepting ≤ ``rate`` connections/s (0: no rate limit) in
    batches of ≤ ``ACCEPT_BATCH`` per loop iteration (module docstring)."""

    def __init__(self, protocol: Callable[[], asyncio.BaseProtocol],
                 sockets: list[socket.socket], *, rate: float, burst: float,
                 ssl: ssl_module.SSLContext | None = None,
                 ssl_handshake_timeout: float | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._protocol = protocol
        self.sockets = sockets
        self.rate = rate
        self.burst = max(1.0, burst or rate)
        self._tokens = self.burst
        self._stamp = self._loop.time()
        self._ssl = ssl
        self._handshake = ssl_handshake_timeout
        self._watched: set[int] = set()
        self._resume: dict[int, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._serving = True
        self._closed = asyncio.Event()
        self.refused_for_rate = 0  # times the bucket ran dry (for tests and metrics)
        for sock in sockets:
            self._watch(sock)

    # -- the accept loop ------------------------------------------------------------

    def _watch(self, sock: socket.socket) -> None:
        self._resume.pop(sock.fileno(), None)
        if self._serving and sock.fileno() not in self._watched:
            self._loop.add_reader(sock.fileno(), self._on_readable, sock)
            self._watched.add(sock.fileno())

    def _pause(self, sock: socket.socket, seconds: float) -> None:
        fd = sock.fileno()
        if fd in self._watched:
            self._loop.remove_reader(fd)
            self._watched.discard(fd)
        if fd not in self._resume:
            self._resume[fd] = self._loop.call_later(seconds, self._watch, sock)

    def _take_token(self) -> float:
        """0 when a connection may be accepted now (and its token is taken), else the
        seconds until the next token."""
        if not self.rate:
            return 0.0
        now = self._loop.time()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        # Paused until a whole batch is due, not the next single token: watching and
        # unwatching a socket per connection (a libuv poll handle each under uvloop)
        # cost more than the accept itself in the profile.
        return (min(ACCEPT_BATCH, self.burst) - self._tokens) / self.rate

    def _on_readable(self, sock: socket.socket) -> None:
        for _ in range(ACCEPT_BATCH):
            wait = self._take_token()
            if wait:
                self.refused_for_rate += 1
                self._pause(sock, wait)  # the kernel queues them meanwhile
                return
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                if self.rate:  # nothing was waiting: the token goes back
                    self._tokens = min(self.burst, self._tokens + 1)
                return
            except ConnectionAbortedError:
                continue
            except OSError as e:  # EMFILE and kin, or anything else: never spin on it
                log.warning("accept_paused", error=e.strerror or str(e),
                            resource=e.errno in _RESOURCE_ERRORS,
                            seconds=RETRY_AFTER_ACCEPT_ERROR)
                self._pause(sock, RETRY_AFTER_ACCEPT_ERROR)
                return
            conn.setblocking(False)
            # Each answer is headers then body: without TCP_NODELAY the body waits for a
            # delayed ACK (~40 ms on a kept-alive connection; sild.embedded). Set here,
            # whatever the loop does for accepted sockets.
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = self._loop.create_task(self._connect(conn))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _connect(self, conn: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(
                self._protocol, conn, ssl=self._ssl,
                ssl_handshake_timeout=self._handshake if self._ssl is not None else None)
        except (OSError, EOFError) as e:  # SSLError and TimeoutError are OSErrors
            # a failed TLS handshake or a peer gone before we got to it: its own loss
            log.debug("accept_failed", error=str(e))
            conn.close()

    # -- asyncio.AbstractServer -----------------------------------------------------

    def close(self) -> None:
        if not self._serving:
            return
        self._serving = False
        self._closed.set()
        for handle in self._resume.values():
            handle.cancel()
        self._resume.clear()
        for fd in self._watched:
            self._loop.remove_reader(fd)
        self._watched.clear()
        for sock in self.sockets:
            sock.close()

    async def wait_closed(self) -> None:
        if self._tasks:  # connections being set up finish (or fail) first
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    async def start_serving(self) -> None:
        return None  # serving from the start

    async def serve_forever(self) -> None:
        await self._closed.wait()


async def create_server(protocol: Callable[[], asyncio.BaseProtocol], host: str | None,
                        port: int, *, rate: float = 0.0, burst: float = 0.0,
                        reuse_port: bool = False, ssl: Any = None,
                        ssl_handshake_timeout: float | None = None) -> PacedServer:
    """Listen on ``host``:``port`` and accept at most ``rate`` new connections per
    second (bucket ``burst``; 0 = unlimited), ``ACCEPT_BATCH`` per loop iteration."""
    sockets = _bind(host, port, reuse_port=reuse_port)
    return PacedServer(protocol, sockets, rate=rate, burst=burst, ssl=ssl,
                       ssl_handshake_timeout=ssl_handshake_timeout)
