"""Header and body timeouts of the Shell services on uvicorn (sild.web.deadlines; issue 12:
a slow connection was held forever)."""

from __future__ import annotations

import asyncio
import socket
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from sild.embedded import free_port, start_embedded
from sild.testing.servers import serve_asgi
from sild.web.deadlines import shell_http, timed_http_protocol
from sild.web.shell import Shell

TIMEOUT = 0.5


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"got %d" % len(body)})


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    app = Shell(_app, max_body=1024)  # type: ignore[arg-type]
    with serve_asgi(app, http=timed_http_protocol(header_timeout=TIMEOUT,
                                                  body_timeout=TIMEOUT)) as url:
        yield url


def _connect(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=5)


def _closed_within(s: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed ``s`` (recv gives b""), None if it did not."""
    started = time.monotonic()
    s.settimeout(seconds)
    try:
        while s.recv(4096):
            pass
    except TimeoutError:
        return None
    except OSError:
        pass
    return time.monotonic() - started


def test_a_normal_request_is_answered(base: str) -> None:
    """The timed protocol serves ordinary requests as uvicorn does."""
    with urllib.request.urlopen(urllib.request.Request(base + "/", data=b"abc"),
                                timeout=5) as r:
        assert r.read() == b"got 3"


def test_an_idle_connection_is_closed(base: str) -> None:
    """A connection that sends nothing is closed after the header timeout."""
    with _connect(base) as s:
        took = _closed_within(s, 5)
    assert took is not None
    assert took < TIMEOUT + 1.5


def test_a_trickled_head_is_closed(base: str) -> None:
    """A head sent a byte at a time does not keep the connection past the timeout."""
    with _connect(base) as s:
        started = time.monotonic()
        for b in b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200:
            try:
                s.sendall(bytes([b]))
            except OSError:
                break
            time.sleep(0.02)
            if time.monotonic() - started > 5:
                break
        took = _closed_within(s, 5)
    assert took is not None
    assert time.monotonic() - started < TIMEOUT + 2


def test_a_stalled_body_is_closed(base: str) -> None:
    """A body that stops arriving is cut off after the body timeout."""
    with _connect(base) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        took = _closed_within(s, 5)
    assert took is not None
    assert took < TIMEOUT + 1.5


def test_kept_alive_connection_then_slow_head_is_closed(base: str) -> None:
    """After one good request, a second head that never ends is closed too."""
    with _connect(base) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        took = _closed_within(s, 5)
    assert took is not None
    assert took < TIMEOUT + 1.5


def test_embedded_services_use_the_timed_protocol() -> None:
    """Every service started through start_embedded (admin, registry, identity) gets
    the header and body timeouts."""
    async def check() -> object:
        server, task = await start_embedded(_app, "127.0.0.1", free_port())
        try:
            return server.config.http
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 5)

    assert asyncio.run(check()) is shell_http()
