"""The configuration client: keeps a gateway's global configuration current.

docs/spec/globalconf.md §4: download from the anchor's sources, verify, persist,
refresh, back off, and fail closed once the copy in use expires.
"""

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
