"""The provider gateway's pipeline: the inter-gateway endpoint (docs/spec/exchange.md §4).

``POST /sild/v1/message`` over mutual TLS. Steps (4) and (5) of ARCHITECTURE.md §4::

    (4a) PeerCertificate → (4b) VerifyEnvelope → (4c) AccessRights
        → (4d) DataSubjects → (4e) ConsentCheck (sild.gateway.exchange.tracker)
        → (5) CallInformationSystem → ResponseSubjects → SignResponse → RecordUsage
        → log → answer

Each stage is one class; :func:`provider_pipeline` lists them.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from sild.core.access import normalise_request_path
from sild.core.exchange import open_request, sign_response, verify_request
from sild.core.frame import CONTENT_TYPE as FRAME_TYPE
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
from sild.crypto.certs import fingerprint_der
from sild.errors import ConfigurationError, InvalidRequest, SildError, SslAuthenticationFailed
from sild.gateway.context import GatewayContext
from sild.gateway.exchange.consumer import FRAME_OVERHEAD
from sild.gateway.exchange.http import HOP_BY_HOP
from sild.gateway.exchange.metaservices import METASERVICES, answer_metaservice
from sild.gateway.exchange.pipeline import ContextStage, Pipeline, Stage
from sild.gateway.exchange.record import Answer, IsReply, ProviderExchange
from sild.gateway.exchange.soap_provider import SOAP_METASERVICES, call_soap_service
from sild.gateway.exchange.tracker import (
    ConsentCheck,
    DataSubjects,
    RecordUsage,
    ResponseSubjects,
)
from sild.gateway.exchange.transports import IsTransport
from sild.gateway.messagelog.log import LogRecord
from sild.gateway.messagelog.opmon import OpMonRecord
from sild.gateway.messagelog.usage import UsageRecord
from sild.web.errors import answer_for

__all__ = ["COMPONENT", "provider_pipeline", "provider_stages"]

log = structlog.get_logger("sild.gateway.provider")

COMPONENT = "ServerProxy"


class PeerCertificate:
    """(4a) The TLS peer is a registered gateway: approved CA, valid, unrevoked."""

    def __init__(self, ctx: GatewayContext) -> None:
        self.ctx = ctx
        # Peers already checked under this configuration version, by certificate
        # fingerprint (bounded by the registered gateways); cleared on a new version.
        self._peers: dict[str, GatewayEntry] = {}
        self._version = -1

    async def __call__(self, ex: ProviderExchange) -> None:
        self.ctx.check_open()
        view = ex.view = self.ctx.trust()
        der = ex.incoming.tls_certificate()
        if der is None:
            raise SslAuthenticationFailed("no client certificate")
        if view.version != self._version:
            self._peers.clear()
            self._version = view.version
        fp = fingerprint_der(der)
        peer = self._peers.get(fp)
        if peer is None:
            peer = view.check_gateway_certificate(der, at=ex.request_in)
            self._peers[fp] = peer
        ex.peer = peer


class VerifyEnvelope(ContextStage):
    """(4b) The signed envelope: signer, signature, sender, freshness, digest, replay."""

    async def __call__(self, ex: ProviderExchange) -> None:
        ctx = self.ctx
        assert ex.view is not None
        assert ex.peer is not None
        frame = await ex.incoming.read_body(ctx.limits.max_body + FRAME_OVERHEAD)
        signed = open_request(frame)
        h = signed.header
        # What monitoring needs is known now, even if verification refuses it below.
        ex.client, ex.service, ex.message_id, ex.request_id = (
            h.client, h.service, h.message_id, h.request_id)
        ex.user_id, ex.issue, ex.method, ex.path = h.user_id, h.issue, h.method, h.path
        ex.represented_party = h.represented_party
        ex.request_size = len(signed.body)
        ex.accept = next((v for k, v in h.headers if k == "accept"), "")
        # Nothing a peer sends reaches a log row unchecked (docs/spec/exchange.md §1.1).
        for name, value, limit in (
                ("X-Road-Id", h.message_id, MAX_MESSAGE_ID),
                ("X-Road-Request-Id", h.request_id, MAX_REQUEST_ID),
                ("X-Road-UserId", h.user_id, MAX_USER_ID), ("X-Road-Issue", h.issue, MAX_ISSUE),
                ("X-Road-Represented-Party", h.represented_party, MAX_REPRESENTED_PARTY)):
            check_header(name, value, limit=limit)
        check_path(h.path)
        check_path(h.query, what="query", utf8=False)
        own = ctx.own_entry(ex.view)
        request = ex.request = verify_request(
            signed, peer=ex.peer, hosted=ex.view.hosted_by(own), trust=ex.view,
            replay=ctx.replay, at=ex.request_in, freshness=ctx.limits.freshness,
            max_body=ctx.limits.max_body)
        if ctx.shared_replay is not None:  # (2e) across the gateway's nodes, before the IS
            await ctx.shared_replay.claim(h.request_id, expires_at=h.time.timestamp()
                                          + ctx.limits.freshness)
        ex.pending.append(LogRecord(
            logged_at=ex.request_in, side="provider", kind="request",
            message_id=h.message_id, request_id=h.request_id, client_id=str(h.client),
            service_id=str(h.service), envelope=signed.encoded, signature=signed.signature,
            signer_cert_fingerprint=request.signer_fingerprint, body=signed.body,
            body_digest=h.body_digest))


class AccessRights(ContextStage):
    """(4c) The client may call this method and path of the service (docs/spec/access.md)."""

    async def __call__(self, ex: ProviderExchange) -> None:
        assert ex.request is not None
        assert ex.view is not None
        h = ex.request.header
        if h.protocol == "soap":  # docs/spec/soap.md §3: access per service code
            if h.service.service_code in SOAP_METASERVICES:
                ex.metaservice = True
                return
            ex.target = self.ctx.access.check_access(h.service, h.client, "POST", "",
                                                     ex.view.conf)
            return
        if h.service.service_code in METASERVICES:
            # Answered by the gateway without an ACL check (X-Road
            # RestMetadataServiceHandlerImpl.shouldVerifyAccess() = false).
            ex.metaservice = True
            return
        if normalise_request_path(h.path) is None:
            raise InvalidRequest("the remaining path is malformed (percent-encoding, "
                                 "control characters, spaces or '..')")
        ex.target = self.ctx.access.check_access(h.service, h.client, h.method, h.path,
                                                 ex.view.conf)


class CallInformationSystem:
    """(5) Call the provider IS with the request as the client sent it (PR-REST §4.5)."""

    def __init__(self, ctx: GatewayContext, transport: IsTransport) -> None:
        self.ctx = ctx
        self.transport = transport

    async def __call__(self, ex: ProviderExchange) -> None:
        request, view = ex.request, ex.view
        assert request is not None
        assert view is not None
        h = request.header
        ex.request_out = self.ctx.clock()
        if h.protocol == "soap":
            ex.reply = await call_soap_service(self.ctx, self.transport, ex)
        elif ex.metaservice:
            status, ctype, body = answer_metaservice(self.ctx.access, h.service, h.client,
                                                     h.query, view.conf)
            ex.reply = IsReply(status, (("content-type", ctype),), body)
        else:
            target = ex.target
            assert target is not None
            url = target.url.rstrip("/") + h.path + (
                f"?{h.query}" if h.query or h.empty_query else "")
            headers = [(k, v) for k, v in h.headers if k not in HOP_BY_HOP]
            headers += [("X-Road-Client", str(h.client)), ("X-Road-Id", h.message_id),
                        ("X-Road-Request-Id", h.request_id),
                        ("X-Road-Service", str(h.service))]
            if h.user_id:
                headers.append(("X-Road-UserId", h.user_id))
            if h.issue:
                headers.append(("X-Road-Issue", h.issue))
            if h.represented_party:
                headers.append(("X-Road-Represented-Party", h.represented_party))
            if not target.verify_tls:
                log.warning("is_tls_unverified", service=str(h.service), url=target.url)
            ex.reply = await self.transport.call(
                method=h.method, url=url, headers=headers, body=request.body,
                time_limit=target.timeout, verify_tls=target.verify_tls,
                limit=self.ctx.limits.max_body)
        ex.response_in = self.ctx.clock()
        ex.status = ex.reply.status
        ex.response_size = len(ex.reply.body)


class SignResponse(ContextStage):
    """(5) Sign the response with the provider member's key, bound to the request."""

    async def __call__(self, ex: ProviderExchange) -> None:
        request, reply = ex.request, ex.reply
        assert request is not None
        assert reply is not None
        assert ex.response_in is not None
        signer = self.ctx.keys.for_member(request.header.service.member)
        if signer is None:
            raise ConfigurationError(
                f"this gateway holds no sign key for {request.header.service.member}")
        ex.response = sign_response(request, provider=self.ctx.server, status=reply.status,
                                    headers=reply.headers, body=reply.body,
                                    at=ex.response_in, signer=signer)


