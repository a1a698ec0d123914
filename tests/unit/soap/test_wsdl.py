"""WSDL 1.1 parsing, refusal of unsafe or unsupported documents, endpoint rewriting."""

from __future__ import annotations

import pytest
from lxml import etree

from sild.errors import InvalidWsdl
from sild.soap.wsdl import (
    MAX_WSDL_BYTES,
    XROAD_ENDPOINT,
    WsdlOperation,
    parse_wsdl,
    rewrite_endpoints,
)
from sild.testing.wsdl import SAMPLE_WSDL, sample_wsdl


def test_operations_become_service_codes_with_their_version() -> None:
    """Each binding operation is a code; xrd:version is its version, absent → None."""
    desc = parse_wsdl(SAMPLE_WSDL)
    assert desc.operations == (WsdlOperation("getPerson", "v1"), WsdlOperation("listPersons"))


def test_address_is_the_soap_port_location() -> None:
    """The provider IS URL is the SOAP 1.1 port's soap:address."""
    assert parse_wsdl(sample_wsdl("http://is.example:8000/rr")).address == \
        "http://is.example:8000/rr"


def test_identifiers_service_version_is_read_too() -> None:
    """id:serviceVersion under a binding operation also gives the version."""
    raw = SAMPLE_WSDL.replace(b"<xrd:version>v1</xrd:version>",
                              b'<id:serviceVersion xmlns:id="http://x-road.eu/xsd/identifiers">'
                              b"v7</id:serviceVersion>")
    assert parse_wsdl(raw).operations[0] == WsdlOperation("getPerson", "v7")


def test_rewrite_sets_every_address_to_the_xroad_endpoint() -> None:
    """getWsdl's copy points at http://example.org/xroad-endpoint, nothing else changes."""
    out = rewrite_endpoints(sample_wsdl("http://10.0.0.5/secret"))
    assert b"10.0.0.5" not in out
    root = etree.fromstring(out)
    locations = [a.get("location") for a in root.iter(
        "{http://schemas.xmlsoap.org/wsdl/soap/}address")]
    assert locations == [XROAD_ENDPOINT]
    assert parse_wsdl(out).operations == parse_wsdl(SAMPLE_WSDL).operations


@pytest.mark.parametrize(("raw", "message"), [
    (b"", "empty"),
    (b"\x00\x01\x02\xff\xfe binary", "not well-formed"),
    (b"{\"openapi\": \"3.0.0\"}", "not well-formed"),
    (b"<wsdl:definitions", "not well-formed"),
    (b"<html><body>hi</body></html>", "not a WSDL 1.1 document"),
    (b'<description xmlns="http://www.w3.org/ns/wsdl"/>', "WSDL 2.0"),
])
def test_not_a_wsdl_is_refused(raw: bytes, message: str) -> None:
    """Empty, binary, JSON, truncated, HTML and WSDL 2.0 input: InvalidWsdl naming why."""
    with pytest.raises(InvalidWsdl, match=message):
        parse_wsdl(raw)


def test_external_entity_is_refused_and_never_read() -> None:
    """XXE: a DOCTYPE declaring a SYSTEM entity is refused before any expansion."""
    raw = (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
           + SAMPLE_WSDL.split(b"?>", 1)[1].replace(b'name="rr">', b'name="&x;">', 1))
    with pytest.raises(InvalidWsdl, match="DOCTYPE") as e:
        parse_wsdl(raw)
    assert "root:" not in str(e.value)


def test_billion_laughs_is_refused() -> None:
    """Nested entity definitions (entity expansion bomb) are refused, not expanded."""
    lol = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10 if i else "lol"}">' for i in range(10))
    raw = f'<!DOCTYPE d [{lol}]><d>&l9;</d>'.encode()
    with pytest.raises(InvalidWsdl, match="DOCTYPE"):
        parse_wsdl(raw)


def test_external_dtd_is_refused() -> None:
    """A DOCTYPE naming an external DTD (network fetch) is refused."""
    with pytest.raises(InvalidWsdl, match="DOCTYPE"):
        parse_wsdl(b'<!DOCTYPE d SYSTEM "http://127.0.0.1:9/d.dtd"><d/>')


def test_deep_nesting_is_refused() -> None:
    """Nesting beyond libxml2's default depth limit is not well-formed for us."""
    with pytest.raises(InvalidWsdl, match="not well-formed"):
        parse_wsdl(b"<a>" * 10_000 + b"</a>" * 10_000)


def test_oversized_document_is_refused() -> None:
    """More than MAX_WSDL_BYTES is refused before parsing."""
    with pytest.raises(InvalidWsdl, match="larger than"):
        parse_wsdl(b" " * (MAX_WSDL_BYTES + 1))


def test_rpc_style_is_refused() -> None:
    """rpc-style bindings are not X-Road message protocol 4.0."""
    with pytest.raises(InvalidWsdl, match="rpc-style"):
        parse_wsdl(sample_wsdl(style="rpc"))


def test_soap_encoding_is_refused() -> None:
    """soap:body use="encoded" is refused: document/literal only."""
    with pytest.raises(InvalidWsdl, match="SOAP encoding"):
        parse_wsdl(sample_wsdl(use="encoded"))


def test_no_soap11_binding_is_refused() -> None:
    """A WSDL with only SOAP 1.2 (or no) bindings registers nothing."""
    raw = SAMPLE_WSDL.replace(b"http://schemas.xmlsoap.org/wsdl/soap/",
                              b"http://schemas.xmlsoap.org/wsdl/soap12/")
    with pytest.raises(InvalidWsdl, match=r"no SOAP 1\.1 binding"):
        parse_wsdl(raw)


def test_binding_without_operations_is_refused() -> None:
    """SOAP bindings with no operations register nothing."""
    root = etree.fromstring(SAMPLE_WSDL)
    binding = root.find("{http://schemas.xmlsoap.org/wsdl/}binding")
    assert binding is not None
    for op in binding.findall("{http://schemas.xmlsoap.org/wsdl/}operation"):
        binding.remove(op)
    with pytest.raises(InvalidWsdl, match="no operations"):
        parse_wsdl(etree.tostring(root))


def test_empty_version_is_refused() -> None:
    """An empty xrd:version element is an error, not 'no version'."""
    with pytest.raises(InvalidWsdl, match="version element is empty"):
        parse_wsdl(sample_wsdl(version=" "))


def test_missing_address_gives_none() -> None:
    """Without a soap:address the description has no address (the CLI then needs --url)."""
    root = etree.fromstring(SAMPLE_WSDL)
    service = root.find("{http://schemas.xmlsoap.org/wsdl/}service")
    assert service is not None
    root.remove(service)
    assert parse_wsdl(etree.tostring(root)).address is None


def test_utf16_doctype_is_refused() -> None:
    """A DOCTYPE in a UTF-16 document (not found by a byte scan) is refused after parsing."""
    raw = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE d [<!ENTITY a "b">]><d>&a;</d>'
    with pytest.raises(InvalidWsdl, match="DOCTYPE"):
        parse_wsdl(raw.encode("utf-16"))


def test_other_encodings_are_read() -> None:
    """A WSDL declared ISO-8859-1 parses (operations found)."""
    raw = SAMPLE_WSDL.replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"')
    assert len(parse_wsdl(raw).operations) == 2
