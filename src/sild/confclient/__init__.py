"""The configuration client: keeps a gateway's global configuration current.

docs/spec/globalconf.md §4: download from the anchor's sources, verify, persist,
refresh, back off, and fail closed once the copy in use expires.

The names below are imported on first use (PEP 562), so that reading the cache
(``sild conf show``, :mod:`sild.confclient._cache`) does not import the HTTP client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sild.confclient.client import (
        DEFAULT_REFRESH_INTERVAL,
        FIRST_RETRY_DELAY,
        ConfClient,
        backoff_delay,
    )
    from sild.confclient.fetch import MEDIA_TYPE, Fetcher, FetchLimits, HttpFetcher

__all__ = [
    "DEFAULT_REFRESH_INTERVAL",
    "FIRST_RETRY_DELAY",
    "MEDIA_TYPE",
    "ConfClient",
    "FetchLimits",
    "Fetcher",
    "HttpFetcher",
    "backoff_delay",
]

_HOME = {
    "DEFAULT_REFRESH_INTERVAL": "client",
    "FIRST_RETRY_DELAY": "client",
    "ConfClient": "client",
    "backoff_delay": "client",
    "MEDIA_TYPE": "fetch",
    "Fetcher": "fetch",
    "FetchLimits": "fetch",
    "HttpFetcher": "fetch",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
