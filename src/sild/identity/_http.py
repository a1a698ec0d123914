"""HTTP helpers shared by the OCSP responder and the TSA: a bounded body, serving."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.requests import Request

from sild.embedded import start_embedded

__all__ = ["BodyTooLarge", "read_limited", "serve_app"]


class BodyTooLarge(Exception):
    """The request body passed its limit."""


async def read_limited(request: Request, limit: int) -> bytes:
    """The request body, or :class:`BodyTooLarge` as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def serve_app(app: Starlette, host: str, port: int,
                    started: Callable[[str], None] | None = None) -> None:
    """Serve ``app`` on ``host:port`` until cancelled; ``started(url)`` once it listens."""
    server, task = await start_embedded(app, host, port)
    if started is not None:
        started(f"http://{host}:{port}")
    try:
        await asyncio.shield(task)
    finally:
        server.should_exit = True
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(task, 10)
