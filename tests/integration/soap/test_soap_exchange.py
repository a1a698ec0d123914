"""SOAP (X-Road message protocol 4.0) through two real gateways: zeep as the client,
a SOAP provider IS of our own, faults, attachments and metaservices (docs/spec/soap.md)."""

from __future__ import annotations

import base64
import hashlib
import socket
from pathlib import Path

import pytest
import requests
import zeep
import zeep.exceptions
from lxml import etree
from zeep.transports import Transport

from sild.gateway.messagelog.log import LogRecord
from sild.gateway.messagelog.usage import UsageRecord
from sild.soap.message import XRD
from sild.testing.exchange import CLIENT, CONSUMER, PROVIDER, call
from sild.testing.soap import ECHO_NS, ECHO_WSDL
from sild.testing.soap_client import header_elements, soap_request
from sild.testing.soap_net import SoapNet

SUB = PROVIDER.member.subsystem("rr")
ECHO = SUB.service("echo")
FAULT_TYPE = "text/xml; charset=UTF-8"


def _zeep(tmp_path: Path, session: requests.Session | None = None) -> zeep.Client:
    wsdl = tmp_path / "echo.wsdl"
    wsdl.write_text(ECHO_WSDL)
    return zeep.Client(str(wsdl), transport=Transport(session=session or requests.Session()))


def _echo(code: str = "echo", text: str = "hello") -> str:
    return f'<e:{code} xmlns:e="{ECHO_NS}"><text>{text}</text></e:{code}>'


def _post(s: SoapNet, body: bytes, *, ctype: str = "text/xml; charset=UTF-8",
          path: str = "/", headers: dict[str, str] | None = None
          ) -> tuple[int, dict[str, str], bytes]:
    return call(s.url + path, method="POST", body=body,
                headers={"Content-Type": ctype, "SOAPAction": '"echo"', **(headers or {})})


def _fault(body: bytes) -> tuple[str, str]:
    root = etree.fromstring(body)
    return root.findtext(".//faultcode") or "", root.findtext(".//faultDetail") or ""


def test_zeep_calls_a_service_through_two_gateways(soapnet: SoapNet, tmp_path: Path) -> None:
    """An unmodified zeep client with X-Road headers in _soapheaders gets the answer."""
    client = _zeep(tmp_path)
    service = client.create_service(f"{{{ECHO_NS}}}EchoBinding", soapnet.url + "/cgi-bin/x")
    assert service.echo(text="tere", _soapheaders=header_elements(CLIENT, ECHO)) == "tere"


def test_zeep_through_the_gateway_as_http_proxy(soapnet: SoapNet, tmp_path: Path) -> None:
    """A client using the gateway as its HTTP proxy (absolute-form target) is served."""
    session = requests.Session()
    session.proxies = {"http": soapnet.url}
    client = _zeep(tmp_path, session)
    assert client.service.echo(text="proxy", _soapheaders=header_elements(CLIENT, ECHO)) \
        == "proxy"


def test_zeep_raises_the_xroad_fault_for_a_denied_call(soapnet: SoapNet,
                                                       tmp_path: Path) -> None:
    """A client without access rights gets a zeep Fault carrying X-Road's code."""
    client = _zeep(tmp_path)
    service = client.create_service(f"{{{ECHO_NS}}}EchoBinding", soapnet.url)
    other = CONSUMER.member.subsystem("other")
    with pytest.raises(zeep.exceptions.Fault) as e:
        service.echo(text="x", _soapheaders=header_elements(other, ECHO))
    assert e.value.code == "Server.ServerProxy.AccessDenied"


def test_zeep_raises_the_xroad_fault_for_a_refused_request(soapnet: SoapNet,
                                                           tmp_path: Path) -> None:
    """A request the consumer gateway refuses is a zeep Fault with a Client.* code."""
    client = _zeep(tmp_path)
    service = client.create_service(f"{{{ECHO_NS}}}EchoBinding", soapnet.url)
    with pytest.raises(zeep.exceptions.Fault) as e:
        service.echo(text="x", _soapheaders=header_elements(CLIENT, ECHO, protocol="3.1"))
    assert e.value.code == "Client.InvalidProtocolVersion"


def test_response_carries_xroad_request_hash(soapnet: SoapNet) -> None:
    """requestHash in the response is SHA-512 of the SOAP part we sent (PR-MESS §2.3)."""
    request = soap_request(CLIENT, ECHO, _echo())
    status, headers, body = _post(soapnet, request)
    assert status == 200
    assert headers["content-type"].startswith("text/xml")
    got = etree.fromstring(body).find(f".//{{{XRD}}}requestHash")
    assert got is not None
    assert got.text == base64.b64encode(hashlib.sha512(request).digest()).decode()
    assert got.get("algorithmId") == "http://www.w3.org/2001/04/xmlenc#sha512"


