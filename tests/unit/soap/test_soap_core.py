"""The pure SOAP core: safe parsing, the X-Road header, multipart framing, faults and the
requestHash insertion (docs/spec/soap.md §2–4)."""

from __future__ import annotations

import base64
import contextlib
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from sild.core.identifiers import ClientId, ServiceId, parse_client
from sild.errors import (
    InvalidIdentifier,
    SildError,
    SoapDuplicateHeaderField,
    SoapError,
    SoapInconsistentHeaders,
    SoapInconsistentResponse,
    SoapInvalidContentType,
    SoapInvalidProtocolVersion,
    SoapMimeParsingFailed,
    SoapMissingBody,
    SoapMissingHeaderField,
)
from sild.soap.fault import fault_body
from sild.soap.message import (
    REPR,
    SILD,
    XRD,
    add_request_hash,
    check_response,
    parse_request,
    response_request_hash,
    soap_request_hash,
)
from sild.soap.mime import MimeLimits, split_body
from sild.soap.safexml import XmlLimits, parse_xml
from sild.testing.soap_client import soap_request

CLIENT: ClientId = parse_client("EE/COM/10000001/his")
ECHO = ServiceId.parse("EE/GOV/70000001/rr/echo")
BODY = '<e:echo xmlns:e="urn:e"><text>x</text></e:echo>'
ENV = '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'


def test_parse_request_reads_every_field() -> None:
    """client, service, id, userId and the body's wrapper come out as sent."""
    r = parse_request(soap_request(CLIENT, ECHO, BODY, message_id="m-1"))
    assert (r.client, r.service, r.message_id, r.user_id) == (CLIENT, ECHO, "m-1", "EE1")
    assert r.body_tag == "{urn:e}echo"


def test_service_version_is_kept_apart_from_the_code() -> None:
    """serviceVersion v2 is read; the Sild service is the serviceCode (PR-MESS §3.1)."""
    r = parse_request(soap_request(CLIENT, ECHO, BODY, version="v2"))
    assert (r.service, r.service_code, r.service_version) == (ECHO, "echo", "v2")


def test_member_client_is_accepted() -> None:
    """A MEMBER client (3 parts) is a valid client."""
    member = parse_client("EE/COM/10000001")
    assert parse_request(soap_request(member, ECHO, BODY)).client == member


@pytest.mark.parametrize(("mutate", "error"), [
    (lambda h: h.replace(">4.0<", ">4.1<"),
     SoapInvalidProtocolVersion),
    (lambda h: h.replace("xrd:userId", "xrd:id"), SoapDuplicateHeaderField),
    (lambda h: h.replace("xrd:client", "xrd:cleint"), SoapMissingHeaderField),
    (lambda h: h.replace(">rr<", "><", 1).replace("<id:subsystemCode></id:subsystemCode>", ""),
     SoapMissingHeaderField),
    (lambda h: h.replace('objectType="SERVICE"', 'objectType="MEMBER"'), InvalidIdentifier),
    (lambda h: h.replace("<xrd:id ", f'<!-- a --><!-- b --><x:userId xmlns:x="{XRD}">x'
                         "</x:userId><xrd:id "), SoapDuplicateHeaderField),
    (lambda h: h.replace("<id:memberCode>10000001</id:memberCode>",
                         "<id:memberCode>10000001</id:memberCode>"
                         "<id:memberCode>10000002</id:memberCode>"), SoapDuplicateHeaderField),
    (lambda h: h.replace("<xrd:id ", f'<s:purpose xmlns:s="{SILD}">a</s:purpose>'
                         f'<s:purpose xmlns:s="{SILD}">b</s:purpose><xrd:id '),
     SoapDuplicateHeaderField),
    (lambda h: h.replace("<xrd:id ", f'<r:representedParty xmlns:r="{REPR}"><r:partyCode>1'
                         f'</r:partyCode></r:representedParty><r:representedParty xmlns:r='
                         f'"{REPR}"><r:partyCode>2</r:partyCode></r:representedParty>'
                         "<xrd:id "), SoapDuplicateHeaderField),
], ids=["version", "duplicate", "missing-client", "missing-subsystem", "object-type",
        "duplicate-after-comments", "duplicate-identifier-part", "duplicate-purpose",
        "duplicate-represented-party"])
