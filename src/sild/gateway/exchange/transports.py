"""The two outbound hops of a gateway as small interfaces (STYLE.md rule 5).

* :class:`PeerTransport` — (3) the consumer gateway POSTs a signed frame to a provider
  gateway over mutual TLS and gets the provider's answer back;
* :class:`IsTransport` — (5) the provider gateway calls its information system.

:class:`AiohttpPeerTransport` and :class:`AiohttpIsTransport` are the real ones (pooled
aiohttp connections, the peer pool pinned to registered certificates by
:class:`sild.gateway.exchange.pinning.PinnedConnector`); :mod:`sild.testing.exchange_memory`
has in-memory ones that connect two pipelines without sockets.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import structlog
from yarl import URL

from sild.core.frame import CONTENT_TYPE as FRAME_TYPE
from sild.core.globalconf import GatewayEntry
from sild.errors import InvalidRequest, PeerUnreachable, SslAuthenticationFailed, TransportError
from sild.gateway.exchange.http import HOP_BY_HOP, read_limited
from sild.gateway.exchange.lean_http import HttpPool, split_url
from sild.gateway.exchange.pinning import PeerMismatch
from sild.gateway.exchange.record import IsReply

__all__ = ["MESSAGE_PATH", "AiohttpIsTransport", "AiohttpPeerTransport", "IsTransport",
           "LeanIsTransport", "PeerReply", "PeerTransport"]

log = structlog.get_logger("sild.gateway.exchange")

MESSAGE_PATH = "/sild/v1/message"
# Statuses and methods whose responses have no body whatever Content-Length says
# (RFC 9110 §6.4.1: HEAD, 1xx, 204, 304).
_NO_BODY_STATUS = frozenset({204, 304})
# aiohttp adds these when a request lacks them; a gateway must not (PR-REST §4.3: the
# client's headers pass unchanged — an Accept-Encoding it never sent could make the IS
# compress an answer the client cannot read). Building them also cost ≈ 4 % of the
# provider's event loop (py-spy, bench_exchange.py).
_NO_AUTO_HEADERS = frozenset({"Accept", "Accept-Encoding", "User-Agent"})


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


class AiohttpPeerTransport:
    def __init__(self, session: aiohttp.ClientSession, timeout: float) -> None:
        self.session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._headers = {"Content-Type": FRAME_TYPE}

    async def send(self, provider: GatewayEntry, frame: bytes, *, limit: int) -> PeerReply:
        url = f"https://{provider.address}{MESSAGE_PATH}"
        try:
            async with self.session.post(url, data=frame, headers=self._headers,
                                         timeout=self._timeout,
                                         skip_auto_headers=_NO_AUTO_HEADERS) as resp:
                # The TLS peer was pinned to the registered certificate when the
                # connection was made (sild.gateway.exchange.pinning, ARCHITECTURE.md §3).
                payload = await read_limited(resp.content, limit, "provider response",
                                             resp.content_length)
                return PeerReply(resp.status, resp.headers.get("X-Road-Error"),
                                 resp.headers.get("Content-Type", ""), payload)
        except aiohttp.ClientConnectorError as e:
            raise PeerUnreachable(f"provider gateway {provider.address}: {e}") from e
        except PeerMismatch as e:
            raise SslAuthenticationFailed(f"{provider.id}: {e}") from e
        except (aiohttp.ClientSSLError, ssl.SSLError) as e:
            raise SslAuthenticationFailed(f"TLS with {provider.address} failed: {e}") from e
        except TimeoutError as e:
            raise TransportError(f"provider gateway {provider.address} timed out") from e
        except aiohttp.ClientError as e:
            raise TransportError(f"provider gateway {provider.address}: {e}") from e


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
        out = [(k, v) for k, v in reply.headers
               if k not in HOP_BY_HOP and not k.startswith(("x-road-", "sild-"))]
        if method == "HEAD":  # the length a GET would have had (RFC 9110 §9.3.2)
            out.extend((k, v) for k, v in reply.headers if k == "content-length")
        return IsReply(reply.status, tuple(out), reply.body)


class AiohttpIsTransport:
    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}  # one per service timeout

    async def call(self, *, method: str, url: str, headers: list[tuple[str, str]],
                   body: bytes, time_limit: float, verify_tls: bool, limit: int) -> IsReply:
        client_timeout = self._timeouts.get(time_limit)
        if client_timeout is None:
            client_timeout = self._timeouts[time_limit] = aiohttp.ClientTimeout(total=time_limit)
        ssl_arg: Any = None if verify_tls else False
        try:
            # encoded=True: the remaining path and query go out byte for byte as the
            # client sent them (PR-REST §4.5 "MUST be passed unmodified").
            async with self.session.request(
                method, URL(url, encoded=True), data=body or None, headers=headers,
                timeout=client_timeout, allow_redirects=False,  # 3xx go back, not followed
                ssl=ssl_arg, skip_auto_headers=_NO_AUTO_HEADERS,
            ) as resp:
                out = [(k.lower(), v) for k, v in resp.headers.items()
                       if k.lower() not in HOP_BY_HOP
                       and not k.lower().startswith(("x-road-", "sild-"))]
                if method == "HEAD" or resp.status < 200 or resp.status in _NO_BODY_STATUS:
                    # No body follows whatever Content-Length says; for HEAD it is the
                    # length a GET would have had, passed on (RFC 9110 §8.6).
                    if method == "HEAD" and resp.content_length is not None:
                        out.append(("content-length", str(resp.content_length)))
                    return IsReply(resp.status, tuple(out), b"")
                try:
                    payload = await read_limited(resp.content, limit, "provider IS response",
                                                 resp.content_length)
                except InvalidRequest as e:
                    raise TransportError(str(e)) from e
                return IsReply(resp.status, tuple(out), payload)
        except TimeoutError as e:
            raise TransportError(f"provider IS did not answer within {time_limit:g} s") from e
        except aiohttp.ClientError as e:
            raise TransportError(f"cannot reach provider IS: {e}") from e
