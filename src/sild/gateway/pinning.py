"""An aiohttp connector that pins each provider gateway's TLS certificate.

Chain verification (approved CAs) happens in the TLS handshake; right after it, the
peer certificate's SHA-256 must equal the auth-certificate fingerprint registered
for that address in global configuration (ARCHITECTURE.md §3). Checked once per
connection — pooled, kept-alive connections are not re-checked per request.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import aiohttp

__all__ = ["PeerMismatch", "PinnedConnector"]


class PeerMismatch(aiohttp.ClientConnectionError):
    """The TLS peer is not the gateway registered at that address."""

    def __init__(self, address: str, got: str | None) -> None:
        super().__init__(f"gateway at {address} presented certificate {str(got)[:16]}…, "
                         "not the registered one")
        self.address = address


class PinnedConnector(aiohttp.TCPConnector):
    def __init__(self, expected: Callable[[str], str | None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._expected = expected

    async def _create_direct_connection(  # aiohttp private hook, stable across 3.x
        self, req: aiohttp.ClientRequest, *args: Any, **kwargs: Any
    ) -> tuple[Any, Any]:
        transport, proto = await super()._create_direct_connection(req, *args, **kwargs)
        address = f"{req.url.raw_host}:{req.port}"
        ssl_obj = transport.get_extra_info("ssl_object")
        der = ssl_obj.getpeercert(binary_form=True) if ssl_obj is not None else None
        got = hashlib.sha256(der).hexdigest() if der else None
        if got is None or got != self._expected(address):
            transport.close()
            raise PeerMismatch(address, got)
        return transport, proto
