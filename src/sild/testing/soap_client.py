"""X-Road SOAP requests for tests, built by hand (what a zeep or Java client sends)."""

from __future__ import annotations

from lxml import etree

from sild.core.identifiers import ClientId, ServiceId, SubsystemId
from sild.soap.message import ID, XRD

__all__ = ["header_elements", "soap_request"]

_NSMAP = {"xrd": XRD, "id": ID}


def _X(tag: str, text: str | None = None) -> etree._Element:
    el = etree.Element(f"{{{XRD}}}{tag}", nsmap=_NSMAP)
    el.text = text
    return el


def _ident(tag: str, kind: str, parts: list[tuple[str, str]]) -> etree._Element:
    el = _X(tag)
    el.set(f"{{{ID}}}objectType", kind)
    for k, v in parts:
        etree.SubElement(el, f"{{{ID}}}{k}").text = v
    return el


def header_elements(client: ClientId, service: ServiceId, *, message_id: str = "id-1",
                    version: str = "", protocol: str = "4.0", code: str | None = None
                    ) -> list[etree._Element]:
    """The X-Road header fields as lxml elements (zeep's ``_soapheaders`` takes these)."""
    m = client.member if isinstance(client, SubsystemId) else client
    c = [("xRoadInstance", m.instance), ("memberClass", m.member_class),
         ("memberCode", m.member_code)]
    if isinstance(client, SubsystemId):
        c.append(("subsystemCode", client.subsystem_code))
    s = service.subsystem
    sp = [("xRoadInstance", s.member.instance), ("memberClass", s.member.member_class),
          ("memberCode", s.member.member_code), ("subsystemCode", s.subsystem_code),
          ("serviceCode", code or service.service_code)]
    if version:
        sp.append(("serviceVersion", version))
    return [_ident("client", "SUBSYSTEM" if isinstance(client, SubsystemId) else "MEMBER", c),
            _ident("service", "SERVICE", sp), _X("id", message_id), _X("userId", "EE1"),
            _X("protocolVersion", protocol)]


def soap_request(client: ClientId, service: ServiceId, body: str, *,
                 header: str | None = None, **kw: str) -> bytes:
    """An X-Road SOAP envelope; ``header`` replaces the generated header's XML."""
    if header is None:
        header = "".join(etree.tostring(e).decode() for e in header_elements(
            client, service, **kw))
    return ('<?xml version="1.0" encoding="UTF-8"?>'
            '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
            f"<soapenv:Header>{header}</soapenv:Header>"
            f"<soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>").encode()