def test_soapaction_and_content_type_reach_the_provider_unchanged(soapnet: SoapNet) -> None:
    """The provider IS gets SOAPAction and Content-Type as the client sent them."""
    request = soap_request(CLIENT, ECHO, _echo(text="sa"))
    _post(soapnet, request, ctype="text/xml;charset=utf-8", headers={"X-Custom": "no"})
    headers, body = soapnet.provider.requests[-1]
    assert (headers["soapaction"], headers["content-type"]) == ('"echo"',
                                                                "text/xml;charset=utf-8")
    assert "x-custom" not in headers
    assert body == request


def _multipart(soap: bytes, attachment: bytes, *, mtom: bool) -> tuple[str, bytes]:
    b = "MIMEBoundary_sild"
    root_type = ('application/xop+xml; charset=UTF-8; type="text/xml"' if mtom
                 else "text/xml; charset=UTF-8")
    body = (f"--{b}\r\nContent-Type: {root_type}\r\nContent-Transfer-Encoding: 8bit\r\n"
            "Content-ID: <root@sild>\r\n\r\n").encode() + soap + (
        f"\r\n--{b}\r\nContent-Type: application/octet-stream\r\n"
        "Content-Transfer-Encoding: binary\r\nContent-ID: <att@sild>\r\n\r\n").encode() \
        + attachment + f"\r\n--{b}--\r\n".encode()
    kind = 'application/xop+xml"; start-info="text/xml' if mtom else "text/xml"
    return (f'multipart/related; type="{kind}"; boundary="{b}"; start="<root@sild>"', body)


@pytest.mark.parametrize("mtom", [True, False], ids=["mtom", "swa"])
def test_attachment_survives_the_round_trip(soapnet: SoapNet, mtom: bool) -> None:
    """An MTOM / SwA attachment reaches the provider and comes back byte for byte."""
    attachment = bytes(range(256)) * 16
    xop = ('<text><xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" '
           'href="cid:att@sild"/></text>')
    soap = soap_request(CLIENT, ECHO, f'<e:echo xmlns:e="{ECHO_NS}">{xop}</e:echo>')
    ctype, body = _multipart(soap, attachment, mtom=mtom)
    status, headers, answer = _post(soapnet, body, ctype=ctype)
    assert status == 200
    assert soapnet.provider.requests[-1] == (soapnet.provider.requests[-1][0], body)
    assert headers["content-type"] == ctype
    assert answer.count(attachment) == 1
    assert answer.endswith(attachment + b"\r\n--MIMEBoundary_sild--\r\n")
    assert b"echoResponse" in answer
    assert b"requestHash" in answer


def test_zeep_receives_an_mtom_attachment_through_two_gateways(soapnet: SoapNet,
                                                               tmp_path: Path) -> None:
    """An MTOM answer (xop:Include + binary part) reaches zeep, which resolves it."""
    client = _zeep(tmp_path)
    service = client.create_service(f"{{{ECHO_NS}}}EchoBinding", soapnet.url)
    # (not ending in CRLF: zeep's multipart decoding drops a part's trailing CRLF; the
    # gateways pass it, see test_attachment_survives_the_round_trip)
    payload = bytes(range(256)) * 8 + b"\r\n--not-a-boundary\r\n."
    got = service.echomtom(data=payload, _soapheaders=header_elements(
        CLIENT, SUB.service("echomtom")))
    assert got == payload


def test_get_on_the_soap_endpoint_is_invalid_http_method(soapnet: SoapNet) -> None:
    """GET on a SOAP path: HTTP 200, text/xml; charset=UTF-8, Client.InvalidHttpMethod."""
    status, headers, body = call(soapnet.url + "/some/soap/path")
    assert (status, headers["content-type"]) == (200, FAULT_TYPE)
    code, detail = _fault(body)
    assert code == "Client.InvalidHttpMethod"
    assert len(detail) == 36  # an error id (uuid)


def test_provider_fault_passes_through(soapnet: SoapNet) -> None:
    """A fault the provider IS answers reaches the client as the IS wrote it."""
    status, _, body = _post(soapnet, soap_request(CLIENT, SUB.service("fail"), _echo("fail")))
    assert status == 200
    assert _fault(body)[0] == "s:Server"
    assert b"the service failed" in body


def test_inconsistent_response_is_a_server_fault(soapnet: SoapNet) -> None:
    """An IS answering another wrapper than {serviceCode}Response is refused."""
    _, _, body = _post(soapnet, soap_request(CLIENT, SUB.service("wrong"), _echo("wrong")))
    assert _fault(body)[0] == "Server.ServerProxy.InconsistentResponse"


