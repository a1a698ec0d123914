"""The provider gateway's SOAP steps (docs/spec/soap.md §3–4; PR-MESS v4.0 §2.3, PR-META).

(5) The provider IS gets the SOAP message as the client's IS sent it — a POST to the
service's URL with only ``Content-Type`` and ``SOAPAction`` (PR-MESS §2.3) — and its
answer is checked against the request (``{serviceCode}Response``, the same ``id``;
X-Road ``InconsistentResponse``) before ``xrd:requestHash`` is added to its Header.
``listMethods``, ``allowedMethods`` and ``getWsdl`` (the WSDL as an attachment,
sild.soap.wsdl_meta) are answered by the gateway itself (PR-META §4, §5).
"""

from __future__ import annotations

from typing import Any

import structlog

from sild.core.identifiers import ServiceId
from sild.errors import (
    InvalidRequest,
    SoapError,
    SoapInconsistentHeaders,
    SoapInconsistentResponse,
    UnknownService,
)
from sild.gateway.context import GatewayContext
from sild.gateway.exchange.http import HOP_BY_HOP
from sild.gateway.exchange.record import IsReply, ProviderExchange
from sild.gateway.exchange.transports import IsTransport
from sild.soap.fault import SOAP_TYPE, service_list_response
from sild.soap.message import (
    SoapRequest,
    add_request_hash,
    check_response,
    echo_header,
    parse_request,
    soap_request_hash,
)
from sild.soap.mime import split_body
from sild.soap.wsdl_meta import getwsdl_response, parse_getwsdl

__all__ = ["SOAP_METASERVICES", "call_soap_service"]

log = structlog.get_logger("sild.gateway.soap")

SOAP_METASERVICES = frozenset({"listMethods", "allowedMethods", "getWsdl"})
_KEPT = frozenset({"content-type", "soapaction"})


def _services(data: dict[str, Any], base: ServiceId) -> list[ServiceId]:
    out = []
    for item in data.get("service", []):
        code = item.get("service_code") if isinstance(item, dict) else None
        if isinstance(code, str) and code not in SOAP_METASERVICES:
            out.append(ServiceId(base.subsystem, code))
    return out


def _soap_part(headers: tuple[tuple[str, str], ...] | list[tuple[str, str]], body: bytes
               ) -> tuple[str, int, bytes]:
    ctype = next((v for k, v in headers if k.lower() == "content-type"), "")
    parts = split_body(ctype, body)
    return ctype, parts.offset, parts.soap


async def call_soap_service(ctx: GatewayContext, transport: IsTransport,
                            ex: ProviderExchange) -> IsReply:
    """(5) The IS's (or a metaservice's) answer, with requestHash in its Header."""
    request, view = ex.request, ex.view
    assert request is not None
    assert view is not None
    h = request.header
    try:
        _, _, request_soap = _soap_part(h.headers, request.body)
        parsed = parse_request(request_soap)
    except SoapError as e:  # the consumer gateway checked it: a peer's fault
        raise SoapError(f"signed SOAP request is not valid: {e.message}") from None
    if parsed.client != h.client or parsed.service != h.service:
        raise SoapInconsistentHeaders("SOAP header does not match the signed envelope")
    request_hash = soap_request_hash(request_soap)
    code = h.service.service_code
    if ex.metaservice and code == "getWsdl":  # the WSDL as an attachment (wsdl.md §5)
        try:
            wanted, version = parse_getwsdl(request_soap)
        except InvalidRequest as e:
            raise SoapInconsistentHeaders(e.message) from None
        ctype, body = getwsdl_response(request_soap, ctx.access.wsdl(
            h.service.subsystem, wanted, version))
        reply = IsReply(200, (("content-type", ctype),), body)
    elif ex.metaservice:
        data = (ctx.access.list_methods(h.service.subsystem) if code == "listMethods"
                else ctx.access.allowed_methods(h.service.subsystem, h.client, view.conf))
        body = service_list_response(echo_header(request_soap), code,
                                     _services(data, h.service))
        reply = IsReply(200, (("content-type", SOAP_TYPE),), body)
    else:
        target = ex.target
        assert target is not None
        registered = getattr(target, "service_version", None)
        if parsed.service_version and registered and parsed.service_version != registered:
            raise UnknownService(f"Unknown service: SERVICE:{h.service}/"
                                 f"{parsed.service_version}", service=str(h.service))
        headers = [(k, v) for k, v in h.headers if k in _KEPT and k not in HOP_BY_HOP]
        if not target.verify_tls:
            log.warning("is_tls_unverified", service=str(h.service), url=target.url)
        reply = await transport.call(method="POST", url=target.url, headers=headers,
                                     body=request.body, time_limit=target.timeout,
                                     verify_tls=target.verify_tls,
                                     limit=ctx.limits.max_body)
    return _with_hash(reply, parsed, request_hash)


def _with_hash(reply: IsReply, request: SoapRequest, request_hash: str) -> IsReply:
    try:
        ctype, offset, part = _soap_part(reply.headers, reply.body)
        root = check_response(part, service_code=request.service_code,
                              message_id=request.message_id)
        body = reply.body if root is None else add_request_hash(
            reply.body, offset, len(part), request_hash, root)
    except SoapError as e:
        raise SoapInconsistentResponse(f"the service answered invalid SOAP: {e.message}"
                                       ) from None
    # Only Content-Type is kept from the response (PR-MESS §2.3), and the data tracker's
    # Sild-Data-Subject, which the provider gateway reads (docs/spec/tracker.md §1).
    kept = [(k, v) for k, v in reply.headers if k.lower() == "sild-data-subject"]
    return IsReply(reply.status, (("content-type", ctype), *kept), body)
