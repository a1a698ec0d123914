"""The gateway's IS port on aiohttp's server, in front of the consumer pipeline (the peer
port runs the lean server, sild.gateway.exchange.lean_server).

aiohttp exposes each connection's TLS peer certificate, which the provider side must
check against global configuration, and measured as fast as raw ASGI on uvicorn here
(research/limits.md §3). The pipelines never see aiohttp: a port turns its request
into an :class:`~sild.gateway.exchange.record.Incoming` and sends back the
:class:`~sild.gateway.exchange.record.Answer`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from aiohttp import web
from multidict import CIMultiDict

from sild.errors import InvalidRequest
from sild.gateway.exchange.record import Answer, ConsumerExchange, Incoming

__all__ = ["consumer_handler", "incoming", "read_body", "to_response"]


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, refusing more than ``limit`` bytes without reading past it."""
    if not request.body_exists:  # no Content-Length, not chunked: nothing to read
        return b""
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


def incoming(request: web.Request) -> Incoming:
    def tls_certificate() -> bytes | None:
        transport = request.transport
        ssl_obj = transport.get_extra_info("ssl_object") if transport is not None else None
        der = ssl_obj.getpeercert(binary_form=True) if ssl_obj is not None else None
        return der or None

    async def body(limit: int) -> bytes:
        return await read_body(request, limit)

    return Incoming(request.method, request.raw_path, request.headers, body, tls_certificate)


def to_response(answer: Answer) -> web.Response:
    response = web.Response(status=answer.status, body=answer.body,
                            headers=CIMultiDict(answer.headers))
    return response


def consumer_handler(run: Callable[[ConsumerExchange], Awaitable[Answer]],
                     clock: Callable[[], datetime]
                     ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        ex = ConsumerExchange(request_in=clock(), incoming=incoming(request))
        return to_response(await run(ex))

    return handle
