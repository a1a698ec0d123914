"""Serve a ledger app with ASGI lifespan events in a background thread (tests, benchmarks).

Like :func:`sild.testing.servers.serve_asgi` with ``lifespan="on"``, so the ledger's
round loop starts with the server and stops cleanly (closing its witness sessions)
before the event loop closes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sild.testing.servers import serve_asgi

__all__ = ["serve_ledger"]


@contextmanager
def serve_ledger(app: Any, *, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``app`` until the block ends; yields its base URL."""
    with serve_asgi(app, host=host, lifespan="on") as url:
        yield url
