"""SOAP faults and gateway-made SOAP answers, as X-Road sends them (research/xroad.md §0.2,
§2.3; X-Road ``SoapFault.java``, ``HandlerBase.sendErrorResponse``).

A fault goes back with **HTTP 200**, ``Content-Type: text/xml; charset=UTF-8`` and an
empty ``SOAPAction``; ``faultcode`` is the X-Road code, ``faultstring`` the message and
``detail/faultDetail`` the error id that the gateway's log repeats.
"""

from __future__ import annotations

from collections.abc import Iterable
from xml.sax.saxutils import escape

from sild.core.identifiers import ServiceId
from sild.errors import SildError
from sild.web.errors import answer_for

__all__ = ["FAULT_HEADERS", "SOAP_TYPE", "fault_body", "fault_for", "service_list_response"]

SOAP_TYPE = "text/xml; charset=UTF-8"
FAULT_HEADERS = (("Content-Type", SOAP_TYPE), ("SOAPAction", '""'))


def fault_body(code: str, message: str, detail: str) -> bytes:
    """The fault envelope, byte for byte X-Road's shape."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">'
        "<SOAP-ENV:Body><SOAP-ENV:Fault>"
        f"<faultcode>{escape(code)}</faultcode><faultstring>{escape(message)}</faultstring>"
        f'<faultactor></faultactor><detail><faultDetail xmlns="">{escape(detail)}'
        "</faultDetail></detail></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>"
    ).encode()


def fault_for(error: SildError, *, component: str) -> tuple[str, str, bytes]:
    """(code, error id, fault body) of ``error`` at a gateway ``component``."""
    a = answer_for(error, component=component)
    return a.code, a.detail, fault_body(a.code, a.message, a.detail)


def _id_xml(tag: str, service: ServiceId) -> str:
    s = service.subsystem
    m = s.member
    return (f'<xrd:{tag} id:objectType="SERVICE">'
            f"<id:xRoadInstance>{escape(m.instance)}</id:xRoadInstance>"
            f"<id:memberClass>{escape(m.member_class)}</id:memberClass>"
            f"<id:memberCode>{escape(m.member_code)}</id:memberCode>"
            f"<id:subsystemCode>{escape(s.subsystem_code)}</id:subsystemCode>"
            f"<id:serviceCode>{escape(service.service_code)}</id:serviceCode>"
            f"</xrd:{tag}>")


def service_list_response(header_xml: bytes, name: str, services: Iterable[ServiceId]
                          ) -> bytes:
    """``{name}Response`` (PR-META §4: listMethods / allowedMethods) echoing the
    request's Header as sent (PR-MESS §2.3: "the service must echo all header fields")."""
    items = "".join(_id_xml("service", s) for s in services)
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" '
        b'xmlns:xrd="http://x-road.eu/xsd/xroad.xsd" '
        b'xmlns:id="http://x-road.eu/xsd/identifiers">'
    ) + header_xml + (
        f"<SOAP-ENV:Body><xrd:{name}Response>{items}</xrd:{name}Response>"
        "</SOAP-ENV:Body></SOAP-ENV:Envelope>"
    ).encode()
