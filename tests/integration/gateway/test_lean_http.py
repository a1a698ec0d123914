"""The gateway's lean HTTP/1.1 client against a server that writes exact bytes: keep-alive
reuse, chunked and interim answers, limits, broken peers and request splitting."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from sild.errors import InvalidRequest, PeerUnreachable, TransportError
from sild.gateway.exchange.lean_http import HttpPool, HttpReply, split_url
from sild.testing.rawhttp import Canned, RawHttpServer


@pytest.fixture
def raw() -> Iterator[RawHttpServer]:
    with RawHttpServer() as server:
        yield server


def _get(pool: HttpPool, raw: RawHttpServer, target: str, *, method: str = "GET",
         headers: list[tuple[str, str]] | None = None, body: bytes = b"",
         limit: int = 1 << 20, time_limit: float = 5) -> HttpReply:
    port = int(raw.url.rsplit(":", 1)[1])

    async def once() -> HttpReply:
        try:
            return await pool.request("127.0.0.1", port, method, target, headers or [], body,
                                      time_limit=time_limit, limit=limit)
        finally:
            await pool.close()

    return asyncio.run(once())


def test_target_and_headers_go_out_as_given(raw: RawHttpServer) -> None:
    """RFC 9112 §3.2: the request target is written byte for byte, a bare '?' included."""
    raw.route("/a%2Fb", Canned(headers=(("Content-Length", "2"),), body=b"ok"))
    reply = _get(HttpPool(), raw, "/a%2Fb?", headers=[("X-Custom", "v")], body=b"",
                 method="GET")
    assert (reply.status, reply.body) == (200, b"ok")
    got = raw.received[-1]
    assert got.request_line == "GET /a%2Fb? HTTP/1.1"
    assert ("X-Custom", "v") in got.headers
    assert not any(k.lower() in ("user-agent", "accept-encoding") for k, _ in got.headers)


def test_keep_alive_connection_is_reused(raw: RawHttpServer) -> None:
    """Two calls in one loop share one pooled connection (one accept on the server)."""
    raw.route("/k", Canned(headers=(("Content-Length", "1"),), body=b"x"))
    pool = HttpPool()
    port = int(raw.url.rsplit(":", 1)[1])

    async def two() -> list[HttpReply]:
        out = [await pool.request("127.0.0.1", port, "GET", "/k", [], b"", time_limit=5,
                                  limit=100) for _ in range(2)]
        await pool.close()
        return out

    assert [r.body for r in asyncio.run(two())] == [b"x", b"x"]
    assert len({r.request_line for r in raw.received}) == 1
    assert raw.connections == 1


def test_chunked_answer_and_interim_100(raw: RawHttpServer) -> None:
    """A chunked body is joined; a 100 Continue before the answer is skipped."""
    raw.route("/c", Canned("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created",
                           (("Transfer-Encoding", "chunked"),),
                           b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"))
    reply = _get(HttpPool(), raw, "/c", method="POST", body=b"{}")
    assert (reply.status, reply.body) == (201, b"abcde")


def test_oversized_answer_fails_the_call(raw: RawHttpServer) -> None:
    """A body over the limit is refused (TransportError) and the connection dropped."""
    raw.route("/big", Canned(headers=(("Content-Length", "1000"),), body=b"x" * 1000))
    with pytest.raises(TransportError, match=r"oversized|limit"):
        _get(HttpPool(), raw, "/big", limit=100)


def test_malformed_answer_is_a_transport_error(raw: RawHttpServer) -> None:
    """Garbage instead of HTTP is TransportError, never a crash or a hang."""
    raw.route("/bad", Canned("NOT HTTP AT ALL", (), b"\r\n"))
    with pytest.raises(TransportError):
        _get(HttpPool(), raw, "/bad", time_limit=3)


def test_connection_closed_mid_answer(raw: RawHttpServer) -> None:
    """A peer that closes before the body is complete fails the call."""
    raw.route("/cut", Canned(headers=(("Content-Length", "100"), ("Connection", "close")),
                             body=b"short"))
    with pytest.raises(TransportError, match="closed"):
        _get(HttpPool(), raw, "/cut")


def test_silent_peer_times_out() -> None:
    """A peer that accepts and never answers: TransportError after the time limit."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.append(listener.accept()[0]), daemon=True).start()
    try:
        with pytest.raises(TransportError, match="did not answer"):
            asyncio.run(HttpPool().request("127.0.0.1", port, "GET", "/", [], b"",
                                           time_limit=0.3, limit=100))
    finally:
        for s in held:
            s.close()
        listener.close()


