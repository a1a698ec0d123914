"""The SOAP-shaped ``getWsdl`` metaservice (PR-META; docs/spec/wsdl.md §5 step 4).

X-Road's ``getWsdl`` is a normal X-Road SOAP call whose body is
``<xroad:getWsdl><xroad:serviceCode/>[<xroad:serviceVersion/>]</xroad:getWsdl>``; the
provider answers with the request's header echoed, a ``getWsdlResponse`` body with the
same children, and the WSDL as a SOAP-with-Attachments attachment
(``multipart/related``, SOAP part first; research/xroad.md §2.3, §4.2).

Pure functions for the SOAP front end: read the request body, build the response,
and take the WSDL back out of a response (what a consumer gateway's ``GET /wsdl``
does with it). Parsing uses :func:`sild.soap.wsdl.safe_xml` (no DTD, no network).
"""

from __future__ import annotations

import uuid
from copy import deepcopy
from email.parser import BytesParser
from email.policy import HTTP

from lxml import etree

from sild.errors import InvalidRequest
from sild.soap.wsdl import NS_XROAD, safe_xml

__all__ = ["NS_ENV", "getwsdl_request", "getwsdl_response", "parse_getwsdl", "wsdl_from_response"]

NS_ENV = "http://schemas.xmlsoap.org/soap/envelope/"


def _child_text(elem: etree._Element, name: str) -> str | None:
    for tag in (f"{{{NS_XROAD}}}{name}", name):
        found = elem.find(tag)
        if found is not None:
            return (found.text or "").strip()
    return None


def _body(envelope: etree._Element) -> etree._Element:
    if envelope.tag != f"{{{NS_ENV}}}Envelope":
        raise InvalidRequest("not a SOAP 1.1 envelope")
    body = envelope.find(f"{{{NS_ENV}}}Body")
    if body is None or len(body) == 0:
        raise InvalidRequest("SOAP body missing")
    return body


def parse_getwsdl(envelope: bytes) -> tuple[str, str | None]:
    """(serviceCode, serviceVersion) from a ``getWsdl`` request envelope."""
    root = safe_xml(envelope, what="getWsdl request")
    wrapper = _body(root)[0]
    if wrapper.tag != f"{{{NS_XROAD}}}getWsdl":
        raise InvalidRequest(f"body element is {wrapper.tag!r}, expected xroad:getWsdl")
    code = _child_text(wrapper, "serviceCode")
    if not code:
        raise InvalidRequest("getWsdl needs a serviceCode")
    return code, _child_text(wrapper, "serviceVersion") or None


def getwsdl_request(header: bytes, service_code: str, version: str | None = None) -> bytes:
    """A ``getWsdl`` request envelope with ``header`` (the serialised ``SOAP-ENV:Header``)."""
    env = etree.Element(f"{{{NS_ENV}}}Envelope", nsmap={"SOAP-ENV": NS_ENV, "xroad": NS_XROAD})
    env.append(safe_xml(header, what="SOAP header"))
    body = etree.SubElement(env, f"{{{NS_ENV}}}Body")
    wrapper = etree.SubElement(body, f"{{{NS_XROAD}}}getWsdl")
    etree.SubElement(wrapper, f"{{{NS_XROAD}}}serviceCode").text = service_code
    if version:
        etree.SubElement(wrapper, f"{{{NS_XROAD}}}serviceVersion").text = version
    out: bytes = etree.tostring(env, xml_declaration=True, encoding="UTF-8")
    return out


def getwsdl_response(request: bytes, wsdl: bytes, *,
                     boundary: str | None = None) -> tuple[str, bytes]:
    """(Content-Type, body) of the answer: the request's header echoed, body
    ``getWsdlResponse`` with the request's children, the WSDL as the attachment."""
    root = safe_xml(request, what="getWsdl request")
    parse_getwsdl(request)  # the request is a well-formed getWsdl
    env = etree.Element(f"{{{NS_ENV}}}Envelope", nsmap={"SOAP-ENV": NS_ENV, "xroad": NS_XROAD})
    header = root.find(f"{{{NS_ENV}}}Header")
    if header is not None:
        env.append(deepcopy(header))
    body = etree.SubElement(env, f"{{{NS_ENV}}}Body")
    answer = etree.SubElement(body, f"{{{NS_XROAD}}}getWsdlResponse")
    for child in _body(root)[0]:
        answer.append(deepcopy(child))
    soap: bytes = etree.tostring(env, xml_declaration=True, encoding="UTF-8")
    b = boundary or f"xroad{uuid.uuid4().hex}"
    parts = [
        f"--{b}\r\nContent-Type: text/xml; charset=UTF-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n".encode() + soap,
        f"--{b}\r\nContent-Type: text/xml\r\nContent-Transfer-Encoding: 8bit\r\n"
        "Content-ID: <wsdl>\r\n\r\n".encode() + wsdl,
    ]
    payload = b"\r\n".join(parts) + f"\r\n--{b}--\r\n".encode()
    return f'multipart/related; type="text/xml"; charset=UTF-8; boundary="{b}"', payload


def wsdl_from_response(content_type: str, body: bytes) -> bytes:
    """The WSDL attachment of a ``getWsdl`` response (the second MIME part)."""
    if not content_type.lower().startswith("multipart/related"):
        raise InvalidRequest(f"getWsdl response is {content_type!r}, not multipart/related")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    parts = list(message.iter_parts()) if message.is_multipart() else []
    if len(parts) < 2:
        raise InvalidRequest("getWsdl response has no attachment")
    payload = parts[1].get_payload(decode=True)
    if not isinstance(payload, bytes):
        raise InvalidRequest("getWsdl response attachment is empty")
    return payload
