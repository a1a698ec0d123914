"""The provider gateway: the inter-gateway endpoint (docs/spec/exchange.md §4).

``POST /sild/v1/message`` over mutual TLS. Steps (4) and (5) of ARCHITECTURE.md §4:
verify the TLS peer, the envelope signature, freshness and replay window, access
rights; log; call the provider IS; sign the response bound to the request hash; log;
answer only when both log records are durable.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
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
    MAX_REQUEST_ID,
    MAX_USER_ID,
    check_header,
    check_path,
)
from sild.crypto.keys import verify
from sild.crypto.tls import peer_fingerprint
from sild.errors import (
    ConfigurationError,
    InternalError,
    InvalidMessage,
    InvalidRequest,
    SignatureError,
    SildError,
    SslAuthenticationFailed,
    TransportError,
    UnknownClient,
    xroad_code_at,
)
from sild.gateway.consumer import FRAME_OVERHEAD
from sild.gateway.context import GatewayContext, epoch_ms
from sild.gateway.http import HOP_BY_HOP, read_body, read_limited, sild_error_response
from sild.gateway.messagelog import LogRecord
from sild.gateway.metaservices import METASERVICES, answer_metaservice
from sild.gateway.opmon import OpMonRecord
from sild.gateway.trust import TrustView

__all__ = ["ProviderGateway"]

log = structlog.get_logger("sild.gateway.provider")

COMPONENT = "ServerProxy"


def _caller_texts(h: RequestHeader) -> tuple[tuple[str, str, int], ...]:
    """The caller-supplied texts of an envelope, as the headers they came from (§1.1)."""
    return (("X-Road-Id", h.message_id, MAX_MESSAGE_ID),
            ("X-Road-Request-Id", h.request_id, MAX_REQUEST_ID),
            ("X-Road-UserId", h.user_id, MAX_USER_ID), ("X-Road-Issue", h.issue, MAX_ISSUE),
            ("X-Road-Represented-Party", h.represented_party, MAX_REPRESENTED_PARTY))


class ProviderGateway:
    def __init__(self, ctx: GatewayContext, is_session: aiohttp.ClientSession) -> None:
        self.ctx = ctx
        self.is_session = is_session
        # peer certificates already checked against this configuration version, by
        # fingerprint (bounded by the number of registered gateways); cleared when the
        # configuration changes (revocations, re-registrations)
        self._peers: dict[str, GatewayEntry] = {}
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}  # one per service timeout
        self._peers_version = -1

    # -- (4a) the TLS peer ------------------------------------------------------

    def _peer(self, request: web.Request, view: TrustView) -> GatewayEntry:
        transport = request.transport
        ssl_obj = transport.get_extra_info("ssl_object") if transport is not None else None
        fp = peer_fingerprint(ssl_obj)
        if view.version != self._peers_version:
            self._peers.clear()
            self._peers_version = view.version
        if fp is not None and fp in self._peers:
            return self._peers[fp]
        if ssl_obj is None or fp is None:
            raise SslAuthenticationFailed("no client certificate")
        peer = view.check_gateway_certificate(ssl_obj.getpeercert(binary_form=True),
                                              at=self.ctx.clock())
        self._peers[fp] = peer
        return peer

    async def handle(self, request: web.Request) -> web.StreamResponse:
        request_in = self.ctx.clock()
        state: dict[str, Any] = {"client": None, "service": None, "message_id": "",
                                 "request_id": "", "user_id": "", "issue": "", "size": 0,
                                 "method": "", "path": "", "peer": ""}
        try:
            return await self._exchange(request, request_in, state)
        except SildError as e:
            code = xroad_code_at(e, COMPONENT)
            log.info("exchange_failed", code=code, message=e.message,
                     request_id=state["request_id"])
            try:
                await self.ctx.log.append(*state.pop("pending", ()), self._opmon(
                    state, request_in, None, None, 500 if code.startswith("Server.") else 400,
                    code, e.message, 0))
            except SildError as le:
                log.warning("opmon_failed", error=str(le))
            return sild_error_response(e, COMPONENT)
        except Exception as e:  # a bug: answer in protocol, keep the traceback in the log
            log.exception("exchange_crashed", request_id=state["request_id"])
            return sild_error_response(InternalError(f"internal error ({type(e).__name__})"),
                                       COMPONENT)

    async def _exchange(self, request: web.Request, request_in: datetime,
                        state: dict[str, Any]) -> web.StreamResponse:
        ctx = self.ctx
        ctx.check_open()
        view = ctx.trust()
        peer = self._peer(request, view)
        state["peer"] = str(peer.id)
        # (4b) the signed envelope
        frame = parse_frame(await read_body(request, ctx.limits.max_body + FRAME_OVERHEAD))
        encoded, signature, cert_der, body = (frame.header, frame.signature, frame.certificate,
                                              frame.body)
        header = RequestHeader.parse(encoded)
        state.update(client=header.client, service=header.service,
                     message_id=header.message_id, request_id=header.request_id,
                     user_id=header.user_id, issue=header.issue, method=header.method,
                     path=header.path)
        # Nothing a peer sends reaches a log row unchecked (docs/spec/exchange.md §1.1).
        for name, value, limit in _caller_texts(header):
            check_header(name, value, limit=limit)
        check_path(header.path)
        check_path(header.query, what="query", utf8=False)
        signer = view.check_signer(cert_der, member=header.client.member, at=request_in)
        try:
            verify(public_key=signer.public_key, signature=signature,
                   data=RequestHeader.signed_bytes(encoded))
        except SignatureError as e:
            raise SignatureError("request signature does not verify") from e
        if header.consumer != peer.id:
            raise InvalidMessage(f"envelope names {header.consumer} but the TLS peer is {peer.id}")
        if header.client not in peer.clients:
            raise InvalidMessage(f"{header.client} is not hosted by the sending gateway")
        own = ctx.own_entry(view)
        if header.service.subsystem not in own.clients:
            raise UnknownClient(f"'{header.service.subsystem}' is not hosted on this gateway")
        skew = timedelta(seconds=ctx.limits.freshness)
        if not request_in - skew <= header.time <= request_in + skew:
            raise InvalidMessage("request is outside the freshness window (clock skew or replay)")
        if len(body) > ctx.limits.max_body:
            raise InvalidRequest(f"request body exceeds the limit of {ctx.limits.max_body}")
        state["size"] = len(body)
        if header.body_length != len(body) or header.body_digest != body_digest(body):
            raise SignatureError("request body does not match its signed digest (tampered)")
        ctx.replay.check_and_add(header.request_id, sent_at=header.time.timestamp())
        provider_signer = ctx.keys.for_member(header.service.member)
        if provider_signer is None:
            raise ConfigurationError(f"this gateway holds no sign key for {header.service.member}")
        state["pending"] = [LogRecord(
            logged_at=request_in, side="provider", kind="request",
            message_id=header.message_id, request_id=header.request_id,
            client_id=str(header.client), service_id=str(header.service), envelope=encoded,
            signature=signature, signer_cert_fingerprint=hashlib.sha256(cert_der).hexdigest(),
            body=body, body_digest=header.body_digest)]
        # (4c) access rights, or a metaservice; (5) call the provider IS
        request_out = ctx.clock()
        if header.service.service_code in METASERVICES:
            status, ctype, resp_body = answer_metaservice(
                ctx.access, header.service, header.client, header.query, view.conf)
            resp_headers: tuple[tuple[str, str], ...] = (("content-type", ctype),)
        else:
            target = ctx.access.check_access(header.service, header.client, header.method,
                                             header.path, view.conf)
            status, resp_headers, resp_body = await self._call_is(target, header, body)
        response_in = ctx.clock()
        resp = ResponseHeader(
            request_id=header.request_id, request_hash=request_hash(encoded, body),
            service=header.service, provider=ctx.server,
            time=response_in.replace(microsecond=0), status=status, headers=resp_headers,
            body_digest=body_digest(resp_body), body_length=len(resp_body))
        resp_enc = resp.encode()
        resp_sig = provider_signer.sign(ResponseHeader.signed_bytes(resp_enc))
        # One group commit for request, response and monitoring record; the response
        # leaves only once it is durable (ARCHITECTURE.md §4 durability rule).
        await ctx.log.append(
            *state.pop("pending"),
            LogRecord(logged_at=response_in, side="provider", kind="response",
                      message_id=header.message_id, request_id=header.request_id,
                      client_id=str(header.client), service_id=str(header.service),
                      envelope=resp_enc, signature=resp_sig,
                      signer_cert_fingerprint=provider_signer.fingerprint, body=resp_body,
                      body_digest=resp.body_digest, status=status),
            self._opmon(state, request_in, request_out, response_in, status, "", "",
                        len(resp_body)))
        return web.Response(status=200, body=encode_frame(
            resp_enc, resp_sig, provider_signer.certificate_der, resp_body),
            content_type=FRAME_TYPE)

    async def _call_is(self, target: Any, header: RequestHeader,
                       body: bytes) -> tuple[int, tuple[tuple[str, str], ...], bytes]:
        url = target.url.rstrip("/") + header.path + (f"?{header.query}" if header.query else "")
        headers = [(k, v) for k, v in header.headers if k not in HOP_BY_HOP]
        headers += [("X-Road-Client", str(header.client)), ("X-Road-Id", header.message_id),
                    ("X-Road-Request-Id", header.request_id),
                    ("X-Road-Service", str(header.service))]
        if header.user_id:
            headers.append(("X-Road-UserId", header.user_id))
        if header.issue:
            headers.append(("X-Road-Issue", header.issue))
        if header.represented_party:
            headers.append(("X-Road-Represented-Party", header.represented_party))
        timeout = self._timeouts.get(target.timeout)
        if timeout is None:
            timeout = self._timeouts[target.timeout] = aiohttp.ClientTimeout(
                total=target.timeout)
        ssl_arg: Any = None if target.verify_tls else False
        if not target.verify_tls:
            log.warning("is_tls_unverified", service=str(header.service), url=target.url)
        try:
            async with self.is_session.request(
                header.method, url, data=body or None, headers=headers, timeout=timeout,
                allow_redirects=False, ssl=ssl_arg,  # redirects go back, not followed
            ) as resp:
                try:
                    payload = await read_limited(resp.content, self.ctx.limits.max_body,
                                                 "provider IS response", resp.content_length)
                except InvalidRequest as e:
                    raise TransportError(str(e)) from e
                out = tuple((k.lower(), v) for k, v in resp.headers.items()
                            if k.lower() not in HOP_BY_HOP
                            and not k.lower().startswith(("x-road-", "sild-")))
                return resp.status, out, payload
        except TimeoutError as e:
            raise TransportError(
                f"provider IS did not answer within {target.timeout:g} s ({target.url})") from e
        except aiohttp.ClientError as e:
            raise TransportError(f"cannot reach provider IS at {target.url}: {e}") from e

    def _opmon(self, state: dict[str, Any], request_in: datetime, request_out: datetime | None,
               response_in: datetime | None, status: int, fault_code: str, fault_string: str,
               response_size: int) -> OpMonRecord:
        # escaped: a refused request's raw values are not stored as sent (§1.1)
        return OpMonRecord.escaped(
            security_server_type="Producer", request_in_ts=epoch_ms(request_in),
            request_out_ts=epoch_ms(request_out) if request_out else None,
            response_in_ts=epoch_ms(response_in) if response_in else None,
            response_out_ts=epoch_ms(self.ctx.clock()), client=state["client"],
            service=state["service"], rest_method=state["method"] or None,
            rest_path=state["path"] or None, message_id=state["message_id"] or None,
            x_request_id=state["request_id"] or None, message_user_id=state["user_id"] or None,
            message_issue=state["issue"] or None,
            client_security_server_address=state["peer"] or None,
            service_security_server_address=str(self.ctx.server),
            request_size=state["size"], response_size=response_size,
            succeeded=not fault_code and status < 400, status_code=status,
            fault_code=fault_code or None, fault_string=fault_string or None)