def test_header_errors(mutate: object, error: type[Exception]) -> None:
    """Each broken header gives its own X-Road error (PR-MESS v4.0 §2.1–2.3 and Annex H;
    the codes of research/xroad.md §2.4: a field twice is DuplicateHeaderField)."""
    raw = soap_request(CLIENT, ECHO, BODY).decode()
    head, rest = raw.split("<soapenv:Body>")
    with pytest.raises(error):
        parse_request((mutate(head) + "<soapenv:Body>" + rest).encode())  # type: ignore[operator]


def test_repeats_that_x_road_allows_are_read() -> None:
    """Comments anywhere, two Sild dataSubjects and a foreign header element twice are
    accepted (SOAP 1.1 §4.2: any namespace-qualified header entries; PR-MESS v4.0 §2.1
    limits repeats to X-Road's own fields), and every field is read as in a plain header
    (the parser's one-pass walk and its exact fallback, sild.soap.message._by_tag, give
    the same request)."""
    doc = soap_request(CLIENT, ECHO, BODY, message_id="m-1").decode()
    plain = parse_request(doc.encode())
    one = f'<s:dataSubject xmlns:s="{SILD}">EE1</s:dataSubject><!-- one -->'
    repeats = (f'<s:dataSubject xmlns:s="{SILD}">EE2</s:dataSubject>'
               '<f:x xmlns:f="urn:f"/><f:x xmlns:f="urn:f"/><!-- two -->')
    for extra, subjects in ((one, ("EE1",)), (one + repeats, ("EE1", "EE2"))):
        got = parse_request(doc.replace("<xrd:id ", extra + "<xrd:id ", 1)
                            .replace("<id:memberCode>", "<!-- c --><!-- d --><id:memberCode>")
                            .encode())
        assert got.data_subjects == subjects
        assert (got.client, got.service, got.message_id, got.user_id, got.body_tag) == (
            plain.client, plain.service, plain.message_id, plain.user_id, plain.body_tag)


def test_a_second_body_is_refused() -> None:
    """Envelope children are checked exactly when a tag repeats: two Bodies are refused
    (SOAP 1.1 §4: an Envelope has one Body)."""
    doc = soap_request(CLIENT, ECHO, BODY).decode()
    with pytest.raises(SoapDuplicateHeaderField):
        parse_request(doc.replace("</soapenv:Body>", "</soapenv:Body><soapenv:Body>"
                                  + BODY + "</soapenv:Body>").encode())


@pytest.mark.parametrize(("raw", "sent"), [
    ("<id:memberCode>10000001</id:memberCode>", "<id:memberCode>1000%301</id:memberCode>"),
    ("<id:subsystemCode>his</id:subsystemCode>", "<id:subsystemCode>h/is</id:subsystemCode>"),
    ("<id:serviceCode>echo</id:serviceCode>", "<id:serviceCode>ec%68o</id:serviceCode>"),
], ids=["percent-in-member", "slash-in-subsystem", "percent-in-service"])
def test_identifier_values_are_literal_text(raw: str, sent: str) -> None:
    """SOAP identifier values are text, not REST path segments (PR-MESS Annex H;
    PR-REST §4.8's characters): "1000%301" is refused, never decoded into another
    member's code "10000001"."""
    doc = soap_request(CLIENT, ECHO, BODY).decode()
    assert raw in doc
    with pytest.raises(InvalidIdentifier):
        parse_request(doc.replace(raw, sent, 1).encode())


def test_body_must_match_service_code() -> None:
    """A wrapper other than serviceCode is InconsistentHeaders."""
    with pytest.raises(SoapInconsistentHeaders):
        parse_request(soap_request(CLIENT, ECHO, BODY.replace("echo", "other")))


def test_empty_body_is_missing_body() -> None:
    """A Body without an element is MissingBody."""
    with pytest.raises(SoapMissingBody):
        parse_request(soap_request(CLIENT, ECHO, "<!-- nothing -->"))


