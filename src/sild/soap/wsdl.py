"""WSDL 1.1 service descriptions of SOAP services (docs/spec/wsdl.md §1–§3).

X-Road registers a SOAP service description from its WSDL: every operation of a
SOAP 1.1 binding becomes a service whose code is the operation name and whose
version is the binding operation's ``xrd:version`` element (PR-MESS v4.0 §2.3,
research/xroad.md §2.3). A WSDL served back to clients (the ``getWsdl``
metaservice, research/xroad.md §4.2) has every ``soap:address`` rewritten to
``http://example.org/xroad-endpoint``: clients must send to their own gateway, never
to the provider's information system.

Pure: bytes in, values out, no file, network or clock. The parser refuses a DTD
(so no entity can be declared, expanded or fetched: XXE and billion laughs), never
touches the network and keeps libxml2's depth and size limits (no ``huge_tree``).
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from sild.errors import InvalidWsdl

__all__ = [
    "MAX_WSDL_BYTES",
    "NS_SOAP11",
    "NS_WSDL",
    "NS_XROAD",
    "XROAD_ENDPOINT",
    "WsdlDescription",
    "WsdlOperation",
    "parse_wsdl",
    "rewrite_endpoints",
    "safe_xml",
]

NS_WSDL = "http://schemas.xmlsoap.org/wsdl/"
NS_WSDL2 = "http://www.w3.org/ns/wsdl"
NS_SOAP11 = "http://schemas.xmlsoap.org/wsdl/soap/"
NS_SOAP12 = "http://schemas.xmlsoap.org/wsdl/soap12/"
NS_XROAD = "http://x-road.eu/xsd/xroad.xsd"
NS_ID = "http://x-road.eu/xsd/identifiers"
# X-Road's rewritten endpoint (PR-META getWsdl; research/xroad.md §4.2).
XROAD_ENDPOINT = "http://example.org/xroad-endpoint"
# Large WSDLs with inline schemas (e.g. Estonia's population register) are a few MiB;
# 8 MiB, like an OpenAPI description, bounds what one service row and getWsdl carry.
MAX_WSDL_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True, order=True)
class WsdlOperation:
    """One operation: the X-Road service code and its version (``xrd:version``)."""

    code: str
    version: str | None = None


@dataclass(frozen=True, slots=True)
class WsdlDescription:
    """What a WSDL registers: its operations and the provider's ``soap:address``."""

    operations: tuple[WsdlOperation, ...]
    address: str | None


def _parser() -> etree.XMLParser:
    # No DTD loading, no entity substitution, no network, libxml2's default limits.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           dtd_validation=False, huge_tree=False)


def safe_xml(raw: bytes, *, what: str = "WSDL") -> etree._Element:
    """The root element of ``raw``; a DTD (hence any entity declaration) is refused."""
    if len(raw) > MAX_WSDL_BYTES:
        raise InvalidWsdl(f"{what} is larger than {MAX_WSDL_BYTES} bytes")
    if not raw.strip():
        raise InvalidWsdl(f"{what} is empty")
    if b"<!DOCTYPE" in raw:  # refused before libxml2 sees it (UTF-16: checked below)
        raise InvalidWsdl(f"{what} has a DOCTYPE; DTDs and entities are refused")
    try:
        root = etree.fromstring(raw, _parser())
    except etree.XMLSyntaxError as e:
        raise InvalidWsdl(f"{what} is not well-formed XML: {e.msg}") from e
    except ValueError as e:  # e.g. a str with an encoding declaration; not for bytes
        raise InvalidWsdl(f"{what} is not XML: {e}") from e
    info = root.getroottree().docinfo
    if getattr(info, "doctype", "") or info.internalDTD is not None \
            or info.externalDTD is not None:
        raise InvalidWsdl(f"{what} has a DOCTYPE; DTDs and entities are refused")
    return root


def _soap11_binding(binding: etree._Element) -> etree._Element | None:
    return binding.find(f"{{{NS_SOAP11}}}binding")


