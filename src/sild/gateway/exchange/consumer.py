"""The consumer gateway's pipeline: the IS-facing REST endpoint (docs/spec/exchange.md §3).

``{METHOD} /r1/{INSTANCE}/{CLASS}/{MEMBER}/{SUBSYSTEM}/{SERVICE}/{path}?{query}`` with
``X-Road-Client`` (X-Road PR-REST §4). Steps (1)–(3) and (6) of ARCHITECTURE.md §4::

    (1) ParseRequest → (1) CheckClient → (2) SignRequest → (3) SendToProvider
        → (6) VerifyResponse → log → answer

Each stage is one class; :func:`consumer_pipeline` lists them.
"""

from __future__ import annotations

import uuid

import orjson
import structlog

from sild.core.access import normalise_request_path
from sild.core.exchange import build_request, open_response, verify_response
from sild.core.headertext import (
    MAX_ISSUE,
    MAX_MESSAGE_ID,
    MAX_REPRESENTED_PARTY,
    MAX_USER_ID,
    check_header,
    check_path,
)
from sild.core.identifiers import ServiceId, parse_client
from sild.crypto.certs import fingerprint_der
from sild.errors import (
    ConfigurationError,
    InvalidMessage,
    InvalidRequest,
    MissingHeader,
    PeerUnreachable,
    RelayedError,
    SildError,
    SslAuthenticationFailed,
    TransportError,
    UnknownClient,
    normalise_code,
)
from sild.gateway.context import GatewayContext
from sild.gateway.exchange.http import check_content_coding, forwardable
from sild.gateway.exchange.pipeline import ContextStage, Pipeline
from sild.gateway.exchange.record import Answer, ConsumerExchange
from sild.gateway.exchange.transports import PeerTransport
from sild.gateway.messagelog.log import LogRecord
from sild.gateway.messagelog.opmon import OpMonRecord
from sild.web.errors import answer_for

__all__ = ["COMPONENT", "FRAME_OVERHEAD", "SOAP_KEPT", "CheckClient", "ConsumerSide",
           "SendToProvider", "SignRequest", "VerifyResponse", "consumer_pipeline",
           "parse_target"]

log = structlog.get_logger("sild.gateway.consumer")

COMPONENT = "ClientProxy"
# What a frame adds to a body at most: magic, lengths, a 64 KiB header, signature and
# certificate (sild.core.frame).
FRAME_OVERHEAD = 5 + 4 + 64 * 1024 + 2 * (2 + 0xFFFF)
# The HTTP headers a SOAP request keeps (PR-MESS §2.3), lower case as signed.
SOAP_KEPT = frozenset({"content-type", "soapaction"})
# An X-Road error body from a provider gateway is small; more is not an error body.
MAX_ERROR_BODY = 64 * 1024


def parse_target(raw_path: str) -> tuple[ServiceId, str, str]:
    """Service id, remaining path and query from a raw (still encoded) ``/r1/`` target;
    the query keeps its "?" only when it is there but empty (``/a?``)."""
    path, mark, query = raw_path.partition("?")
    segments = path.split("/")
    if len(segments) < 7 or segments[1] != "r1":
        raise InvalidRequest(
            "REST path must be /r1/INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE[/path]")
    service = ServiceId.parse("/".join(segments[2:7]))
    rest = "/" + "/".join(segments[7:]) if len(segments) > 7 else ""
    return service, rest, query or mark


class ParseRequest(ContextStage):
    """(1) The target, the client and X-Road's identifying headers, validated once."""

    async def __call__(self, ex: ConsumerExchange) -> None:
        incoming = ex.incoming
        headers = incoming.headers
        ex.accept = headers.get("Accept", "")
        ex.method = incoming.method
        service, rest, query = parse_target(incoming.raw_path)
        ex.service = service
        # The remaining path and query travel byte for byte (PR-REST §4.5); a path that
        # access rights could not read (bad escapes, control characters, spaces, "..")
        # is the client's error, refused here rather than forwarded (spec §1.1).
        ex.path = rest  # monitored (escaped) even when refused below
        check_path(rest)
        check_path(query, what="query", utf8=False)
        if normalise_request_path(rest) is None:
            raise InvalidRequest("the remaining path is malformed (percent-encoding, "
                                 "spaces or '..')")
        ex.path, ex.query = rest, query.removeprefix("?")
        ex.empty_query = query == "?"
        values = headers.getall("X-Road-Client", [])
        if not values:
            raise MissingHeader("X-Road-Client header is missing")
        ex.client = parse_client(values[-1].strip())  # PR-REST: the last one wins
        # Kept as sent for the monitoring record (which stores refused values escaped),
        # then checked: nothing a caller sends reaches a log row unchecked (spec §1.1).
        ex.user_id = headers.get("X-Road-UserId", "")
        ex.issue = headers.get("X-Road-Issue", "")
        ex.represented_party = headers.get("X-Road-Represented-Party", "")
        message_id = headers.get("X-Road-Id", "")  # recorded only once accepted
        for name, value, limit in (("X-Road-UserId", ex.user_id, MAX_USER_ID),
                                   ("X-Road-Issue", ex.issue, MAX_ISSUE),
                                   ("X-Road-Represented-Party", ex.represented_party,
                                    MAX_REPRESENTED_PARTY),
                                   ("X-Road-Id", message_id, MAX_MESSAGE_ID)):
            check_header(name, value, limit=limit)
        ex.message_id = message_id or f"{service.member.instance}-{uuid.uuid4()}"
        ex.request_id = str(uuid.uuid4())