class ProviderSide:
    """Answers and logs for the provider pipeline's outcomes."""

    def __init__(self, ctx: GatewayContext) -> None:
        self.ctx = ctx

    def _monitoring(self, ex: ProviderExchange, fault_code: str = "",
                    fault_string: str = "") -> OpMonRecord:
        return ex.monitoring(this_server=str(self.ctx.server),
                             other_server=str(ex.peer.id) if ex.peer else None,
                             response_out=self.ctx.clock(), fault_code=fault_code,
                             fault_string=fault_string)

    async def finish(self, ex: ProviderExchange) -> Answer:
        response = ex.response
        assert response is not None
        assert ex.response_in is not None
        h = response.header
        # Request, response and monitoring record in one group commit; the response
        # leaves only once they are durable (ARCHITECTURE.md §4 durability rule).
        await self.ctx.log.append(
            *ex.pending,
            LogRecord(logged_at=ex.response_in, side="provider", kind="response",
                      message_id=ex.message_id, request_id=ex.request_id,
                      client_id=str(ex.client), service_id=str(ex.service),
                      envelope=response.encoded, signature=response.signature,
                      signer_cert_fingerprint=fingerprint_der(response.certificate),
                      body=response.body, body_digest=h.body_digest, status=h.status),
            self._monitoring(ex))
        ex.pending.clear()
        return Answer(200, (("Content-Type", FRAME_TYPE),), response.frame())

    async def refuse(self, ex: ProviderExchange, error: SildError) -> Answer:
        # Always JSON between gateways: the consumer gateway answers its IS in the
        # form that IS asked for (PR-REST §4.6).
        answer = answer_for(error, component=COMPONENT)
        log.info("exchange_failed", code=answer.code, message=error.message,
                 request_id=ex.request_id, detail=answer.detail)
        ex.status = answer.status
        try:
            # Usage records only for released data (docs/spec/tracker.md §2).
            kept = [r for r in ex.pending if not isinstance(r, UsageRecord)]
            await self.ctx.log.append(*kept, self._monitoring(ex, answer.code, error.message))
        except SildError as e:  # monitoring must never change the answer itself
            log.warning("opmon_failed", error=e.message)
        return Answer(answer.status, answer.headers(), answer.body)


def provider_stages(ctx: GatewayContext, transport: IsTransport
                    ) -> list[Stage[ProviderExchange]]:
    """The provider side's stages, in order (docs/spec/exchange.md §4, §7)."""
    return [
        PeerCertificate(ctx),                   # (4a)
        VerifyEnvelope(ctx),                    # (4b)
        AccessRights(ctx),                      # (4c)
        DataSubjects(ctx),                      # (4d) docs/spec/tracker.md §1
        ConsentCheck(ctx),                      # (4e) §6
        CallInformationSystem(ctx, transport),  # (5)
        ResponseSubjects(ctx),                  # (5) §1
        SignResponse(ctx),                      # (5)
        RecordUsage(ctx),                       # (5) §2: committed with the log records
    ]


def provider_pipeline(ctx: GatewayContext, transport: IsTransport,
                      stages: Sequence[Stage[ProviderExchange]] | None = None,
                      ) -> Pipeline[ProviderExchange, Answer]:
    side = ProviderSide(ctx)
    return Pipeline(stages if stages is not None else provider_stages(ctx, transport),
                    finish=side.finish, refuse=side.refuse)
