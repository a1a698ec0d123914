"""The two outbound hops of a gateway as small interfaces (STYLE.md rule 5).

* :class:`PeerTransport` — (3) the consumer gateway POSTs a signed frame to a provider
  gateway over mutual TLS and gets the provider's answer back;
* :class:`IsTransport` — (5) the provider gateway calls its information system.

:class:`LeanPeerTransport` and :class:`LeanIsTransport` are the real ones, on the lean
pooled HTTP/1.1 client (:mod:`sild.gateway.exchange.lean_http`; each new peer connection
pinned to the registered certificate); :mod:`sild.testing.exchange_memory` has in-memory
ones that connect two pipelines without sockets.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Protocol

import structlog

from sild.core.frame import CONTENT_TYPE as FRAME_TYPE
from sild.core.globalconf import GatewayEntry
from sild.errors import PeerUnreachable, SslAuthenticationFailed, TransportError
from sild.gateway.exchange.http import HOP_BY_HOP
from sild.gateway.exchange.lean_http import HttpPool, split_url
from sild.gateway.exchange.record import IsReply

__all__ = ["MESSAGE_PATH", "IsTransport", "LeanIsTransport", "LeanPeerTransport", "PeerReply",
           "PeerTransport"]

log = structlog.get_logger("sild.gateway.exchange")

MESSAGE_PATH = "/sild/v1/message"
# Statuses and methods whose responses have no body whatever Content-Length says
# (RFC 9110 §6.4.1: HEAD, 1xx, 204, 304).
_NO_BODY_STATUS = frozenset({204, 304})


@dataclass(frozen=True, slots=True)
class PeerReply:
    """A provider gateway's HTTP answer: a signed frame (200) or an X-Road error."""

    status: int
    error_code: str | None  # the X-Road-Error header, if any
    content_type: str
    body: bytes


class PeerTransport(Protocol):
    async def send(self, provider: GatewayEntry, frame: bytes, *, limit: int) -> PeerReply:
        """POST ``frame``; :class:`PeerUnreachable` when nothing was sent (safe to try the
        next gateway), :class:`SslAuthenticationFailed`, :class:`TransportError`."""
        ...


class IsTransport(Protocol):
    async def call(self, *, method: str, url: str, headers: list[tuple[str, str]],
                   body: bytes, time_limit: float, verify_tls: bool, limit: int) -> IsReply:
        """Call the provider IS; ``url`` is sent exactly as given (already encoded)."""
        ...


class LeanIsTransport:
    """The provider's IS hop on :class:`~sild.gateway.exchange.lean_http.HttpPool`."""

    def __init__(self, pool: HttpPool | None = None) -> None:
        self.pool = pool or HttpPool()
        self._verified = ssl.create_default_context()
        self._unverified = ssl.create_default_context()
        self._unverified.check_hostname = False
        self._unverified.verify_mode = ssl.CERT_NONE  # the operator's named exemption

    async def call(self, *, method: str, url: str, headers: list[tuple[str, str]],
                   body: bytes, time_limit: float, verify_tls: bool, limit: int) -> IsReply:
        https, host, port, target = split_url(url)
        tls: bool | ssl.SSLContext = False
        if https:
            tls = self._verified if verify_tls else self._unverified
        try:
            reply = await self.pool.request(host, port, method, target, headers, body,
                                            time_limit=time_limit, limit=limit, tls=tls)
        except PeerUnreachable as e:
            raise TransportError(f"cannot reach provider IS: {e.message}") from e
        except SslAuthenticationFailed as e:
            raise TransportError(f"TLS with the provider IS failed: {e.message}") from e
        # Sild-Data-Subject is for the tracker stage (docs/spec/tracker.md §1), which
        # takes it out of the response before it is signed.
        out = [(k, v) for k, v in reply.headers
               if k not in HOP_BY_HOP and (not k.startswith(("x-road-", "sild-"))
                                           or k == "sild-data-subject")]
        if method == "HEAD":  # the length a GET would have had (RFC 9110 §9.3.2)
            out.extend((k, v) for k, v in reply.headers if k == "content-length")
        return IsReply(reply.status, tuple(out), reply.body)


class LeanPeerTransport:
    """The consumer's peer hop on :class:`~sild.gateway.exchange.lean_http.HttpPool` over
    mutual TLS, each new connection pinned to the registered certificate (ARCHITECTURE.md
    §3) by the pool's ``check_peer``."""

    def __init__(self, pool: HttpPool, timeout: float) -> None:
        self.pool = pool
        self.timeout = timeout
        self._headers = [("Content-Type", FRAME_TYPE)]

    async def send(self, provider: GatewayEntry, frame: bytes, *, limit: int) -> PeerReply:
        host, _, port = provider.address.rpartition(":")
        if not host or not port.isdigit():
            raise TransportError(f"provider gateway address {provider.address!r} is not "
                                 "host:port")
        try:
            reply = await self.pool.request(host.strip("[]"), int(port), "POST", MESSAGE_PATH,
                                            self._headers, frame, time_limit=self.timeout,
                                            limit=limit, tls=True)
        except SslAuthenticationFailed as e:  # TLS failed, or not the registered peer
            raise SslAuthenticationFailed(f"{provider.id}: {e.message}") from e
        headers = dict(reply.headers)
        return PeerReply(reply.status, headers.get("x-road-error"),
                         headers.get("content-type", ""), reply.body)
