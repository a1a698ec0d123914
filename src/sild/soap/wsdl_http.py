"""``GET /wsdl?xRoadInstance=…&…&serviceCode=…&version=…`` on the IS port (docs/spec/wsdl.md §6).

Legacy X-Road clients (pyxroad, research/xroad.md §7.2) load a service's WSDL from
their own gateway. As X-Road's ``WsdlRequestProcessor`` did (removed in 6.24), the
consumer gateway calls the provider's ``getWsdl`` metaservice through the ordinary
exchange — signed, logged, monitored — as its owner member with user id
``wsdl-request``, and answers with the WSDL, its endpoints already rewritten to
``http://example.org/xroad-endpoint`` by the provider gateway. Errors are X-Road SOAP
faults (HTTP 200, ``text/xml``) with the ``Client.*`` / ``Server.*`` code.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from urllib.parse import quote
from xml.sax.saxutils import escape

import orjson
from aiohttp import web
from multidict import CIMultiDict

from sild.core.identifiers import ClientId, MemberId, ServiceId, SubsystemId
from sild.errors import InvalidRequest, SildError, xroad_code_at
from sild.gateway.exchange.record import Answer, ConsumerExchange, Incoming

__all__ = ["USER_ID", "fault_xml", "wsdl_handler"]

# X-Road WsdlRequestProcessor.USER_ID: how these calls show in the message log.
USER_ID = "wsdl-request"
_PARAMS = ("xRoadInstance", "memberClass", "memberCode", "subsystemCode", "serviceCode")


def fault_xml(code: str, message: str, detail: str) -> bytes:
    """An X-Road SOAP 1.1 fault (research/xroad.md §2.3, ``SoapFault.java``)."""
    return ('<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">'
            "<SOAP-ENV:Body><SOAP-ENV:Fault>"
            f"<faultcode>{escape(code)}</faultcode><faultstring>{escape(message)}</faultstring>"
            f'<faultactor></faultactor><detail><faultDetail xmlns="">{escape(detail)}'
            "</faultDetail></detail></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>"
            ).encode()


def _fault(code: str, message: str, detail: str | None = None) -> web.Response:
    # X-Road answers faults with HTTP 200 (PR-MESS; research/xroad.md §2.3).
    return web.Response(status=200, body=fault_xml(code, message, detail or str(uuid.uuid4())),
                        content_type="text/xml", charset="utf-8")


def _target(query: dict[str, list[str]]) -> tuple[ServiceId, str, str | None]:
    """(1) The getWsdl metaservice of the named subsystem, the code and the version."""
    values: dict[str, str] = {}
    for name in (*_PARAMS, "version"):
        given = query.get(name, [])
        if len(given) > 1:
            raise InvalidRequest(f"parameter {name} is given more than once")
        if given and given[0].strip():
            values[name] = given[0].strip()
    missing = [n for n in _PARAMS if n not in values]
    if missing:
        raise InvalidRequest(f"missing parameter(s): {', '.join(missing)}")
    member = MemberId(values["xRoadInstance"], values["memberClass"], values["memberCode"])
    sub = SubsystemId(member, values["subsystemCode"])
    ServiceId(sub, values["serviceCode"])  # the code must be a valid service code
    return ServiceId(sub, "getWsdl"), values["serviceCode"], values.get("version")


def wsdl_handler(run: Callable[[ConsumerExchange], Awaitable[Answer]],
                 clock: Callable[[], datetime], owner: Callable[[], ClientId],
                 ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The IS port's ``GET /wsdl`` handler over the consumer pipeline ``run``."""

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            meta, code, version = _target({k: request.query.getall(k)
                                           for k in request.query})
        except SildError as e:
            return _fault(xroad_code_at(e, "ClientProxy"), e.message)
        # (2) getWsdl through the exchange, as the gateway's owner member
        query = f"serviceCode={quote(code, safe='')}"
        if version is not None:
            query += f"&version={quote(version, safe='')}"
        headers: CIMultiDict[str] = CIMultiDict({
            "X-Road-Client": str(owner()), "X-Road-UserId": USER_ID,
            "Accept": "application/json"})

        async def no_body(limit: int) -> bytes:
            return b""

        def certificate() -> bytes | None:  # the legacy client's, on an HTTPS IS port
            transport = request.transport
            ssl_obj = transport.get_extra_info("ssl_object") if transport else None
            der = ssl_obj.getpeercert(binary_form=True) if ssl_obj is not None else None
            return der or None

        incoming = Incoming("GET", f"/r1/{meta.path()}?{query}", headers, no_body, certificate)
        answer = await run(ConsumerExchange(request_in=clock(), incoming=incoming))
        # (3) the WSDL as the provider gateway served it, or its error as a SOAP fault
        if answer.status == 200:
            return web.Response(status=200, body=answer.body, content_type="text/xml",
                                charset="utf-8")
        return _relay_fault(answer)

    return handle


def _relay_fault(answer: Answer) -> web.Response:
    """A REST error answer (``X-Road-Error`` + JSON) as the same SOAP fault."""
    code = next((v for k, v in answer.headers if k.lower() == "x-road-error"),
                "Server.ClientProxy.InvalidResponse")
    message, detail = f"HTTP {answer.status}", None
    try:
        body = orjson.loads(answer.body)
        if isinstance(body, dict):
            message = str(body.get("message") or message)
            detail = str(body["detail"]) if body.get("detail") else None
    except orjson.JSONDecodeError:
        pass
    return _fault(code, message, detail)
