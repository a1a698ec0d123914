"""Run an ASGI app on uvicorn inside an event loop the caller owns (no signal capture)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import Any, Literal

import uvicorn

from sild.errors import ConfigurationError
from sild.web.deadlines import shell_http

__all__ = ["EmbeddedServer", "free_port", "start_embedded"]


# Ports free_port() handed out lately. A caller binds its port only later (LocalNet
# writes every port into configuration and certificates before any server starts),
# and the kernel picks bind(0) ports at random: among ten calls it repeats one about
# once in 200, and two servers then get the same port. Remembering the last 1024 also
# keeps a port that a test server gives up and takes back (a ledger going down and up)
# from going to another server meanwhile; it is far below the ~14 k ports bind(0) uses.
_HANDED_OUT: deque[int] = deque(maxlen=1024)
_HANDED_OUT_LOCK = threading.Lock()


def _port_share() -> tuple[int, int]:
    """``SILD_PORT_SHARE=K/N``: this process (and its children) hand out only ports
    with ``(port // 2) % N == K``. Parallel test processes (pytest-xdist,
    tests/conftest.py) each get their own K, so two of them never pick the same free
    port. (Halved first: Linux gives bind(0) mostly odd ports, keeping even ones for
    connect(), so ``port % 2`` alone would starve one share.)"""
    raw = os.environ.get("SILD_PORT_SHARE", "")
    index, slash, count = raw.partition("/")
    if slash and index.isdigit() and count.isdigit() and int(index) < int(count):
        return int(index), int(count)
    return 0, 1


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago and that this process has not
    handed out lately (so two servers set up side by side never share one)."""
    index, count = _port_share()
    with _HANDED_OUT_LOCK:
        while True:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port: int = s.getsockname()[1]
            if (port >> 1) % count == index and port not in _HANDED_OUT:
                _HANDED_OUT.append(port)
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
    # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY only on sockets whose proto says
    # TCP, and accepted sockets inherit this one's. With proto 0 Nagle stays on and each
    # keep-alive response (headers, then body) waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                         socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise ConfigurationError(f"cannot listen on {host}:{port}: {e.strerror}") from e
    sock.set_inheritable(True)
    # Header and body timeouts: a slow or stalled sender is closed (sild.web.deadlines).
    server = EmbeddedServer(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                           access_log=False, lifespan=lifespan,
                                           http=shell_http()))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    deadline = time.monotonic() + 10
    try:
        while not server.started:
            if task.done() or time.monotonic() > deadline:
                with contextlib.suppress(BaseException):
                    task.result()
                raise ConfigurationError(f"cannot listen on {host}:{port}")
            await asyncio.sleep(0.01)
    except asyncio.CancelledError:  # Ctrl-C during start-up: stop it, not orphan it
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(task), 5)
        raise
    return server, task