def _operation_version(op: etree._Element) -> str | None:
    """``xrd:version`` (X-Road 4.0) or ``id:serviceVersion`` under a binding operation."""
    for tag in (f"{{{NS_XROAD}}}version", f"{{{NS_ID}}}serviceVersion"):
        found = op.find(tag)
        if found is not None:
            text = (found.text or "").strip()
            if not text:
                raise InvalidWsdl(
                    f"WSDL operation {op.get('name')!r}: its version element is empty")
            return text
    return None


def _check_literal(op: etree._Element, name: str, style: str) -> None:
    """document/literal only (PR-MESS §2.3): rpc style or SOAP encoding is refused."""
    soap_op = op.find(f"{{{NS_SOAP11}}}operation")
    if soap_op is not None and soap_op.get("style"):
        style = soap_op.get("style", style)
    if style != "document":
        raise InvalidWsdl(f"WSDL operation {name!r} is {style}-style; "
                             "X-Road SOAP services are document/literal")
    for direction in ("input", "output"):
        body = op.find(f"{{{NS_WSDL}}}{direction}/{{{NS_SOAP11}}}body")
        if body is not None and body.get("use", "literal") != "literal":
            raise InvalidWsdl(f"WSDL operation {name!r} uses SOAP encoding "
                                 f"({body.get('use')}); only literal is supported")


def parse_wsdl(raw: bytes) -> WsdlDescription:
    """Operations of the SOAP 1.1 bindings of a WSDL 1.1 document, and its address.

    Steps of docs/spec/wsdl.md §2: (1) safe XML, (2) a ``wsdl:definitions`` root,
    (3) SOAP 1.1 bindings, document/literal, (4) one service per operation name with
    its version, (5) the first SOAP 1.1 port's ``soap:address``.
    """
    # (1) well-formed, no DTD, within the size limit
    root = safe_xml(raw)
    # (2) WSDL 1.1
    if root.tag == f"{{{NS_WSDL2}}}description":
        raise InvalidWsdl("WSDL 2.0 is not supported; X-Road services use WSDL 1.1")
    if root.tag != f"{{{NS_WSDL}}}definitions":
        raise InvalidWsdl(f"not a WSDL 1.1 document (root element is {root.tag!r}, "
                             f"expected {{{NS_WSDL}}}definitions)")
    # (3) the SOAP 1.1 bindings (SOAP 1.2 ones are ignored, as X-Road does)
    bindings = {}
    for b in root.iterfind(f"{{{NS_WSDL}}}binding"):
        soap = _soap11_binding(b)
        if soap is not None:
            bindings[b.get("name", "")] = (b, soap.get("style", "document"))
    if not bindings:
        raise InvalidWsdl("WSDL has no SOAP 1.1 binding (wsdl:binding with soap:binding)")
    # (4) every binding operation is a service code, with its version
    found: dict[str, str | None] = {}
    for binding, style in bindings.values():
        for op in binding.iterfind(f"{{{NS_WSDL}}}operation"):
            name = (op.get("name") or "").strip()
            if not name:
                raise InvalidWsdl("WSDL binding operation without a name")
            _check_literal(op, name, style)
            version = _operation_version(op)
            if name in found and found[name] != version:
                raise InvalidWsdl(f"WSDL operation {name!r} appears with two versions "
                                     f"({found[name]!r}, {version!r}); one per code")
            found[name] = version
    if not found:
        raise InvalidWsdl("WSDL's SOAP bindings have no operations")
    # (5) the provider's address: the first port of a SOAP 1.1 binding
    address = None
    for port in root.iterfind(f"{{{NS_WSDL}}}service/{{{NS_WSDL}}}port"):
        local = (port.get("binding") or "").rpartition(":")[2]
        addr = port.find(f"{{{NS_SOAP11}}}address")
        if local in bindings and addr is not None and addr.get("location"):
            address = addr.get("location", "").strip()
            break
    ops = tuple(sorted(WsdlOperation(code, version) for code, version in found.items()))
    return WsdlDescription(ops, address)


def rewrite_endpoints(raw: bytes, location: str = XROAD_ENDPOINT) -> bytes:
    """The WSDL with every SOAP 1.1/1.2 ``address`` set to ``location`` (PR-META getWsdl)."""
    root = safe_xml(raw)
    for ns in (NS_SOAP11, NS_SOAP12):
        for addr in root.iter(f"{{{ns}}}address"):
            addr.set("location", location)
    out: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return out
