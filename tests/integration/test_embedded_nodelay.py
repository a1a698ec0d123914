"""Services started with sild.embedded.start_embedded answer keep-alive requests without
Nagle's delay: the listening socket is a TCP socket by protocol, so asyncio sets
TCP_NODELAY on every accepted connection (found with the registers' lookups: 22 per
second per connection before, thousands after)."""

from __future__ import annotations

import asyncio
import http.client
import socket
import time
from typing import Any

from sild.embedded import free_port, start_embedded


async def _ok(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def test_keep_alive_requests_are_not_delayed_by_nagle() -> None:
    """50 sequential requests on one connection take well under a second (with Nagle on
    they take 50 × ~40 ms = 2 s), and the listening socket's protocol is TCP."""
    port = free_port()
    took: list[float] = []
    protos: list[int] = []

    def client() -> None:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        start = time.perf_counter()
        for _ in range(50):
            c.request("GET", "/")
            r = c.getresponse()
            assert r.read() == b"ok"
        took.append(time.perf_counter() - start)
        c.close()

    async def main() -> None:
        server, task = await start_embedded(_ok, "127.0.0.1", port)
        protos.extend(s.proto for srv in server.servers for s in srv.sockets)
        await asyncio.to_thread(client)
        server.should_exit = True
        await task

    asyncio.run(main())
    assert protos
    assert set(protos) == {socket.IPPROTO_TCP}
    assert took
    assert took[0] < 1.0, f"50 keep-alive requests took {took[0]:.2f} s"
