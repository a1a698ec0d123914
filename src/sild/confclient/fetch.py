"""Downloading the global configuration: the :class:`Fetcher` interface and its HTTP form.

docs/spec/globalconf.md §3: ``GET /globalconf`` returns the DSSE envelope. The fetcher
only moves bytes; everything it returns is verified by the caller (§4). The
in-memory double is :class:`sild.testing.confdouble.MemoryFetcher`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import aiohttp

from sild.core.globalconf import MAX_DOCUMENT_BYTES
from sild.errors import GlobalConfError, TransportError
from sild.web.neterrors import describe_network_error

__all__ = ["MEDIA_TYPE", "FetchLimits", "Fetcher", "HttpFetcher"]

MEDIA_TYPE = "application/vnd.sild.globalconf+dsse+json"


class Fetcher(Protocol):
    """Fetch the bytes at ``url``; :class:`TransportError` when it cannot be had."""

    async def fetch(self, url: str) -> bytes: ...


@dataclass(frozen=True, slots=True)
class FetchLimits:
    """Limits for one download (STYLE.md rule 8)."""

    # The document must arrive well within one refresh interval (60 s by default).
    total_timeout: float = 20.0
    # A registry that does not accept a connection in this long is down; try the next.
    connect_timeout: float = 5.0
    # The same cap the verifier applies: no point downloading what it would refuse.
    max_bytes: int = MAX_DOCUMENT_BYTES


class HttpFetcher:
    """A :class:`Fetcher` over aiohttp; pass a session to share its connection pool."""

    def __init__(
        self, session: aiohttp.ClientSession | None = None, *, limits: FetchLimits | None = None
    ) -> None:
        self._session = session
        self._limits = limits or FetchLimits()

    async def fetch(self, url: str) -> bytes:
        try:
            if self._session is not None:
                return await self._get(self._session, url)
            async with aiohttp.ClientSession() as session:
                return await self._get(session, url)
        except aiohttp.ClientError as e:
            raise TransportError(f"GET {url}: {describe_network_error(e)}", url=url) from e
        except TimeoutError as e:
            raise TransportError(f"GET {url}: timed out", url=url) from e

    async def _get(self, session: aiohttp.ClientSession, url: str) -> bytes:
        timeout = aiohttp.ClientTimeout(
            total=self._limits.total_timeout, sock_connect=self._limits.connect_timeout
        )
        limit = self._limits.max_bytes
        headers = {"Accept": MEDIA_TYPE}
        async with session.get(url, timeout=timeout, headers=headers) as resp:
            if resp.status != 200:
                raise TransportError(
                    f"GET {url} returned HTTP {resp.status}", url=url, status=resp.status
                )
            if resp.content_length is not None and resp.content_length > limit:
                raise GlobalConfError(f"GET {url}: document is larger than {limit} bytes", url=url)
            body = bytearray()
            async for chunk in resp.content.iter_chunked(64 * 1024):
                body += chunk
                if len(body) > limit:
                    raise GlobalConfError(
                        f"GET {url}: document is larger than {limit} bytes", url=url
                    )
            return bytes(body)
