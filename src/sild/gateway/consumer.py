"""The consumer gateway: the IS-facing REST endpoint (docs/spec/exchange.md §3).

``{METHOD} /r1/{INSTANCE}/{CLASS}/{MEMBER}/{SUBSYSTEM}/{SERVICE}/{path}?{query}`` with
``X-Road-Client`` (X-Road PR-REST §4). Steps (1)–(3) and (6) of ARCHITECTURE.md §4.
"""

from __future__ import annotations

import hashlib
import ssl
import uuid
from datetime import datetime
from typing import Any

import aiohttp
import structlog
from aiohttp import web

from sild.core.envelope import RequestHeader, ResponseHeader, body_digest, request_hash
from sild.core.frame import CONTENT_TYPE as FRAME_TYPE
from sild.core.frame import encode_frame, parse_frame
from sild.core.globalconf import GatewayEntry
from sild.core.headertext import (
    MAX_ISSUE,
    MAX_MESSAGE_ID,
    MAX_REPRESENTED_PARTY,
    MAX_USER_ID,
    check_header,
    check_path,
)
from sild.core.identifiers import ClientId, ServiceId, parse_client
from sild.crypto.keys import verify
from sild.crypto.tls import peer_fingerprint
from sild.errors import (
    ConfigurationError,
    InternalError,
    InvalidMessage,
    InvalidRequest,
    MissingHeader,
    SignatureError,
    SildError,
    SslAuthenticationFailed,
    TransportError,
    UnknownClient,
    normalise_code,
    xroad_code_at,
)
from sild.gateway.context import GatewayContext, epoch_ms
from sild.gateway.http import forwardable, read_body, read_limited, sild_error_response
from sild.gateway.messagelog import LogRecord
from sild.gateway.opmon import OpMonRecord
from sild.gateway.pinning import PeerMismatch
from sild.gateway.trust import TrustView

__all__ = ["MESSAGE_PATH", "ConsumerGateway"]

log = structlog.get_logger("sild.gateway.consumer")

MESSAGE_PATH = "/sild/v1/message"
# Caller-supplied headers checked in step (1), with the length their log columns take
# (docs/spec/exchange.md §1.1).
HEADER_LIMITS = (("X-Road-Id", MAX_MESSAGE_ID), ("X-Road-UserId", MAX_USER_ID),
                 ("X-Road-Issue", MAX_ISSUE),
                 ("X-Road-Represented-Party", MAX_REPRESENTED_PARTY))
# What a frame adds to a body at most: magic, lengths, a 64 KiB header, signature and
# certificate (sild.core.frame).
FRAME_OVERHEAD = 5 + 4 + 64 * 1024 + 2 * (2 + 0xFFFF)
COMPONENT = "ClientProxy"