class CheckClient(ContextStage):
    """(1) Open for traffic, a valid configuration, an IS allowed to act for the client."""

    async def __call__(self, ex: ConsumerExchange) -> None:
        ctx = self.ctx
        client, service = ex.client, ex.service
        assert client is not None
        assert service is not None
        ctx.check_open()
        if ctx.is_clients is not None:  # HTTPS IS port: the caller's certificate
            der = ex.incoming.tls_certificate()
            if der is None:
                raise SslAuthenticationFailed(
                    f"Client ({client}) specifies HTTPS but did not supply TLS certificate")
            if fingerprint_der(der) not in ctx.is_clients.get(client, frozenset()):
                raise SslAuthenticationFailed(
                    f"the information system's certificate is not registered for {client}")
        view = ex.view = ctx.trust()
        own = ctx.own_entry(view)
        # The owner member is a client of its own gateway without registration (X-Road).
        if client not in view.hosted_by(own):
            raise UnknownClient(f"Client '{client}' is not registered on this gateway")
        ex.providers = view.conf.gateways_for(service.subsystem)
        if not ex.providers:
            raise UnknownClient(f"no gateway hosts service provider '{service.subsystem}'")


class SignRequest(ContextStage):
    """(2) Read the body and sign the envelope with the client member's sign key."""

    async def __call__(self, ex: ConsumerExchange) -> None:
        ctx = self.ctx
        client, service = ex.client, ex.service
        assert client is not None
        assert service is not None
        signer = ctx.keys.for_member(client.member)
        if signer is None:
            raise ConfigurationError(f"this gateway holds no sign key for {client.member}")
        headers = ex.incoming.headers
        if ex.body is None:
            ex.body = await ex.incoming.read_body(ctx.limits.max_body)
        body = ex.body
        ex.request_size = len(body)
        if ex.protocol == "soap":
            # Only Content-Type and SOAPAction are kept (PR-MESS §2.3), plus the tracker
            # headers, from HTTP or the SOAP header extension (docs/spec/soap.md §5).
            signed = tuple((k, v) for k, v in forwardable(headers.items())
                           if k in SOAP_KEPT or k.startswith("sild-")) + ex.extra_headers
        else:
            # A compressed body travels untouched with its Content-Encoding; it must decode.
            check_content_coding(headers.get("Content-Encoding", ""), body,
                                 ctx.limits.max_body)
            signed = forwardable(headers.items())
        request = ex.request = build_request(
            client=client, service=service, consumer=ctx.server, message_id=ex.message_id,
            request_id=ex.request_id, at=ex.request_in, method=ex.method, path=ex.path,
            query=ex.query, headers=signed, body=body, signer=signer,
            user_id=ex.user_id, issue=ex.issue, represented_party=ex.represented_party,
            empty_query=ex.empty_query, protocol=ex.protocol)
        # Logged together with the response, or with the failure (ARCHITECTURE.md §4).
        ex.pending.append(LogRecord(
            logged_at=ex.request_in, side="consumer", kind="request",
            message_id=ex.message_id, request_id=ex.request_id, client_id=str(client),
            service_id=str(service), envelope=request.encoded, signature=request.signature,
            signer_cert_fingerprint=signer.fingerprint, body=body,
            body_digest=request.header.body_digest))


