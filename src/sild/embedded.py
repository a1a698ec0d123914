"""Run an ASGI app on uvicorn inside an event loop the caller owns (no signal capture)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Iterator
from typing import Any, Literal

import uvicorn

from sild.errors import ConfigurationError

__all__ = ["EmbeddedServer", "free_port", "start_embedded"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the process that embeds it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def start_embedded(app: Any, host: str, port: int, *,
                         lifespan: Literal["on", "off"] = "off",
                         ) -> tuple[EmbeddedServer, asyncio.Task[None]]:
    """Start serving ``app``; returns once it listens (``server.should_exit = True`` stops)."""
    # Bind here, so that a busy port is our clear error, not uvicorn's sys.exit(3).
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise ConfigurationError(f"cannot listen on {host}:{port}: {e.strerror}") from e
    sock.set_inheritable(True)
    server = EmbeddedServer(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                           access_log=False, lifespan=lifespan))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    deadline = time.monotonic() + 10
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            with contextlib.suppress(BaseException):
                task.result()
            raise ConfigurationError(f"cannot listen on {host}:{port}")
        await asyncio.sleep(0.01)
    return server, task
