"""The one web shell on a real uvicorn server: errors through the one mapper, the
credential before the body, body limits while streaming, /metrics everywhere."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from sild.errors import AccessDenied
from sild.testing.servers import serve_asgi
from sild.web.shell import Shell


async def _app(scope: Any, receive: Any, send: Any) -> None:
    """Reads the whole body, then answers or raises by path."""
    size = 0
    more = True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    if scope["path"] == "/denied":
        raise AccessDenied("no")
    if scope["path"] == "/bug":
        raise ZeroDivisionError("secret")
    body = json.dumps({"read": size}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serve_asgi(Shell(_app, max_body=1000, admin_token="t0ken",
                          admin_prefixes=("/api",))) as base:
        yield base


def _call(url: str, method: str, path: str, headers: dict[str, str] | None = None,
          body: bytes | None = None, chunked: bool = False) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request(method, path, body=iter([body]) if chunked and body else body,
                     headers=headers or {}, encode_chunked=chunked)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def test_errors_go_through_the_one_mapper(url: str) -> None:
    """A SildError escaping the app is the X-Road error, in the Accept form asked for."""
    status, headers, body = _call(url, "GET", "/denied", {"Accept": "text/xml"})
    assert (status, headers["x-road-error"]) == (500, "Server.AccessDenied")
    assert headers["content-type"] == "text/xml; charset=utf-8"
    assert body.startswith(b"<error><type>Server.AccessDenied</type>")


def test_a_crash_is_an_internal_error_without_its_text(url: str) -> None:
    """Any other exception: Server.InternalError naming the type, never its message."""
    status, headers, body = _call(url, "GET", "/bug")
    assert (status, headers["x-road-error"]) == (500, "Server.InternalError")
    assert b"secret" not in body


def test_protected_path_needs_the_credential(url: str) -> None:
    """/api without the bearer token is 401 Client.Unauthorized; with it, it passes."""
    status, headers, _ = _call(url, "POST", "/api/x", body=b"{}")
    assert (status, headers["x-road-error"]) == (401, "Client.Unauthorized")
    status, _, body = _call(url, "POST", "/api/x", {"Authorization": "Bearer t0ken"}, b"{}")
    assert (status, json.loads(body)) == (200, {"read": 2})


def test_chunked_body_over_the_limit_is_refused(url: str) -> None:
    """A chunked body (no Content-Length) is counted as it streams: 413 past the limit."""
    status, headers, _ = _call(url, "POST", "/open", body=b"x" * 5000, chunked=True)
    assert (status, headers["x-road-error"]) == (413, "Client.PayloadTooLarge")


def test_non_numeric_content_length_is_refused(url: str) -> None:
    """A Content-Length that is not a number is refused before reading."""
    import socket

    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as s:
        s.sendall(b"POST /open HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n")
        answer = s.recv(4096)
    assert answer.split(b" ")[1] in (b"400", b"413")


def test_metrics_are_served_by_every_shell(url: str) -> None:
    """GET /metrics answers Prometheus text (process collectors) without a credential."""
    status, headers, body = _call(url, "GET", "/metrics")
    assert status == 200
    assert headers["content-type"].startswith("text/plain")
    assert b"process_resident_memory_bytes" in body or b"python_info" in body


def _starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    from sild.web.shell import xroad_error_handlers

    async def denied(request: Any) -> Response:
        raise AccessDenied("no")

    async def bug(request: Any) -> Response:
        raise ZeroDivisionError("secret")

    return Starlette(routes=[Route("/denied", denied), Route("/bug", bug)],
                     exception_handlers=xroad_error_handlers())


@pytest.mark.parametrize(("method", "path", "status", "code"), [
    ("GET", "/denied", 500, "Server.AccessDenied"),
    ("GET", "/nowhere", 404, "Client.NotFound"),
    ("DELETE", "/denied", 405, "Client.InvalidHttpMethod"),
    ("GET", "/bug", 500, "Server.InternalError"),
])
def test_starlette_apps_answer_every_error_the_xroad_way(method: str, path: str,
                                                         status: int, code: str) -> None:
    """xroad_error_handlers (consent, notify, registers, e-services, enterprise systems):
    a SildError by its code, Starlette's 404/405, and a bug without its message."""
    with serve_asgi(Shell(_starlette_app(), max_body=1000)) as base:
        got, headers, body = _call(base, method, path, {"Accept": "application/json"})
    assert (got, headers["x-road-error"]) == (status, code)
    assert json.loads(body)["type"] == code
    assert b"secret" not in body