def test_nobody_listening_is_unreachable() -> None:
    """No connection: PeerUnreachable (nothing was sent, another gateway may be tried)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(PeerUnreachable):
        asyncio.run(HttpPool().request("127.0.0.1", port, "GET", "/", [], b"",
                                       time_limit=2, limit=100))


@pytest.mark.parametrize(("target", "headers"), [
    ("/a b", []), ("/a\r\nX: y", []), ("a", []),
    ("/", [("X-Evil", "v\r\nInjected: 1")]), ("/", [("Bad Name", "v")]),
])
def test_request_splitting_is_refused(raw: RawHttpServer, target: str,
                                      headers: list[tuple[str, str]]) -> None:
    """CR, LF, NUL or spaces where HTTP forbids them are refused before anything is sent."""
    with pytest.raises(InvalidRequest):
        _get(HttpPool(), raw, target, headers=headers)
    assert raw.received == []


def test_renew_retires_pooled_connections(raw: RawHttpServer) -> None:
    """After renew() the next call opens a new connection."""
    raw.route("/r", Canned(headers=(("Content-Length", "0"),)))
    pool = HttpPool()
    port = int(raw.url.rsplit(":", 1)[1])

    async def calls() -> None:
        await pool.request("127.0.0.1", port, "GET", "/r", [], b"", time_limit=5, limit=10)
        pool.renew()
        await pool.request("127.0.0.1", port, "GET", "/r", [], b"", time_limit=5, limit=10)
        await pool.close()

    asyncio.run(calls())
    assert raw.connections == 2


@pytest.mark.parametrize(("url", "expected"), [
    ("http://is.example/echo/a%2F?", (False, "is.example", 80, "/echo/a%2F?")),
    ("https://is.example:8443", (True, "is.example", 8443, "/")),
])
def test_split_url_keeps_the_target_text(url: str, expected: tuple[object, ...]) -> None:
    """The target is the URL's own text after the authority, not re-encoded."""
    assert split_url(url) == expected


def test_idle_connection_closed_by_the_server_is_not_reused() -> None:
    """A server that closes a kept-alive connection while it is idle (uvicorn does after
    5 s): the next call opens a new connection instead of failing."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    accepted: list[int] = []

    def serve() -> None:
        for _ in range(2):
            conn, _addr = listener.accept()
            accepted.append(1)
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            time.sleep(0.05)
            conn.close()  # silently, without Connection: close

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    pool = HttpPool()

    async def calls() -> list[bytes]:
        first = await pool.request("127.0.0.1", port, "GET", "/", [], b"", time_limit=5,
                                   limit=10)
        await asyncio.sleep(0.3)  # the server has closed the idle connection by now
        second = await pool.request("127.0.0.1", port, "GET", "/", [], b"", time_limit=5,
                                    limit=10)
        await pool.close()
        return [first.body, second.body]

    try:
        assert asyncio.run(calls()) == [b"ok", b"ok"]
        assert len(accepted) == 2
    finally:
        thread.join(5)
        listener.close()


def test_body_delimited_by_the_end_of_the_connection(raw: RawHttpServer) -> None:
    """RFC 9112 §6.3 (8): no Content-Length, not chunked: the body ends with the connection."""
    raw.route("/eof", Canned(headers=(("Connection", "close"),), body=b"until the end"))
    reply = _get(HttpPool(), raw, "/eof")
    assert (reply.status, reply.body) == (200, b"until the end")
