"""HTTP details shared by both sides: X-Road error bodies, header filtering, bounded bodies.

Errors (research/xroad.md §2.2): header ``X-Road-Error`` with the code and a body
``{"type","message","detail"}`` — JSON by default, XML ``<error>`` when ``Accept``
asks for ``text/xml``, ``application/xml`` or ``text/*``. ``Server.*`` → 500,
everything else → 400 (``ClientRestMessageHandler.sendErrorResponse``), except where
a code states another status (503 maintenance).
"""

from __future__ import annotations

import json
import uuid
from xml.sax.saxutils import escape

from aiohttp import web

from sild.errors import InvalidRequest, SildError, xroad_code_at

__all__ = [
    "HOP_BY_HOP",
    "error_response",
    "forwardable",
    "read_body",
    "read_limited",
    "sild_error_response",
    "status_for",
]

# RFC 9110 §7.6.1 hop-by-hop headers, plus those a proxy rewrites (PR-REST §4.3:
# Host, User-Agent and Server are dropped or rewritten; lengths are recomputed).
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
    "te", "trailer", "transfer-encoding", "upgrade", "host", "content-length", "user-agent",
    "server", "date",
})


def forwardable(headers: object) -> tuple[tuple[str, str], ...]:
    """User headers to pass on: not hop-by-hop, not X-Road's or Sild's own."""
    out = []
    for name, value in headers.items():  # type: ignore[attr-defined]  # a CIMultiDict
        low = name.lower()
        if low in HOP_BY_HOP or low.startswith(("x-road-", "sild-")):
            continue
        out.append((low, value))
    return tuple(out)


def status_for(code: str, error: SildError | None = None) -> int:
    if error is not None and error.http_status == 503:
        return 503
    return 500 if code.lower().startswith("server.") else 400


def _wants_xml(accept: str) -> bool:
    a = accept.lower()
    return any(t in a for t in ("text/xml", "application/xml", "text/*"))


def error_response(code: str, message: str, *, accept: str = "", status: int | None = None,
                   extra_headers: dict[str, str] | None = None) -> web.Response:
    detail = str(uuid.uuid4())
    headers = {"X-Road-Error": code, **(extra_headers or {})}
    if _wants_xml(accept):
        body = (f"<error><type>{escape(code)}</type><message>{escape(message)}</message>"
                f"<detail>{detail}</detail></error>").encode()
        ctype = "text/xml"
    else:
        body = json.dumps({"type": code, "message": message, "detail": detail}).encode()
        ctype = "application/json"
    return web.Response(body=body, status=status or status_for(code), content_type=ctype,
                        headers=headers)


def sild_error_response(error: SildError, component: str, *, accept: str = "",
                        extra_headers: dict[str, str] | None = None) -> web.Response:
    code = xroad_code_at(error, component)
    return error_response(code, error.message, accept=accept,
                          status=status_for(code, error), extra_headers=extra_headers)


async def read_limited(stream: object, limit: int, what: str,
                       declared: int | None = None) -> bytes:
    """All of a client response's body, or :class:`InvalidRequest` past ``limit`` bytes."""
    if declared is not None:
        if declared > limit:
            raise InvalidRequest(f"{what} of {declared} bytes exceeds the limit of {limit}")
        data: bytes = await stream.readexactly(declared)  # type: ignore[attr-defined]
        return data
    chunks = []
    size = 0
    async for chunk in stream.iter_chunked(64 * 1024):  # type: ignore[attr-defined]  # StreamReader
        size += len(chunk)
        if size > limit:
            raise InvalidRequest(f"{what} exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, refusing more than ``limit`` bytes without reading past it."""
    declared = request.content_length
    if declared is not None:
        if declared > limit:
            raise InvalidRequest(
                f"request body of {declared} bytes exceeds the limit of {limit}")
        return await request.read()  # bounded: aiohttp stops at Content-Length
    chunks = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise InvalidRequest(f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
