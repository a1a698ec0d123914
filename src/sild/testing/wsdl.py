"""A small X-Road-style WSDL 1.1 for tests (document/literal, ``xrd:version``)."""

from __future__ import annotations

__all__ = ["SAMPLE_WSDL", "sample_wsdl"]


def sample_wsdl(address: str = "http://127.0.0.1:9/persons", *, version: str = "v1",
                style: str = "document", use: str = "literal") -> bytes:
    """Two operations, ``getPerson`` (with ``xrd:version``) and ``listPersons``."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
    xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xrd="http://x-road.eu/xsd/xroad.xsd"
    xmlns:tns="http://rr.x-road.eu" targetNamespace="http://rr.x-road.eu" name="rr">
  <wsdl:types><xs:schema targetNamespace="http://rr.x-road.eu" elementFormDefault="qualified">
    <xs:element name="getPerson"><xs:complexType><xs:sequence>
      <xs:element name="code" type="xs:string"/></xs:sequence></xs:complexType></xs:element>
    <xs:element name="getPersonResponse"><xs:complexType><xs:sequence>
      <xs:element name="name" type="xs:string"/></xs:sequence></xs:complexType></xs:element>
    <xs:element name="listPersons"><xs:complexType/></xs:element>
    <xs:element name="listPersonsResponse"><xs:complexType/></xs:element>
  </xs:schema></wsdl:types>
  <wsdl:message name="getPerson"><wsdl:part name="body" element="tns:getPerson"/></wsdl:message>
  <wsdl:message name="getPersonResponse">
    <wsdl:part name="body" element="tns:getPersonResponse"/></wsdl:message>
  <wsdl:message name="listPersons">
    <wsdl:part name="body" element="tns:listPersons"/></wsdl:message>
  <wsdl:message name="listPersonsResponse">
    <wsdl:part name="body" element="tns:listPersonsResponse"/></wsdl:message>
  <wsdl:portType name="rrPort">
    <wsdl:operation name="getPerson"><wsdl:input message="tns:getPerson"/>
      <wsdl:output message="tns:getPersonResponse"/></wsdl:operation>
    <wsdl:operation name="listPersons"><wsdl:input message="tns:listPersons"/>
      <wsdl:output message="tns:listPersonsResponse"/></wsdl:operation>
  </wsdl:portType>
  <wsdl:binding name="rrBinding" type="tns:rrPort">
    <soap:binding style="{style}" transport="http://schemas.xmlsoap.org/soap/http"/>
    <wsdl:operation name="getPerson"><soap:operation soapAction=""/>
      <xrd:version>{version}</xrd:version>
      <wsdl:input><soap:body use="{use}"/></wsdl:input>
      <wsdl:output><soap:body use="{use}"/></wsdl:output></wsdl:operation>
    <wsdl:operation name="listPersons"><soap:operation soapAction=""/>
      <wsdl:input><soap:body use="literal"/></wsdl:input>
      <wsdl:output><soap:body use="literal"/></wsdl:output></wsdl:operation>
  </wsdl:binding>
  <wsdl:service name="rrService"><wsdl:port name="rrPort" binding="tns:rrBinding">
    <soap:address location="{address}"/></wsdl:port></wsdl:service>
</wsdl:definitions>
""".encode()


SAMPLE_WSDL = sample_wsdl()
