"""The SOAP-shaped getWsdl: request body, response with the WSDL as an attachment."""

from __future__ import annotations

import email
import email.policy

import pytest
from lxml import etree

from sild.errors import InvalidRequest
from sild.soap.wsdl import NS_XROAD, rewrite_endpoints
from sild.soap.wsdl_meta import (
    NS_ENV,
    getwsdl_request,
    getwsdl_response,
    parse_getwsdl,
    wsdl_from_response,
)
from sild.testing.wsdl import SAMPLE_WSDL

HEADER = (f'<SOAP-ENV:Header xmlns:SOAP-ENV="{NS_ENV}" xmlns:xroad="{NS_XROAD}">'
          "<xroad:id>4894e35d-bf0f-44a6-867a-8e51f1daa7e0</xroad:id>"
          "<xroad:protocolVersion>4.0</xroad:protocolVersion></SOAP-ENV:Header>").encode()


def test_request_round_trip() -> None:
    """parse_getwsdl reads back the service code and version getwsdl_request wrote."""
    assert parse_getwsdl(getwsdl_request(HEADER, "getPerson", "v1")) == ("getPerson", "v1")
    assert parse_getwsdl(getwsdl_request(HEADER, "listPersons")) == ("listPersons", None)


def test_response_carries_the_wsdl_as_the_second_part() -> None:
    """The WSDL comes back byte for byte from the multipart/related answer."""
    wsdl = rewrite_endpoints(SAMPLE_WSDL)
    ctype, body = getwsdl_response(getwsdl_request(HEADER, "getPerson", "v1"), wsdl)
    assert ctype.startswith("multipart/related")
    assert wsdl_from_response(ctype, body) == wsdl


def test_response_is_readable_by_the_standard_mime_parser() -> None:
    """Python's email package (an independent MIME parser) finds SOAP part then WSDL."""
    ctype, body = getwsdl_response(getwsdl_request(HEADER, "getPerson"), SAMPLE_WSDL)
    msg = email.message_from_bytes(f"Content-Type: {ctype}\r\n\r\n".encode() + body,
                                   policy=email.policy.HTTP)
    soap, wsdl = (p.get_payload(decode=True) for p in msg.iter_parts())
    assert isinstance(soap, bytes)
    env = etree.fromstring(soap)
    assert env.find(f"{{{NS_ENV}}}Header/{{{NS_XROAD}}}id") is not None  # header echoed
    answer = env.find(f"{{{NS_ENV}}}Body/{{{NS_XROAD}}}getWsdlResponse")
    assert answer is not None
    assert answer.findtext(f"{{{NS_XROAD}}}serviceCode") == "getPerson"
    assert wsdl == SAMPLE_WSDL


@pytest.mark.parametrize(("envelope", "message"), [
    (b"<x/>", "not a SOAP 1.1 envelope"),
    (f'<e:Envelope xmlns:e="{NS_ENV}"><e:Body/></e:Envelope>'.encode(), "body missing"),
    (f'<e:Envelope xmlns:e="{NS_ENV}"><e:Body><listMethods/></e:Body></e:Envelope>'.encode(),
     "expected xroad:getWsdl"),
    (f'<e:Envelope xmlns:e="{NS_ENV}"><e:Body><x:getWsdl xmlns:x="{NS_XROAD}"/></e:Body>'
     "</e:Envelope>".encode(), "needs a serviceCode"),
    (b'<!DOCTYPE e [<!ENTITY a "b">]><e/>', "DOCTYPE"),
])
def test_bad_requests_are_refused(envelope: bytes, message: str) -> None:
    """Not SOAP, no body, another body element, no service code, a DTD: refused."""
    with pytest.raises(InvalidRequest, match=message):
        parse_getwsdl(envelope)


def test_response_without_attachment_is_refused() -> None:
    """A multipart answer with only the SOAP part has no WSDL."""
    body = b'--b\r\nContent-Type: text/xml\r\n\r\n<x/>\r\n--b--\r\n'
    with pytest.raises(InvalidRequest, match="no attachment"):
        wsdl_from_response('multipart/related; boundary="b"', body)


def test_plain_xml_response_is_refused() -> None:
    """A text/xml answer (e.g. a fault) is not a getWsdl response."""
    with pytest.raises(InvalidRequest, match="not multipart/related"):
        wsdl_from_response("text/xml", b"<x/>")
