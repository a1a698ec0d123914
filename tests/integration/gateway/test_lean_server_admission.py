"""The peer port's lean server with admission (docs/spec/exchange.md §8) on a real socket:
a refused request's body is never handed on, answers stay in order, places are freed."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from sild.gateway.admission import Gate, Quota
from sild.gateway.exchange.lean_server import PeerServerProtocol
from sild.gateway.exchange.record import Answer, Incoming

PATH = "/sild/v1/message"
seen: list[bytes] = []


async def _slow_echo(incoming: Incoming) -> Answer:
    body = await incoming.read_body(1000)
    seen.append(body)
    await asyncio.sleep(0.2)
    return Answer(200, (("Content-Type", "application/octet-stream"),), b"got:" + body)


@pytest.fixture
def served() -> Iterator[tuple[int, Gate]]:
    gate = Gate(max_in_flight=100, default=Quota(concurrency=1), what="peer gateway")
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, object] = {}
    connections: set[PeerServerProtocol] = set()

    def run() -> None:
        asyncio.set_event_loop(loop)

        async def start() -> None:
            server = await loop.create_server(
                lambda: PeerServerProtocol(_slow_echo, path=PATH, max_body=100,
                                           admit=lambda der: gate.admit("peer"),
                                           connections=connections),
                "127.0.0.1", 0)
            holder["server"] = server
            holder["port"] = server.sockets[0].getsockname()[1]
            ready.set()

        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(5)
    seen.clear()
    yield int(holder["port"]), gate  # type: ignore[call-overload]
    loop.call_soon_threadsafe(holder["server"].close)  # type: ignore[attr-defined]

    async def close_all() -> None:
        for c in list(connections):
            c.close()
        await asyncio.sleep(0.05)

    asyncio.run_coroutine_threadsafe(close_all(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def _post(body: bytes) -> bytes:
    return (f"POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body)


def test_pipelined_request_past_the_limit_is_refused_in_order(
        served: tuple[int, Gate]) -> None:
    """The second pipelined request finds the peer's one place taken: 429 after the
    first's 200, and its body never reaches the handler."""
    port, gate = served
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(_post(b"first") + _post(b"second-secret"))
        answer = b""
        while answer.count(b"HTTP/1.1 ") < 2:
            data = s.recv(65536)
            assert data, answer
            answer += data
    assert answer.index(b"HTTP/1.1 200 OK") < answer.index(b"HTTP/1.1 429")
    assert b"Server.ServerProxy.TooManyRequests" in answer
    assert b"Retry-After: 1" in answer
    assert seen == [b"first"]
    assert gate.in_flight == 0


def test_lost_connection_frees_its_place(served: tuple[int, Gate]) -> None:
    """A peer that hangs up mid-request does not keep its place."""
    port, gate = served
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\nab".encode())
        time.sleep(0.2)
        assert gate.in_flight == 1  # admitted on its head
    deadline = time.monotonic() + 5
    while gate.in_flight and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gate.in_flight == 0
