"""Serve a ledger app with ASGI lifespan events in a background thread (tests, benchmarks).

Like :func:`sild.testing.servers.serve_asgi`, but with ``lifespan="on"`` so the ledger's
round loop starts with the server and stops cleanly (closing its witness sessions)
before the event loop closes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from sild.testing.servers import free_port

__all__ = ["serve_ledger"]


@contextmanager
def serve_ledger(app: Any, *, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``app`` until the block ends; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                           access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
