"""An aiohttp connector that pins each provider gateway's TLS certificate.

Chain verification happens in the TLS handshake; right after it, the peer
certificate must be the auth certificate registered for that address in global
configuration, from a CA approved there now, and unrevoked (ARCHITECTURE.md §3).
Checked once per connection; the gateway replaces its pool when the configuration
changes, so pooled connections are re-checked within one refresh.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp

__all__ = ["PeerMismatch", "PinnedConnector"]


class PeerMismatch(aiohttp.ClientConnectionError):
    """The TLS peer is not the gateway registered at that address."""

    def __init__(self, address: str, reason: str) -> None:
        super().__init__(f"gateway at {address}: {reason}")
        self.address = address


class PinnedConnector(aiohttp.TCPConnector):
    """``check(address, peer certificate DER)`` returns None to accept, or the reason."""

    def __init__(self, check: Callable[[str, bytes], str | None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._check = check

    async def _create_direct_connection(  # aiohttp private hook, stable across 3.x
        self, req: aiohttp.ClientRequest, *args: Any, **kwargs: Any
    ) -> tuple[Any, Any]:
        transport, proto = await super()._create_direct_connection(req, *args, **kwargs)
        address = f"{req.url.raw_host}:{req.port}"
        ssl_obj = transport.get_extra_info("ssl_object")
        der = ssl_obj.getpeercert(binary_form=True) if ssl_obj is not None else None
        reason = "no certificate" if not der else self._check(address, der)
        if reason is not None:
            transport.close()
            raise PeerMismatch(address, reason)
        return transport, proto
