"""The peer port's lean HTTP/1.1 server on a real socket: keep-alive and pipelining in
order, one request shape, limits before reading, malformed HTTP answered and closed."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from sild.gateway.exchange.lean_server import PeerServerProtocol, Timeouts
from sild.gateway.exchange.record import Answer, Incoming

PATH = "/sild/v1/message"


async def _echo(incoming: Incoming) -> Answer:
    body = await incoming.read_body(1000)
    return Answer(200, (("Content-Type", "application/octet-stream"),), b"got:" + body)


@contextlib.contextmanager
def _serving(timeouts: Timeouts | None = None) -> Iterator[int]:
    """The lean server with ``timeouts`` on its own loop thread; its port."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, object] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)

        async def start() -> None:
            server = await loop.create_server(
                lambda: PeerServerProtocol(_echo, path=PATH, max_body=100,
                                           timeouts=timeouts or Timeouts()),
                "127.0.0.1", 0)
            holder["server"] = server
            holder["port"] = server.sockets[0].getsockname()[1]
            ready.set()

        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(5)
    try:
        yield int(holder["port"])  # type: ignore[call-overload]
    finally:
        loop.call_soon_threadsafe(holder["server"].close)  # type: ignore[attr-defined]
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


@pytest.fixture
def port() -> Iterator[int]:
    with _serving() as p:
        yield p


def _exchange(port: int, raw: bytes, *, expect_close: bool = False) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(raw)
        if not expect_close:
            s.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                return b"".join(chunks)
            chunks.append(data)


def _post(body: bytes, extra: bytes = b"") -> bytes:
    return (f"POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n".encode()
            + extra + b"\r\n" + body)


def test_pipelined_requests_are_answered_in_order(port: int) -> None:
    """RFC 9112 §9.3.2: answers to pipelined requests come back in request order."""
    answer = _exchange(port, _post(b"one") + _post(b"two") + _post(b"three"))
    assert answer.count(b"HTTP/1.1 200 OK") == 3
    assert answer.index(b"got:one") < answer.index(b"got:two") < answer.index(b"got:three")


def test_connection_close_is_honoured(port: int) -> None:
    """A request with Connection: close gets its answer and then the connection ends."""
    answer = _exchange(port, _post(b"x", b"Connection: close\r\n"), expect_close=True)
    assert answer.startswith(b"HTTP/1.1 200 OK")
    assert b"Connection: close" in answer


@pytest.mark.parametrize(("request_bytes", "status", "code"), [
    (b"GET /sild/v1/message HTTP/1.1\r\nHost: x\r\n\r\n", b"405", b"Client.InvalidHttpMethod"),
    (b"POST /elsewhere HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", b"404",
     b"Client.NotFound"),
    (b"POST /sild/v1/message HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n",
     b"413", b"Client.PayloadTooLarge"),
    (b"NOT HTTP\r\n\r\n", b"400", b"Client.InvalidRequest"),
])
def test_refusals_are_xroad_errors(port: int, request_bytes: bytes, status: bytes,
                                   code: bytes) -> None:
    """Wrong method or path, a body over the limit (never read), garbage: X-Road errors."""
    answer = _exchange(port, request_bytes, expect_close=status in (b"413", b"400"))
    assert answer.split(b" ")[1] == status
    assert b"X-Road-Error: " + code in answer


def test_streamed_body_over_the_limit_is_refused(port: int) -> None:
    """A chunked body is counted as it arrives: 413 once it passes the limit."""
    chunk = b"x" * 60
    raw = (f"POST {PATH} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
           + b"3c\r\n" + chunk + b"\r\n" + b"3c\r\n" + chunk + b"\r\n0\r\n\r\n")
    answer = _exchange(port, raw, expect_close=True)
    assert answer.split(b" ")[1] == b"413"


def _answer_on(conn: socket.socket) -> bytes:
    """One whole answer (its body is ``got:`` and one byte) read from ``conn``."""
    data = b""
    while not (b"\r\n\r\n" in data and data.endswith(b"got:x")):
        chunk = conn.recv(65536)
        assert chunk, data
        data += chunk
    return data


def test_a_connection_past_its_lifetime_is_closed_after_an_answer() -> None:
    """peer_connection_lifetime: a connection older than it gets its answer with
    `Connection: close` (RFC 9112 §9.6) and then ends, so a TCP load balancer can hand the
    peer's next connection to another node; a younger one stays open."""
    with _serving(Timeouts(lifetime=0.5)) as aging, \
            socket.create_connection(("127.0.0.1", aging), timeout=5) as conn:
        conn.sendall(_post(b"x"))
        first = _answer_on(conn)
        assert b"HTTP/1.1 200 OK" in first
        assert b"connection: close" not in first.lower()
        time.sleep(0.6)
        conn.sendall(_post(b"x"))
        second = _answer_on(conn)
        assert b"HTTP/1.1 200 OK" in second
        assert b"Connection: close" in second
        assert conn.recv(1) == b""  # the server closed it


def test_without_a_lifetime_a_connection_stays_open(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        for _ in range(2):
            conn.sendall(_post(b"x"))
            assert b"connection: close" not in _answer_on(conn).lower()
            time.sleep(0.3)
        conn.shutdown(socket.SHUT_WR)  # the server closes its side at the end of input
        assert conn.recv(1) == b""
