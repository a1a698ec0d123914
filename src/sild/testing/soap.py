"""A small X-Road SOAP provider IS for tests (docs/spec/soap.md), as a raw ASGI app.

Operations, by the body's wrapper element:

* ``echo`` (any namespace) — answers ``echoResponse`` with the request's Header and the
  wrapper's children, byte for byte; a multipart request is answered multipart with its
  attachments as they came (the SOAP part swapped), so attachments make the round trip;
* ``wrong`` — answers ``somethingElseResponse`` (an inconsistent response);
* ``fail`` — answers a SOAP fault of its own;
* ``echomtom`` — answers MTOM: the bytes of the request's base64 ``data`` as a binary
  attachment that ``echomtomResponse/data`` references with ``xop:Include``.

Every request is kept in :attr:`SoapProvider.requests` (headers, body) for assertions.
Also :data:`ECHO_WSDL`, a WSDL of the echo operation for zeep (its address is
X-Road's placeholder, ``http://example.org/xroad-endpoint``).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from sild.soap.message import ENV
from sild.soap.mime import split_body
from sild.soap.safexml import parse_xml

__all__ = ["ECHO_NS", "ECHO_WSDL", "SoapProvider"]

ECHO_NS = "http://test.sild.dev/echo"


def _envelope(header: bytes, body: bytes) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="{ENV}">'.encode()
            + header + b"<s:Body>" + body + b"</s:Body></s:Envelope>")


MTOM_BOUNDARY = "MIME_boundary_sild_test"


def _mtom(header: bytes, data: bytes) -> tuple[str, bytes]:
    b = MTOM_BOUNDARY
    soap = _envelope(header, f'<e:echomtomResponse xmlns:e="{ECHO_NS}"><data><xop:Include '
                     'xmlns:xop="http://www.w3.org/2004/08/xop/include" href="cid:data@sild"/>'
                     "</data></e:echomtomResponse>".encode())
    body = (f"--{b}\r\nContent-Type: application/xop+xml; charset=UTF-8; "
            f'type="text/xml"\r\nContent-Transfer-Encoding: 8bit\r\n'
            "Content-ID: <root@sild>\r\n\r\n").encode() + soap + (
        f"\r\n--{b}\r\nContent-Type: application/octet-stream\r\n"
        "Content-Transfer-Encoding: binary\r\nContent-ID: <data@sild>\r\n\r\n"
    ).encode() + data + f"\r\n--{b}--\r\n".encode()
    return (f'multipart/related; type="application/xop+xml"; boundary="{b}"; '
            'start="<root@sild>"; start-info="text/xml"', body)


@dataclass
class SoapProvider:
    """The ASGI app; ``requests`` holds what it received."""

    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def answer(self, headers: dict[str, str], body: bytes) -> tuple[str, bytes]:
        ctype = headers.get("content-type", "")
        parts = split_body(ctype, body)
        root = parse_xml(parts.soap)
        header = root.find(f"{{{ENV}}}Header")
        body_el = root.find(f"{{{ENV}}}Body")
        assert body_el is not None
        wrapper = body_el[0]
        name = etree.QName(wrapper).localname
        head = etree.tostring(header) if header is not None else b""
        if name == "echomtom":
            return _mtom(head, base64.b64decode(wrapper.findtext("data") or ""))
        if name == "fail":
            answer = _envelope(b"", b"<s:Fault><faultcode>s:Server</faultcode>"
                               b"<faultstring>the service failed</faultstring></s:Fault>")
        else:
            out = "somethingElse" if name == "wrong" else name
            inner = b"".join(etree.tostring(c, with_tail=False) for c in wrapper)
            answer = _envelope(head, f'<e:{out}Response xmlns:e="{ECHO_NS}">'.encode()
                               + inner + f"</e:{out}Response>".encode())
        if not parts.multipart:
            return "text/xml; charset=UTF-8", answer
        return ctype, body[:parts.offset] + answer + body[parts.offset + len(parts.soap):]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope["headers"]}
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        self.requests.append((headers, body))
        ctype, answer = self.answer(headers, body)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", ctype.encode("latin-1"))]})
        await send({"type": "http.response.body", "body": answer})


ECHO_WSDL = f"""<?xml version="1.0" encoding="UTF-8"?>
<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
    xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:xsd="http://www.w3.org/2001/XMLSchema"
    xmlns:tns="{ECHO_NS}" targetNamespace="{ECHO_NS}">
  <wsdl:types>
    <xsd:schema targetNamespace="{ECHO_NS}" elementFormDefault="unqualified">
      <xsd:element name="echo">
        <xsd:complexType><xsd:sequence>
          <xsd:element name="text" type="xsd:string"/>
        </xsd:sequence></xsd:complexType>
      </xsd:element>
      <xsd:element name="echomtom">
        <xsd:complexType><xsd:sequence>
          <xsd:element name="data" type="xsd:base64Binary"/>
        </xsd:sequence></xsd:complexType>
      </xsd:element>
      <xsd:element name="echomtomResponse">
        <xsd:complexType><xsd:sequence>
          <xsd:element name="data" type="xsd:base64Binary"/>
        </xsd:sequence></xsd:complexType>
      </xsd:element>
      <xsd:element name="echoResponse">
        <xsd:complexType><xsd:sequence>
          <xsd:element name="text" type="xsd:string"/>
        </xsd:sequence></xsd:complexType>
      </xsd:element>
    </xsd:schema>
  </wsdl:types>
  <wsdl:message name="echo"><wsdl:part name="body" element="tns:echo"/></wsdl:message>
  <wsdl:message name="echoResponse">
    <wsdl:part name="body" element="tns:echoResponse"/>
  </wsdl:message>
  <wsdl:message name="echomtom">
    <wsdl:part name="body" element="tns:echomtom"/>
  </wsdl:message>
  <wsdl:message name="echomtomResponse">
    <wsdl:part name="body" element="tns:echomtomResponse"/>
  </wsdl:message>
  <wsdl:portType name="EchoPort">
    <wsdl:operation name="echo">
      <wsdl:input message="tns:echo"/><wsdl:output message="tns:echoResponse"/>
    </wsdl:operation>
    <wsdl:operation name="echomtom">
      <wsdl:input message="tns:echomtom"/><wsdl:output message="tns:echomtomResponse"/>
    </wsdl:operation>
  </wsdl:portType>
  <wsdl:binding name="EchoBinding" type="tns:EchoPort">
    <soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
    <wsdl:operation name="echo">
      <soap:operation soapAction="echo"/>
      <wsdl:input><soap:body use="literal"/></wsdl:input>
      <wsdl:output><soap:body use="literal"/></wsdl:output>
    </wsdl:operation>
    <wsdl:operation name="echomtom">
      <soap:operation soapAction="echomtom"/>
      <wsdl:input><soap:body use="literal"/></wsdl:input>
      <wsdl:output><soap:body use="literal"/></wsdl:output>
    </wsdl:operation>
  </wsdl:binding>
  <wsdl:service name="EchoService">
    <wsdl:port name="EchoPort" binding="tns:EchoBinding">
      <soap:address location="http://example.org/xroad-endpoint"/>
    </wsdl:port>
  </wsdl:service>
</wsdl:definitions>
"""