def test_service_version_must_be_the_registered_one(soapnet: SoapNet) -> None:
    """serviceVersion v1 of a service registered as v1 is served; v2 is UnknownService."""
    echov = SUB.service("echov")
    status, _, body = _post(soapnet, soap_request(CLIENT, echov, _echo("echov"), version="v1"))
    assert status == 200
    assert b"echovResponse" in body
    _, _, body = _post(soapnet, soap_request(CLIENT, echov, _echo("echov"), version="v2"))
    assert _fault(body)[0] == "Server.ServerProxy.UnknownService"


def test_access_rights_ignore_the_version(soapnet: SoapNet) -> None:
    """A service registered without a version takes any serviceVersion (PR-MESS §3.1)."""
    status, _, body = _post(soapnet, soap_request(CLIENT, ECHO, _echo(), version="v7"))
    assert (status, b"echoResponse" in body) == (200, True)


def test_get_wsdl_over_soap_answers_the_wsdl_as_attachment(soapnet: SoapNet) -> None:
    """getWsdl: getWsdlResponse with the WSDL as the second MIME part, requestHash added."""
    body = (f'<xrd:getWsdl xmlns:xrd="{XRD}"><xrd:serviceCode>echo</xrd:serviceCode>'
            "</xrd:getWsdl>")
    status, headers, answer = _post(soapnet, soap_request(CLIENT, SUB.service("getWsdl"),
                                                          body))
    assert status == 200
    assert headers["content-type"].startswith("multipart/related")
    assert ECHO_WSDL.encode() in answer
    assert b"getWsdlResponse" in answer
    assert b"requestHash" in answer


@pytest.mark.parametrize("meta", ["listMethods", "allowedMethods"])
def test_metaservices_answer_over_soap(soapnet: SoapNet, meta: str) -> None:
    """listMethods / allowedMethods answer {name}Response with service identifiers."""
    body = f'<xrd:{meta} xmlns:xrd="{XRD}"/>'
    status, _, answer = _post(soapnet, soap_request(CLIENT, SUB.service(meta), body))
    assert status == 200
    root = etree.fromstring(answer)
    codes = {e.text for e in root.iter("{http://x-road.eu/xsd/identifiers}serviceCode")}
    assert root.find(f".//{{{XRD}}}{meta}Response") is not None
    assert "echo" in codes
    assert ("closed" in codes) == (meta == "listMethods")


def test_sild_header_extension_is_signed_as_tracker_headers(soapnet: SoapNet) -> None:
    """sild:dataSubject / sild:purpose travel in the signed envelope's headers."""
    ext = ('<s:dataSubject xmlns:s="https://sild.dev/xsd/sild.xsd">EE38001085718</s:dataSubject>'
           '<s:purpose xmlns:s="https://sild.dev/xsd/sild.xsd">treatment</s:purpose>')
    header = "".join(etree.tostring(e).decode()
                     for e in header_elements(CLIENT, ECHO, message_id="ext-1")) + ext
    assert _post(soapnet, soap_request(CLIENT, ECHO, _echo(), header=header))[0] == 200
    rec = next(r for r in soapnet.net.logs["gw1"].records
               if isinstance(r, LogRecord) and r.message_id == "ext-1" and r.kind == "request")
    assert b'"sild-data-subject","EE38001085718"' in rec.envelope
    assert b'"sild-purpose","treatment"' in rec.envelope
    assert b'"protocol":"soap"' in rec.envelope


_SILD_NS = "https://sild.dev/xsd/sild.xsd"


def _personal(message_id: str, ext: str) -> bytes:
    header = "".join(etree.tostring(e).decode() for e in header_elements(
        CLIENT, SUB.service("echopd"), message_id=message_id)) + ext
    return soap_request(CLIENT, SUB.service("echopd"), _echo("echopd"), header=header)


def _usage(s: SoapNet, message_id: str) -> list[UsageRecord]:
    return [r for r in s.net.logs["gw1"].records
            if isinstance(r, UsageRecord) and r.message_id == message_id]


def test_personal_data_service_needs_a_subject(soapnet: SoapNet) -> None:
    """A personal-data SOAP service without a data subject: fault, nothing forwarded."""
    before = len(soapnet.provider.requests)
    _, _, body = _post(soapnet, _personal("pd-0", ""))
    assert _fault(body)[0] == "Client.MissingHeader"
    assert len(soapnet.provider.requests) == before


def test_subject_and_purpose_from_the_soap_header_extension(soapnet: SoapNet) -> None:
    """sild:dataSubject / sild:purpose make a usage record for that person."""
    ext = (f'<s:dataSubject xmlns:s="{_SILD_NS}">EE38001085718</s:dataSubject>'
           f'<s:purpose xmlns:s="{_SILD_NS}">treatment</s:purpose>')
    status, _, body = _post(soapnet, _personal("pd-1", ext))
    assert (status, b"echopdResponse" in body) == (200, True)
    assert [u.subject for u in _usage(soapnet, "pd-1")] == ["EE38001085718"]


