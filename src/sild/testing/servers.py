"""Run a real ASGI app on uvicorn, on a loopback ephemeral port, in a background thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from sild.embedded import free_port

__all__ = ["free_port", "serve_asgi"]


@contextmanager
def serve_asgi(app: Any, *, host: str = "127.0.0.1", lifespan: str = "off",
               **config: Any) -> Iterator[str]:
    """Serve ``app`` until the block ends; yields its base URL (``http://127.0.0.1:PORT``).

    ``lifespan="on"`` runs the app's startup/shutdown (the ledger's round loop needs it).
    """
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                           access_log=False, lifespan=lifespan,  # type: ignore[arg-type]  # "on" | "off"
                                           **config))
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
