"""The consumer gateway's SOAP front end: X-Road message protocol 4.0 on the IS port
(docs/spec/soap.md §2–4; PR-MESS v4.0). The same pipeline as REST with a SOAP first
stage and SOAP answers::

    (1) ParseSoapRequest → (1) CheckClient → (1) AdmitSoapClient → (1) TargetServer
        → (2) SignRequest → (3) SendToProvider
        → (6) VerifyResponse → (6) CheckSoapResponse → log → answer (or a SOAP fault)

Every refusal is a SOAP fault with HTTP 200 (research/xroad.md §0.2).
"""

from __future__ import annotations

import uuid

import structlog

from sild.core.headertext import (
    MAX_ISSUE,
    MAX_MESSAGE_ID,
    MAX_REPRESENTED_PARTY,
    MAX_USER_ID,
    check_header,
)
from sild.core.usage import PURPOSE_HEADER, SUBJECT_HEADER
from sild.errors import (
    InvalidRequest,
    SildError,
    SoapError,
    SoapInconsistentResponse,
    SoapInvalidHttpMethod,
    SoapMissingHeaderField,
)
from sild.gateway.context import GatewayContext
from sild.gateway.exchange.consumer import (
    COMPONENT,
    CheckClient,
    ConsumerSide,
    SendToProvider,
    SignRequest,
    VerifyResponse,
)
from sild.gateway.exchange.pipeline import ContextStage, Pipeline
from sild.gateway.exchange.record import Answer, ConsumerExchange
from sild.gateway.exchange.transports import PeerTransport
from sild.soap.fault import FAULT_HEADERS, fault_for
from sild.soap.message import parse_request, response_request_hash, soap_request_hash
from sild.soap.mime import split_body

__all__ = ["soap_consumer_pipeline"]

log = structlog.get_logger("sild.gateway.soap")


class ParseSoapRequest(ContextStage):
    """(1) A POST whose body is an X-Road 4.0 SOAP request (docs/spec/soap.md §2)."""

    async def __call__(self, ex: ConsumerExchange) -> None:
        incoming = ex.incoming
        ex.protocol = "soap"
        if incoming.method != "POST":
            raise SoapInvalidHttpMethod(f"Must use POST request method instead of "
                                        f"{incoming.method}")
        ex.method = ""
        ctype = incoming.headers.get("Content-Type", "")
        try:
            body = await incoming.read_body(self.ctx.limits.max_body)
        except InvalidRequest as e:  # too large: answered as a fault like the rest
            raise SoapError(e.message) from None
        parts = split_body(ctype, body)  # (2a) the SOAP part, multipart checked
        soap = ex.soap = parse_request(parts.soap)  # (2b)–(2e)
        ex.body = body
        ex.soap_hash = soap_request_hash(parts.soap)
        ex.client, ex.service = soap.client, soap.service
        ex.user_id, ex.issue, ex.represented_party = (soap.user_id, soap.issue,
                                                      soap.represented_party)
        for name, value, limit in (("userId", soap.user_id, MAX_USER_ID),
                                   ("issue", soap.issue, MAX_ISSUE),
                                   ("representedParty", soap.represented_party,
                                    MAX_REPRESENTED_PARTY),
                                   ("id", soap.message_id, MAX_MESSAGE_ID)):
            check_header(name, value, limit=limit)
        if not soap.message_id:
            raise SoapMissingHeaderField("Required field 'id' is empty")
        ex.message_id = soap.message_id
        ex.request_id = str(uuid.uuid4())
        # (2f) the Sild header extension, signed as the tracker's headers (§5)
        extra: list[tuple[str, str]] = [(SUBJECT_HEADER.lower(), s)
                                         for s in soap.data_subjects]
        if soap.purpose:
            extra.append((PURPOSE_HEADER.lower(), soap.purpose))
        ex.extra_headers = tuple(extra)


class AdmitSoapClient(ContextStage):
    """(1) Admission by the client the X-Road header names, now that it is read and
    checked (docs/spec/soap.md §2, docs/spec/exchange.md §8): the request's ticket,
    taken on its head under the shared key, is traded for one of this client's, whose
    concurrency and rate limits then hold as for a REST client. A refusal is a fault."""

    async def __call__(self, ex: ConsumerExchange) -> None:
        trade = self.ctx.admit_client
        if trade is not None and ex.ticket is not None and ex.client is not None:
            ex.ticket = trade(ex.ticket, str(ex.client))


class TargetServer(ContextStage):
    """(1) ``xrd:securityServer``: only that provider gateway may answer (PR-MESS Annex H)."""

    async def __call__(self, ex: ConsumerExchange) -> None:
        assert ex.soap is not None
        wanted = ex.soap.security_server
        if wanted:
            ex.providers = tuple(g for g in ex.providers if str(g.id) == wanted)
            if not ex.providers:
                raise SoapError(f"security server {wanted} does not host the service "
                                "provider")


class CheckSoapResponse(ContextStage):
    """(6) The provider gateway's requestHash is X-Road's hash of our SOAP part."""

    async def __call__(self, ex: ConsumerExchange) -> None:
        response = ex.response
        assert response is not None
        ctype = next((v for k, v in response.header.headers if k == "content-type"), "")
        try:  # the signed answer; a byte search, no second XML parse
            got = response_request_hash(split_body(ctype, response.body).soap)
        except SoapError as e:
            raise SoapInconsistentResponse(f"the service answered invalid SOAP: {e.message}"
                                           ) from None
        if got is not None and got != ex.soap_hash:
            raise SoapInconsistentResponse("requestHash in the response does not match "
                                           "the request")


class SoapConsumerSide(ConsumerSide):
    """SOAP answers: the IS's response with its Content-Type, or a fault with HTTP 200."""

    async def finish(self, ex: ConsumerExchange) -> Answer:
        answer = await super().finish(ex)
        ctype = next((v for k, v in answer.headers if k.lower() == "content-type"),
                     "text/xml; charset=UTF-8")
        return Answer(answer.status, (("Content-Type", ctype),), answer.body)

    async def refuse(self, ex: ConsumerExchange, error: SildError) -> Answer:
        code, detail, body = fault_for(error, component=COMPONENT)
        log.info("exchange_failed", code=code, message=error.message,
                 request_id=ex.request_id, detail=detail, protocol="soap")
        ex.status = 200
        try:
            await self.ctx.log.append(*ex.pending, self._monitoring(ex, code, error.message))
        except SildError as e:  # monitoring must never change the answer itself
            log.warning("opmon_failed", error=e.message)
        return Answer(200, FAULT_HEADERS, body)


def soap_consumer_pipeline(ctx: GatewayContext, transport: PeerTransport
                           ) -> Pipeline[ConsumerExchange, Answer]:
    """The consumer side's SOAP stages, in order (docs/spec/soap.md §2–4)."""
    side = SoapConsumerSide(ctx)
    return Pipeline([
        ParseSoapRequest(ctx),            # (1)
        CheckClient(ctx),                 # (1)
        AdmitSoapClient(ctx),             # (1)
        TargetServer(ctx),                # (1)
        SignRequest(ctx),                 # (2)
        SendToProvider(ctx, transport),   # (3)
        VerifyResponse(ctx),              # (6)
        CheckSoapResponse(ctx),           # (6)
    ], finish=side.finish, refuse=side.refuse)