def test_subject_and_purpose_from_http_headers(soapnet: SoapNet) -> None:
    """Sild-Data-Subject / Sild-Purpose HTTP headers work for SOAP too."""
    status, _, _ = _post(soapnet, _personal("pd-2", ""), headers={
        "Sild-Data-Subject": "EE38001085718", "Sild-Purpose": "treatment"})
    assert status == 200
    assert [u.subject for u in _usage(soapnet, "pd-2")] == ["EE38001085718"]


# -- bad input: the right fault, nothing forwarded, nothing logged half ---------------

_H = "".join(etree.tostring(e).decode() for e in header_elements(CLIENT, ECHO))
_ENV = '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'


def _xxe(url: str) -> bytes:
    return (f'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "{url}">]>'
            f"{_ENV}<soapenv:Header>{_H}</soapenv:Header><soapenv:Body>"
            f'<e:echo xmlns:e="{ECHO_NS}"><text>&x;</text></e:echo>'
            "</soapenv:Body></soapenv:Envelope>").encode()


LAUGHS = ('<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
          + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'
                    for i in range(8))
          + f"]>{_ENV}<soapenv:Body>&i;</soapenv:Body></soapenv:Envelope>").encode()
DEEP = soap_request(CLIENT, ECHO, f'<e:echo xmlns:e="{ECHO_NS}">' + "<a>" * 200
                    + "</a>" * 200 + "</e:echo>")
DUP = soap_request(CLIENT, ECHO, _echo(), header=_H + f'<xrd:id xmlns:xrd="{XRD}">2</xrd:id>')
NO_ID = soap_request(CLIENT, ECHO, _echo(), header=_H.replace("<xrd:id", "<xrd:other")
                     .replace("</xrd:id>", "</xrd:other>"))
BAD_CASES = {
    "non-xml": (b"this is not xml", "text/xml", "Client.InvalidSoap"),
    "not-soap": (b"<a/>", "text/xml", "Client.InvalidSoap"),
    "billion-laughs": (LAUGHS, "text/xml", "Client.InvalidSoap"),
    "deep-nesting": (DEEP, "text/xml", "Client.InvalidSoap"),
    "missing-header-field": (NO_ID, "text/xml", "Client.MissingHeaderField"),
    "duplicate-header-field": (DUP, "text/xml", "Client.DuplicateHeaderField"),
    "protocol-version": (soap_request(CLIENT, ECHO, _echo(), protocol="3.1"), "text/xml",
                         "Client.InvalidProtocolVersion"),
    "body-not-service": (soap_request(CLIENT, ECHO, _echo("other")), "text/xml",
                         "Client.InconsistentHeaders"),
    "missing-body": (soap_request(CLIENT, ECHO, ""), "text/xml", "Client.MissingBody"),
    "content-type": (soap_request(CLIENT, ECHO, _echo()), "application/json",
                     "Client.InvalidContentType"),
    "broken-boundary": (b"--XX\r\nContent-Type: text/xml\r\n\r\n"
                        + soap_request(CLIENT, ECHO, _echo()) + b"\r\n--XX",
                        'multipart/related; type="text/xml"; boundary="XX"',
                        "Client.MimeParsingFailed"),
    "too-large": (_multipart(soap_request(CLIENT, ECHO, _echo()), b"x" * 70_000,
                             mtom=False)[1],
                  _multipart(b"", b"", mtom=False)[0], "Client.InvalidSoap"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_input_is_refused_with_the_right_fault(soapnet: SoapNet, case: str) -> None:
    """Each malformed request: its X-Road fault, nothing forwarded, no message-log row."""
    body, ctype, code = BAD_CASES[case]
    before_is = len(soapnet.provider.requests)
    logs = [soapnet.net.logs[g] for g in ("gw1", "gw2")]
    before = [len(lg.records) for lg in logs]
    status, headers, answer = _post(soapnet, body, ctype=ctype)
    assert (status, headers["content-type"]) == (200, FAULT_TYPE)
    assert _fault(answer)[0] == code
    assert len(soapnet.provider.requests) == before_is
    new = [r for lg, n in zip(logs, before, strict=True) for r in lg.records[n:]]
    assert not any(isinstance(r, LogRecord) for r in new)


def test_xxe_is_never_fetched(soapnet: SoapNet) -> None:
    """An external entity pointing at a listening socket is refused, never fetched."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(0.3)
        port = listener.getsockname()[1]
        _, _, answer = _post(soapnet, _xxe(f"http://127.0.0.1:{port}/secret"))
        assert _fault(answer)[0] == "Client.InvalidSoap"
        with pytest.raises(TimeoutError):
            listener.accept()