def test_soap_12_envelope_is_refused() -> None:
    """Only SOAP 1.1 envelopes are X-Road 4.0 messages."""
    with pytest.raises(SoapError, match=r"SOAP 1\.1"):
        parse_request(b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"/>')


@pytest.mark.parametrize("doc", [
    b'<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>',
    b'<!DOCTYPE a SYSTEM "http://127.0.0.1:9/x.dtd"><a/>',
    b'<?xml version="1.0" encoding="UTF-16"?>'.decode().encode("utf-16")
    + '<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>'.encode("utf-16-le"),
    '<?xml version="1.0" encoding="UTF-16LE"?><!DOCTYPE a><a/>'.encode("utf-16-le"),
    '<?xml version="1.0" encoding="UTF-32"?><!DOCTYPE a><a/>'.encode("utf-32"),
    b'<?xml version="1.0" encoding="UTF-7"?>+ADw-!DOCTYPE a+AD4-<a/>',
    '<?xml version="1.0" encoding="IBM037"?><!DOCTYPE a><a/>'.encode("cp037"),
    '<!DOCTYPE a><a/>'.encode("utf-16-le"),
], ids=["xxe", "external-dtd", "utf16-dtd", "utf16le-no-bom", "utf32", "utf7", "ebcdic",
        "utf16-no-declaration"])
def test_any_dtd_is_refused(doc: bytes) -> None:
    """A document type declaration is refused, whatever it declares or how it is encoded
    (SOAP 1.1 §3: "A SOAP message MUST NOT contain a Document Type Declaration"): the
    byte search finds it in ASCII-family encodings, the parsed tree's doctype in the
    rest (sild.soap.safexml.parse_xml)."""
    with pytest.raises(SoapError):
        parse_xml(doc)


def test_depth_and_element_limits() -> None:
    """Nesting past max_depth and more than max_elements are refused."""
    with pytest.raises(SoapError, match="deeper"):
        parse_xml(b"<a>" * 5 + b"</a>" * 5, XmlLimits(max_depth=4))
    with pytest.raises(SoapError, match="elements"):
        parse_xml(b"<a>" + b"<b/>" * 10 + b"</a>", XmlLimits(max_elements=5))
    assert parse_xml(b"<a>" * 4 + b"</a>" * 4, XmlLimits(max_depth=4)).tag == "a"


def _mp(parts: list[tuple[str, bytes]], boundary: str = "b1") -> bytes:
    out = b"".join(f"--{boundary}\r\nContent-Type: {t}\r\n\r\n".encode() + c + b"\r\n"
                   for t, c in parts)
    return out + f"--{boundary}--\r\n".encode()


def test_split_body_finds_the_soap_part_and_its_offset() -> None:
    """The root part's bytes and where they start; attachments counted."""
    body = _mp([("text/xml", b"<soap/>"), ("application/octet-stream", b"\x00\x01")])
    parts = split_body('multipart/related; type="text/xml"; boundary=b1', body)
    assert (parts.soap, parts.attachments, parts.mtom) == (b"<soap/>", 1, False)
    assert body[parts.offset:parts.offset + 7] == b"<soap/>"


def test_split_body_mtom_root_must_be_xop() -> None:
    """MTOM needs an application/xop+xml root part of type text/xml."""
    ctype = 'multipart/related; type="application/xop+xml"; boundary=b1'
    good = _mp([('application/xop+xml; type="text/xml"', b"<s/>")])
    assert split_body(ctype, good).mtom
    with pytest.raises(SoapInvalidContentType):
        split_body(ctype, _mp([("text/xml", b"<s/>")]))


@pytest.mark.parametrize(("ctype", "body", "error"), [
    ("application/json", b"{}", SoapInvalidContentType),
    ("", b"<a/>", SoapInvalidContentType),
    ("multipart/related", b"", SoapMimeParsingFailed),
    ("multipart/related; boundary=b1", b"no boundary here", SoapMimeParsingFailed),
    ("multipart/related; boundary=b1", b"--b1\r\nContent-Type: text/xml\r\n\r\n<a/>",
     SoapMimeParsingFailed),
    ("multipart/related; boundary=b1", b"--b1\r\nbroken header\r\n\r\n<a/>\r\n--b1--",
     SoapMimeParsingFailed),
    ("multipart/related; boundary=b1", _mp([("image/png", b"x")]), SoapInvalidContentType),
], ids=["json", "none", "no-boundary", "no-delimiter", "no-close", "bad-header",
        "root-not-xml"])
def test_split_body_refuses(ctype: str, body: bytes, error: type[Exception]) -> None:
    """Wrong content types and broken multipart structures are refused."""
    with pytest.raises(error):
        split_body(ctype, body)


def test_attachment_over_the_limit_is_refused() -> None:
    """An attachment larger than max_attachment is MimeParsingFailed."""
    body = _mp([("text/xml", b"<s/>"), ("application/octet-stream", b"x" * 11)])
    with pytest.raises(SoapMimeParsingFailed, match="exceeds"):
        split_body("multipart/related; boundary=b1", body, MimeLimits(max_attachment=10))


def test_fault_body_has_xroad_shape() -> None:
    """faultcode, faultstring, faultactor and detail/faultDetail, as X-Road sends them."""
    root = etree.fromstring(fault_body("Client.X", "a < b", "id-1"))
    fault = root[0][0]
    assert [c.tag for c in fault] == ["faultcode", "faultstring", "faultactor", "detail"]
    assert (fault.findtext("faultcode"), fault.findtext("faultstring"),
            fault.findtext("detail/faultDetail")) == ("Client.X", "a < b", "id-1")


def _response(header: str) -> bytes:
    return (f"{ENV}{header}<s:Body><e:echoResponse xmlns:e='urn:e'/></s:Body>"
            "</s:Envelope>").encode()


@pytest.mark.parametrize("header", ["<s:Header><x:a xmlns:x='urn:x'/></s:Header>",
                                    "<s:Header/>", "<s:Header a='1' />", ""],
                         ids=["full", "empty", "empty-attr", "none"])
def test_add_request_hash_keeps_everything_else(header: str) -> None:
    """The hash lands first in the Header; every other byte stays as it was."""
    soap = _response(header)
    body = b"PRE" + soap + b"POST"
    root = check_response(soap, service_code="echo", message_id="")
    assert root is not None
    out = add_request_hash(body, 3, len(soap), "h4sh", root)
    assert out.startswith(b"PRE")
    assert out.endswith(b"POST")
    assert response_request_hash(out[3:-4]) == "h4sh"
    reparsed = etree.fromstring(out[3:-4])
    assert reparsed.find(f".//{{{XRD}}}requestHash").getparent().tag.endswith("Header")
    assert etree.QName(reparsed[-1][0]).localname == "echoResponse"


def test_a_fault_is_not_checked() -> None:
    """An IS fault is passed on: check_response returns None."""
    fault = f"{ENV}<s:Body><s:Fault><faultcode>x</faultcode></s:Fault></s:Body></s:Envelope>"
    assert check_response(fault.encode(), service_code="echo", message_id="1") is None


@given(st.binary(max_size=200))
def test_soap_request_hash_is_sha512_base64(data: bytes) -> None:
    """requestHash is base64(SHA-512(SOAP part)) and differs when any byte does."""
    assert base64.b64decode(soap_request_hash(data)) == hashlib.sha512(data).digest()
    assert soap_request_hash(data + b"x") != soap_request_hash(data)


def test_check_response_refuses_a_wrong_wrapper_or_id() -> None:
    """{serviceCode}Response and the request's id, else InconsistentResponse."""
    with pytest.raises(SoapInconsistentResponse):
        check_response(_response(""), service_code="other", message_id="")
    with_id = _response(f"<s:Header><xrd:id xmlns:xrd='{XRD}'>9</xrd:id></s:Header>")
    with pytest.raises(SoapInconsistentResponse):
        check_response(with_id, service_code="echo", message_id="1")
    with pytest.raises(SoapInconsistentResponse):
        check_response(b"not xml", service_code="echo", message_id="1")
    own = _response(f"<s:Header><xrd:requestHash xmlns:xrd='{XRD}'>x</xrd:requestHash>"
                    "</s:Header>")
    with pytest.raises(SoapInconsistentResponse, match="requestHash"):
        check_response(own, service_code="echo", message_id="")


@given(st.binary(max_size=400))
def test_parse_request_refuses_garbage_with_a_sild_error(data: bytes) -> None:
    """Any bytes: a SoapRequest or a SildError, never another exception."""
    with contextlib.suppress(SildError):
        parse_request(data)


@given(st.binary(max_size=400))
def test_split_body_refuses_garbage_with_a_sild_error(data: bytes) -> None:
    """Any multipart body: a SoapBody or a SildError, never another exception."""
    with contextlib.suppress(SildError):
        split_body('multipart/related; type="text/xml"; boundary=b1', b"--b1\r\n" + data)


@given(st.binary(max_size=300), st.integers(min_value=0, max_value=299))
def test_flipping_a_byte_of_the_soap_part_changes_the_hash(data: bytes, i: int) -> None:
    """requestHash binds every byte of the SOAP part."""
    if not data:
        return
    i %= len(data)
    flipped = data[:i] + bytes([data[i] ^ 1]) + data[i + 1:]
    assert soap_request_hash(flipped) != soap_request_hash(data)
