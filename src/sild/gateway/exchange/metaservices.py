"""Metaservices answered by the gateway itself (X-Road PR-META, PR-MREST; research §4.2).

``GET /listClients`` on the IS port lists every member and subsystem in global
configuration: XML ``clientList`` by default, JSON when ``Accept`` asks for it.
REST ``listMethods``, ``allowedMethods``, ``getOpenAPI?serviceCode=`` and
``getWsdl?serviceCode=[&version=]`` (docs/spec/wsdl.md §5) are called
like services of a subsystem and answered by the provider gateway without an ACL
check (X-Road ``RestMetadataServiceHandlerImpl.shouldVerifyAccess() = false``).
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from sild.core.globalconf import GlobalConf
from sild.core.identifiers import ClientId, ServiceId
from sild.errors import InvalidRequest
from sild.gateway.context import AccessPort

__all__ = ["METASERVICES", "answer_metaservice", "list_clients"]

METASERVICES = frozenset({"listMethods", "allowedMethods", "getOpenAPI", "getWsdl"})


def answer_metaservice(access: AccessPort, service: ServiceId, client: ClientId, query: str,
                       conf: GlobalConf) -> tuple[int, str, bytes]:
    """(status, content type, body) of a REST metaservice call."""
    code = service.service_code
    if code == "listMethods":
        data = access.list_methods(service.subsystem)
    elif code == "allowedMethods":
        data = access.allowed_methods(service.subsystem, client, conf)
    elif code == "getWsdl":  # the SOAP-shaped answer: sild.soap.wsdl_meta
        params = parse_qs(query)
        wanted, version = params.get("serviceCode", []), params.get("version", [])
        if len(wanted) != 1 or not wanted[0] or len(version) > 1:
            raise InvalidRequest("getWsdl needs one serviceCode and at most one version")
        wsdl = access.wsdl(service.subsystem, wanted[0], version[0] if version else None)
        return 200, "text/xml; charset=utf-8", wsdl
    else:
        wanted = parse_qs(query).get("serviceCode", [])
        if len(wanted) != 1 or not wanted[0]:
            raise InvalidRequest("getOpenAPI needs exactly one serviceCode parameter")
        doc = access.openapi(service.subsystem, wanted[0])
        return 200, doc.media_type, doc.text.encode()
    return 200, "application/json; charset=utf-8", json.dumps(data).encode()


def list_clients(conf: GlobalConf, *, accept: str, wanted: str | None) -> tuple[str, bytes]:
    """(content type, body) of ``GET /listClients`` (PR-META §3): XML unless JSON asked."""
    rows: list[tuple[str, str, str, str, str | None]] = []
    for m in conf.members:
        if wanted and m.id.instance != wanted:
            continue
        rows.append((m.id.instance, m.id.member_class, m.id.member_code, m.name, None))
        rows.extend((m.id.instance, m.id.member_class, m.id.member_code, m.name, sub)
                    for sub in m.subsystems)
    if "application/json" in accept.lower():
        members = []
        for inst, cls, code, name, sub in rows:
            ident = {"member_class": cls, "member_code": code, "xroad_instance": inst,
                     "object_type": "SUBSYSTEM" if sub else "MEMBER"}
            if sub:
                ident["subsystem_code"] = sub
            members.append({"id": ident, "name": name})
        return "application/json; charset=utf-8", json.dumps({"member": members}).encode()
    parts = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<ns2:clientList xmlns:ns2="http://x-road.eu/xsd/xroad.xsd" '
             'xmlns:ns3="http://x-road.eu/xsd/identifiers">']
    for inst, cls, code, name, sub in rows:
        kind = "SUBSYSTEM" if sub else "MEMBER"
        sub_xml = f"<ns3:subsystemCode>{escape(sub)}</ns3:subsystemCode>" if sub else ""
        parts.append(
            f'<ns2:member><ns2:id ns3:objectType="{kind}">'
            f"<ns3:xRoadInstance>{escape(inst)}</ns3:xRoadInstance>"
            f"<ns3:memberClass>{escape(cls)}</ns3:memberClass>"
            f"<ns3:memberCode>{escape(code)}</ns3:memberCode>{sub_xml}</ns2:id>"
            f"<ns2:name>{escape(name)}</ns2:name></ns2:member>")
    parts.append("</ns2:clientList>")
    return "text/xml; charset=utf-8", "".join(parts).encode()