class ConsumerGateway:
    def __init__(self, ctx: GatewayContext, peer_session: aiohttp.ClientSession) -> None:
        self.ctx = ctx
        self.peers = peer_session
        self._peer_timeout = aiohttp.ClientTimeout(total=ctx.limits.peer_timeout)

    # -- (1) parse and validate -------------------------------------------------

    @staticmethod
    def parse_target(raw_path: str) -> tuple[ServiceId, str, str]:
        """Service id, remaining path and query from a raw (still encoded) ``/r1/`` path."""
        path, _, query = raw_path.partition("?")
        segments = path.split("/")
        if len(segments) < 7 or segments[1] != "r1":
            raise InvalidRequest(
                "REST path must be /r1/INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE[/path]")
        service = ServiceId.parse("/".join(segments[2:7]))
        rest = "/" + "/".join(segments[7:]) if len(segments) > 7 else ""
        return service, rest, query

    @staticmethod
    def parse_client_header(request: web.Request) -> ClientId:
        values = request.headers.getall("X-Road-Client", [])
        if not values:
            raise MissingHeader("X-Road-Client header is missing")
        return parse_client(values[-1].strip())  # PR-REST: the last one wins

    def _check_is_certificate(self, request: web.Request, client: ClientId) -> None:
        """HTTPS IS port: the caller's certificate must be registered for the client."""
        transport = request.transport
        fp = peer_fingerprint(transport.get_extra_info("ssl_object") if transport else None)
        if fp is None:
            raise SslAuthenticationFailed(
                f"Client ({client}) specifies HTTPS but did not supply TLS certificate")
        assert self.ctx.is_clients is not None
        if fp not in self.ctx.is_clients.get(client, frozenset()):
            raise SslAuthenticationFailed(
                f"the information system's certificate is not registered for {client}")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        request_in = self.ctx.clock()
        accept = request.headers.get("Accept", "")
        state: dict[str, Any] = {"client": None, "service": None, "message_id": "",
                                 "request_id": "", "size": 0}
        try:
            response = await self._exchange(request, request_in, state)
        except SildError as e:
            code = xroad_code_at(e, COMPONENT)
            log.info("exchange_failed", code=code, message=e.message,
                     request_id=state["request_id"])
            response = sild_error_response(e, COMPONENT, accept=accept)
            await self._opmon(state, request, request_in, None, None, response, code, e.message)
        except Exception as e:  # a bug: answer in protocol, keep the traceback in the log
            log.exception("exchange_crashed", request_id=state["request_id"])
            response = sild_error_response(InternalError(f"internal error ({type(e).__name__})"),
                                           COMPONENT, accept=accept)
        return response

    async def _exchange(self, request: web.Request, request_in: datetime,
                        state: dict[str, Any]) -> web.StreamResponse:
        ctx = self.ctx
        # (1) parse, validate, check global configuration and the client
        service, rest, query = self.parse_target(request.raw_path)
        check_path(rest)  # §1.1: no %00 or other control character, UTF-8 only
        check_path(query, what="query", utf8=False)
        client = self.parse_client_header(request)
        state["client"], state["service"] = client, service
        ctx.check_open()
        if ctx.is_clients is not None:
            self._check_is_certificate(request, client)
        view = ctx.trust()
        own = ctx.own_entry(view)
        if client not in own.clients:
            raise UnknownClient(f"Client '{client}' is not registered on this gateway")
        signer = ctx.keys.for_member(client.member)
        if signer is None:
            raise ConfigurationError(f"this gateway holds no sign key for {client.member}")
        providers = view.conf.gateways_for(service.subsystem)
        if not providers:
            raise UnknownClient(f"no gateway hosts service provider '{service.subsystem}'")
        body = await read_body(request, ctx.limits.max_body)
        state["size"] = len(body)
        message_id = request.headers.get("X-Road-Id") or f"{service.member.instance}-{uuid.uuid4()}"
        # Nothing a caller sends reaches a log row unchecked (docs/spec/exchange.md §1.1).
        for name, limit in HEADER_LIMITS:
            check_header(name, request.headers.get(name, ""), limit=limit)
        request_id = str(uuid.uuid4())
        state["message_id"], state["request_id"] = message_id, request_id
        # (2) the signed envelope
        header = RequestHeader(
            protocol="rest", client=client, service=service, consumer=ctx.server,
            message_id=message_id, request_id=request_id, time=request_in.replace(microsecond=0),
            method=request.method, path=rest, query=query, headers=forwardable(request.headers),
            body_digest=body_digest(body), body_length=len(body),
            user_id=request.headers.get("X-Road-UserId", ""),
            issue=request.headers.get("X-Road-Issue", ""),
            represented_party=request.headers.get("X-Road-Represented-Party", ""),
        )
        encoded = header.encode()
        signature = signer.sign(RequestHeader.signed_bytes(encoded))
        expected_hash = request_hash(encoded, body)
        # The request's log record is written together with the response's, in one
        # group commit; if the exchange fails after this point it is written with the
        # failure's monitoring record (handle()). Either way no response is released
        # before its records are durable.
        state["pending"] = [LogRecord(
            logged_at=request_in, side="consumer", kind="request", message_id=message_id,
            request_id=request_id, client_id=str(client), service_id=str(service),
            envelope=encoded, signature=signature, signer_cert_fingerprint=signer.fingerprint,
            body=body, body_digest=header.body_digest)]
        # (3) route to a provider gateway over mutual TLS
        request_out = ctx.clock()
        resp_header, resp_enc, resp_sig, resp_cert, resp_body, provider = await self._send(
            view, providers, encoded, signature, signer.certificate_der, body)
        response_in = ctx.clock()
        # (6) verify the provider's signature and its binding to our request
        if isinstance(resp_header, web.Response):  # an X-Road error from the provider
            await self._opmon(state, request, request_in, request_out, response_in,
                              resp_header, resp_header.headers.get("X-Road-Error", ""),
                              "", provider)
            return resp_header
        self._verify_response(view, resp_header, resp_enc, resp_sig, resp_cert, resp_body,
                              service, provider, request_id, expected_hash)
        out = web.Response(status=resp_header.status, body=resp_body)
        for name, value in resp_header.headers:
            out.headers.add(name, value)
        out.headers.update({
            "X-Road-Client": str(client), "X-Road-Service": str(service),
            "X-Road-Id": message_id, "X-Road-Request-Id": request_id,
            "X-Road-Request-Hash": resp_header.request_hash,
        })
        records = state.pop("pending")
        await ctx.log.append(
            *records,
            LogRecord(logged_at=response_in, side="consumer", kind="response",
                      message_id=message_id, request_id=request_id, client_id=str(client),
                      service_id=str(service), envelope=resp_enc, signature=resp_sig,
                      signer_cert_fingerprint=hashlib.sha256(resp_cert).hexdigest(),
                      body=resp_body, body_digest=resp_header.body_digest,
                      status=resp_header.status),
            self._opmon_entry(state, request, request_in, request_out, response_in,
                              out.status, "", "", provider, len(resp_body)))
        return out

    async def _send(self, view: TrustView, providers: tuple[GatewayEntry, ...], encoded: bytes,
                    signature: bytes, cert_der: bytes, body: bytes) -> tuple[Any, ...]:
        """POST the envelope to the first provider gateway that accepts a connection."""
        frame = encode_frame(encoded, signature, cert_der, body)
        headers = {"Content-Type": FRAME_TYPE}
        timeout = self._peer_timeout
        last: Exception | None = None
        for provider in providers:
            url = f"https://{provider.address}{MESSAGE_PATH}"
            try:
                async with self.peers.post(url, data=frame, headers=headers,
                                           timeout=timeout) as resp:
                    # The TLS peer was pinned to the registered certificate when the
                    # connection was made (sild.gateway.pinning, ARCHITECTURE.md §3).
                    payload = await read_limited(resp.content, self.ctx.limits.max_body
                                                 + FRAME_OVERHEAD, "provider response",
                                                 resp.content_length)
                    if "X-Road-Error" in resp.headers:
                        passthrough = web.Response(
                            status=resp.status, body=payload,
                            content_type=resp.content_type or "application/json",
                            headers={"X-Road-Error": normalise_code(
                                resp.headers["X-Road-Error"])})
                        return passthrough, b"", b"", b"", b"", provider
                    if resp.status != 200:
                        raise InvalidMessage(f"provider gateway answered HTTP {resp.status} "
                                             "without a signed response")
                    f = parse_frame(payload)
                    return (ResponseHeader.parse(f.header), f.header, f.signature,
                            f.certificate, f.body, provider)
            except aiohttp.ClientConnectorError as e:
                # Nothing was sent: safe to try the next gateway hosting the provider.
                last = e
                log.warning("provider_gateway_unreachable", address=provider.address,
                            error=str(e))
                continue
            except PeerMismatch as e:
                raise SslAuthenticationFailed(f"{provider.id}: {e}") from e
            except (aiohttp.ClientSSLError, ssl.SSLError) as e:
                raise SslAuthenticationFailed(
                    f"TLS with {provider.address} failed: {e}") from e
            except TimeoutError as e:
                raise TransportError(f"provider gateway {provider.address} timed out") from e
            except aiohttp.ClientError as e:
                raise TransportError(f"provider gateway {provider.address}: {e}") from e
        raise TransportError(f"no provider gateway reachable: {last}")

    def _verify_response(self, view: TrustView, header: ResponseHeader, encoded: bytes,
                         signature: bytes, cert_der: bytes, body: bytes, service: ServiceId,
                         provider: GatewayEntry, request_id: str, expected_hash: str) -> None:
        at = self.ctx.clock()
        signer = view.check_signer(cert_der, member=service.member, at=at)
        try:
            verify(public_key=signer.public_key, signature=signature,
                   data=ResponseHeader.signed_bytes(encoded))
        except SignatureError as e:
            raise SignatureError("provider response signature does not verify") from e
        if header.request_id != request_id or header.request_hash != expected_hash:
            raise InvalidMessage("provider response is not bound to this request "
                                 "(X-Road-Request-Hash mismatch)")
        if header.service != service or header.provider != provider.id:
            raise InvalidMessage("provider response names another service or gateway")
        if header.body_length != len(body) or header.body_digest != body_digest(body):
            raise SignatureError("provider response body does not match its signed digest")

    def _opmon_entry(self, state: dict[str, Any], request: web.Request, request_in: datetime,
                     request_out: datetime | None, response_in: datetime | None, status: int,
                     fault_code: str, fault_string: str, provider: GatewayEntry | None = None,
                     response_size: int = 0) -> OpMonRecord:
        # escaped: a refused request's raw header values are not stored as sent (§1.1)
        return OpMonRecord.escaped(
            security_server_type="Client", request_in_ts=epoch_ms(request_in),
            request_out_ts=epoch_ms(request_out) if request_out else None,
            response_in_ts=epoch_ms(response_in) if response_in else None,
            response_out_ts=epoch_ms(self.ctx.clock()),
            client=state["client"], service=state["service"], rest_method=request.method,
            rest_path=request.path, message_id=state["message_id"] or None,
            x_request_id=state["request_id"] or None,
            message_user_id=request.headers.get("X-Road-UserId"),
            message_issue=request.headers.get("X-Road-Issue"),
            client_security_server_address=str(self.ctx.server),
            service_security_server_address=provider.address if provider else None,
            request_size=state["size"], response_size=response_size,
            succeeded=not fault_code and status < 400, status_code=status,
            fault_code=fault_code or None, fault_string=fault_string or None)

    async def _opmon(self, state: dict[str, Any], request: web.Request, request_in: datetime,
                     request_out: datetime | None, response_in: datetime | None,
                     response: web.StreamResponse, fault_code: str, fault_string: str,
                     provider: GatewayEntry | None = None) -> None:
        """Record a failed exchange; monitoring must never fail the answer itself."""
        try:
            await self.ctx.log.append(*state.pop("pending", ()), self._opmon_entry(
                state, request, request_in, request_out, response_in, response.status,
                fault_code, fault_string, provider))
        except SildError as e:
            log.warning("opmon_failed", error=str(e))