class SendToProvider:
    """(3) POST the frame to the first provider gateway that takes the connection."""

    def __init__(self, ctx: GatewayContext, transport: PeerTransport) -> None:
        self.ctx = ctx
        self.transport = transport

    async def __call__(self, ex: ConsumerExchange) -> None:
        request = ex.request
        assert request is not None
        frame = request.frame()
        limit = self.ctx.limits.max_body + FRAME_OVERHEAD
        ex.request_out = self.ctx.clock()
        last: SildError | None = None
        for provider in ex.providers:
            try:
                reply = await self.transport.send(provider, frame, limit=limit)
            except PeerUnreachable as e:
                # Nothing was sent: safe to try the next gateway hosting the provider.
                last = e
                log.warning("provider_gateway_unreachable", address=provider.address,
                            error=e.message)
                continue
            ex.provider = provider
            ex.response_in = self.ctx.clock()
            if reply.error_code is not None:
                raise _relayed(reply.status, reply.error_code, reply.body)
            if reply.status != 200:
                raise InvalidMessage(f"provider gateway answered HTTP {reply.status} "
                                     "without a signed response")
            ex.signed_response = open_response(reply.body)
            return
        raise TransportError(f"no provider gateway reachable: {last}")


def _relayed(status: int, code: str, body: bytes) -> RelayedError:
    """The provider gateway's X-Road error, to answer in the form our IS asks for."""
    message, detail = "", ""
    if len(body) <= MAX_ERROR_BODY:
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError:
            obj = None
        if isinstance(obj, dict):
            m, d = obj.get("message"), obj.get("detail")
            message = m if isinstance(m, str) else ""
            detail = d if isinstance(d, str) else ""
    return RelayedError(normalise_code(code), message or "error at the provider gateway",
                        status=status if 400 <= status <= 599 else 500, detail=detail)


class VerifyResponse(ContextStage):
    """(6) The provider member signed this answer to our request, over this body."""

    async def __call__(self, ex: ConsumerExchange) -> None:
        assert ex.signed_response is not None
        assert ex.request is not None
        assert ex.provider is not None
        assert ex.view is not None
        ex.response = verify_response(ex.signed_response, request=ex.request,
                                      provider=ex.provider.id, trust=ex.view,
                                      at=ex.response_in or self.ctx.clock())
        ex.status = ex.response.header.status
        ex.response_size = len(ex.response.body)


class ConsumerSide:
    """Answers and logs for the consumer pipeline's outcomes."""

    def __init__(self, ctx: GatewayContext) -> None:
        self.ctx = ctx

    def _monitoring(self, ex: ConsumerExchange, fault_code: str = "",
                    fault_string: str = "") -> OpMonRecord:
        return ex.monitoring(this_server=str(self.ctx.server),
                             other_server=ex.provider.address if ex.provider else None,
                             response_out=self.ctx.clock(), fault_code=fault_code,
                             fault_string=fault_string)

    async def finish(self, ex: ConsumerExchange) -> Answer:
        response, client, service = ex.response, ex.client, ex.service
        assert response is not None
        assert client is not None
        assert service is not None
        header = response.header
        assert ex.response_in is not None
        # Both records and the monitoring record in one group commit; the answer is
        # released only once they are durable (ARCHITECTURE.md §4 durability rule).
        await self.ctx.log.append(
            *ex.pending,
            LogRecord(logged_at=ex.response_in, side="consumer", kind="response",
                      message_id=ex.message_id, request_id=ex.request_id,
                      client_id=str(client), service_id=str(service),
                      envelope=response.signed.encoded, signature=response.signed.signature,
                      signer_cert_fingerprint=fingerprint_der(response.signed.certificate),
                      body=response.body, body_digest=header.body_digest,
                      status=header.status),
            self._monitoring(ex))
        ex.pending.clear()
        return Answer(header.status, (*header.headers,
                                      ("X-Road-Client", str(client)),
                                      ("X-Road-Service", str(service)),
                                      ("X-Road-Id", ex.message_id),
                                      ("X-Road-Request-Id", ex.request_id),
                                      ("X-Road-Request-Hash", header.request_hash)),
                      response.body)

    async def refuse(self, ex: ConsumerExchange, error: SildError) -> Answer:
        answer = answer_for(error, component=COMPONENT, accept=ex.accept)
        log.info("exchange_failed", code=answer.code, message=error.message,
                 request_id=ex.request_id, detail=answer.detail)
        ex.status = answer.status
        try:
            await self.ctx.log.append(*ex.pending, self._monitoring(
                ex, answer.code, error.message))
        except SildError as e:  # monitoring must never change the answer itself
            log.warning("opmon_failed", error=e.message)
        return Answer(answer.status, answer.headers(), answer.body)


def consumer_pipeline(ctx: GatewayContext, transport: PeerTransport
                      ) -> Pipeline[ConsumerExchange, Answer]:
    """The consumer side's stages, in order (docs/spec/exchange.md §3, §7)."""
    side = ConsumerSide(ctx)
    return Pipeline([
        ParseRequest(ctx),                # (1)
        CheckClient(ctx),                 # (1)
        SignRequest(ctx),                 # (2)
        SendToProvider(ctx, transport),   # (3)
        VerifyResponse(ctx),              # (6)
    ], finish=side.finish, refuse=side.refuse)

