"""The X-Road 4.0 SOAP header and its checks (PR-MESS v4.0 §2.1–2.3, Annex H;
research/xroad.md §2.3). Pure: bytes in, a :class:`SoapRequest` out.

Steps (docs/spec/soap.md §2):

1. the SOAP part is well-formed, DTD-free XML (sild.soap.safexml);
2. its root is a SOAP 1.1 ``Envelope`` with a ``Header`` and a ``Body``;
3. each X-Road header field appears at most once (``DuplicateHeaderField``), and
   ``client``, ``service``, ``id``, ``protocolVersion`` are there (``MissingHeaderField``);
4. ``protocolVersion`` is ``4.0`` (``InvalidProtocolVersion``);
5. the Body's wrapper element is named after ``serviceCode`` (``InconsistentHeaders``).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from typing import NamedTuple

from lxml import etree

from sild.core.identifiers import ClientId, MemberId, ServiceId, SubsystemId
from sild.errors import (
    InvalidIdentifier,
    SoapDuplicateHeaderField,
    SoapError,
    SoapInconsistentHeaders,
    SoapInconsistentResponse,
    SoapInvalidProtocolVersion,
    SoapMissingBody,
    SoapMissingHeaderField,
)
from sild.soap.safexml import parse_xml

__all__ = ["ENV", "HASH_ALGORITHM", "ID", "REPR", "SILD", "XRD", "SoapRequest",
           "add_request_hash", "check_response", "echo_header", "parse_request",
           "response_request_hash", "soap_request_hash"]

ENV = "http://schemas.xmlsoap.org/soap/envelope/"
XRD = "http://x-road.eu/xsd/xroad.xsd"
ID = "http://x-road.eu/xsd/identifiers"
REPR = "http://x-road.eu/xsd/representation.xsd"
# Sild's header extension: the data subject and purpose of a personal-data request
# (docs/spec/soap.md §5), the SOAP form of Sild-Data-Subject and Sild-Purpose.
SILD = "https://sild.dev/xsd/sild.xsd"
HASH_ALGORITHM = "http://www.w3.org/2001/04/xmlenc#sha512"
PROTOCOL_VERSION = "4.0"

_MANDATORY = ("client", "service", "id", "protocolVersion")
_STRING_FIELDS = ("id", "userId", "issue", "protocolVersion", "requestHash")


def soap_request_hash(soap_part: bytes) -> str:
    """X-Road's requestHash: SHA-512 of the raw SOAP part, base64 (PR-MESS §2.3)."""
    return base64.b64encode(hashlib.sha512(soap_part).digest()).decode()


class SoapRequest(NamedTuple):
    """A checked X-Road 4.0 request header and its body's wrapper element (a named
    tuple: immutable, and built in a third of a frozen dataclass's time, twice per
    request)."""

    client: ClientId
    service: ServiceId  # by serviceCode: access rights ignore the version (PR-MESS §3.1)
    service_code: str  # as sent
    service_version: str  # "" when absent; checked against the registered one
    message_id: str
    user_id: str
    issue: str
    security_server: str  # INSTANCE/CLASS/MEMBER/SERVERCODE, or ""
    represented_party: str  # [CLASS/]CODE, or ""
    data_subjects: tuple[str, ...]
    purpose: str
    body_tag: str  # "{namespace}local" of the Body's wrapper element


def _text(el: etree._Element) -> str:
    return (el.text or "").strip()


# Full tags ("{namespace}local"), looked up in a dict of an element's children built in
# one pass, with no per-child string work (docs/benchmarks.md, "SOAP exchange").
_XRD, _ID, _REPR, _ENV = f"{{{XRD}}}", f"{{{ID}}}", f"{{{REPR}}}", f"{{{ENV}}}"
_OBJECT_TYPE = f"{_ID}objectType"
_SUBJECT, _PURPOSE = f"{{{SILD}}}dataSubject", f"{{{SILD}}}purpose"


def _children(el: etree._Element, ns: str) -> dict[str, etree._Element]:
    """Elements of ``el`` in namespace ``ns`` by local name; a repeat is refused."""
    out: dict[str, etree._Element] = {}
    skip = len(ns) + 2
    for child in el.iterchildren(f"{{{ns}}}*"):  # elements of ns only, filtered in C
        name = str(child.tag)[skip:]
        if name in out:
            raise SoapDuplicateHeaderField(f"Duplicate header field '{name}'")
        out[name] = child
    return out


def _by_tag(el: etree._Element) -> dict[str, etree._Element] | None:
    """``el``'s children by full tag, or None when a tag repeats (comments share one)."""
    kids = {child.tag: child for child in el}
    return kids if len(kids) == len(el) else None


def _local(el: etree._Element) -> str:
    tag = str(el.tag)
    return tag[tag.find("}") + 1:]


def _identifier(el: etree._Element, what: str, kinds: tuple[str, ...],
                parts: tuple[str, ...], required: int) -> tuple[str, list[str]]:
    """An X-Road identifier's ``objectType`` and the texts of its ``parts`` (local names
    in the identifiers namespace, "" when absent), the first ``required`` of them
    non-empty; a part that repeats is refused."""
    kind = el.get(_OBJECT_TYPE, "")
    if kind not in kinds:
        raise InvalidIdentifier(f"{what}: objectType must be one of {', '.join(kinds)}, "
                                f"not {kind!r}")
    texts: dict[str, str | None] = {child.tag: child.text for child in el}
    if len(texts) != len(el):  # a tag repeats: the exact check, which refuses id:* twice
        texts = {f"{_ID}{k}": v.text for k, v in _children(el, ID).items()}
    values = [(texts.get(tag) or "").strip() for tag in _id_tags(parts)]
    if not all(values[:required]):
        missing = parts[values.index("")]
        raise SoapMissingHeaderField(f"Required field '{missing}' of {what} is missing")
    return kind, values


@functools.cache
def _id_tags(parts: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(_ID + name for name in parts)


def _envelope(root: etree._Element) -> tuple[etree._Element | None, etree._Element]:
    if root.tag != f"{_ENV}Envelope":
        raise SoapError("Malformed SOAP message: not a SOAP 1.1 Envelope")
    kids = _by_tag(root)
    if kids is None:  # something twice: the exact check, which refuses a second Body
        kids = {f"{_ENV}{k}": v for k, v in _children(root, ENV).items()}
    body = kids.get(f"{_ENV}Body")
    if body is None:
        raise SoapMissingBody("Malformed SOAP message: body missing")
    return kids.get(f"{_ENV}Header"), body


def _header_fields(header: etree._Element
                   ) -> tuple[dict[str, etree._Element], list[etree._Element]]:
    """(3) The Header's children by full tag, and the Sild dataSubject elements (which
    may repeat); an X-Road field, a representedParty or a Sild purpose that repeats is
    refused."""
    fields = _by_tag(header)
    if fields is not None:  # the common case: nothing twice
        subject = fields.get(_SUBJECT)
        return fields, [] if subject is None else [subject]
    fields, subjects = {}, []
    for child in header:
        tag = child.tag
        if tag == _SUBJECT:
            subjects.append(child)
            continue
        if tag in fields and isinstance(tag, str) and (
                tag.startswith((_XRD, _REPR)) or tag == _PURPOSE):
            raise SoapDuplicateHeaderField(f"Duplicate header field '{_local(child)}'")
        fields[tag] = child
    return fields, subjects


def _wrapper(body: etree._Element) -> etree._Element:
    for child in body.iterchildren("{*}*", "*"):  # elements only, not comments
        return child
    raise SoapMissingBody("Malformed SOAP message: body missing")


# The same few identifiers arrive on every request: built (and checked) once each.
@functools.lru_cache(maxsize=4096)
def _client(instance: str, member_class: str, member_code: str, subsystem: str
            ) -> ClientId:
    member = MemberId(instance, member_class, member_code)
    return SubsystemId(member, subsystem) if subsystem else member


@functools.lru_cache(maxsize=4096)
def _service(instance: str, member_class: str, member_code: str, subsystem: str,
             code: str) -> ServiceId:
    return ServiceId(SubsystemId(MemberId(instance, member_class, member_code), subsystem),
                     code)


_CLIENT_PARTS = ("xRoadInstance", "memberClass", "memberCode", "subsystemCode")
_SERVICE_PARTS = ("xRoadInstance", "memberClass", "memberCode", "subsystemCode",
                  "serviceCode", "serviceVersion")
_SERVER_PARTS = ("xRoadInstance", "memberClass", "memberCode", "serverCode")


def parse_request(soap_part: bytes) -> SoapRequest:
    """Steps 1–5 of the module docstring over the SOAP part of a request."""
    header, body = _envelope(parse_xml(soap_part))  # (1)(2)
    if header is None:
        raise SoapMissingHeaderField("Required field 'client' is missing: no SOAP Header")
    fields, subject_elements = _header_fields(header)  # (3)
    for name in _MANDATORY:
        if _XRD + name not in fields:
            raise SoapMissingHeaderField(f"Required field '{name}' is missing")
    version_text = _text(fields[_XRD + "protocolVersion"])
    if version_text != PROTOCOL_VERSION:  # (4)
        raise SoapInvalidProtocolVersion(
            f"Invalid protocol version: {version_text!r} (must be 4.0)")
    kind, (instance, member_class, member_code, subsystem) = _identifier(
        fields[_XRD + "client"], "client", ("MEMBER", "SUBSYSTEM"), _CLIENT_PARTS, 3)
    if kind == "SUBSYSTEM" and not subsystem:
        raise SoapMissingHeaderField("Required field 'subsystemCode' of client is missing")
    _, s = _identifier(fields[_XRD + "service"], "service", ("SERVICE",), _SERVICE_PARTS, 5)
    code, version = s[4], s[5]
    # The values are literal text (PR-MESS Annex H): built as identifiers directly, each
    # part checked against PR-REST §4.8's characters — never joined with "/" and parsed
    # as a REST path, which would percent-decode "70%30" into another member's code.
    client = _client(instance, member_class, member_code,
                     subsystem if kind == "SUBSYSTEM" else "")
    service = _service(s[0], s[1], s[2], s[3], code)
    server = ""
    server_element = fields.get(_XRD + "securityServer")
    if server_element is not None:
        _, g = _identifier(server_element, "securityServer", ("SERVER",), _SERVER_PARTS, 4)
        server = "/".join(g)
    represented = ""
    party = fields.get(_REPR + "representedParty")
    if party is not None:
        p = {k: _text(v) for k, v in _children(party, REPR).items()}
        if not p.get("partyCode"):
            raise SoapMissingHeaderField("Required field 'partyCode' of representedParty "
                                         "is missing")
        represented = f"{p['partyClass']}/{p['partyCode']}" if p.get("partyClass") \
            else p["partyCode"]
    purpose_element = fields.get(_PURPOSE)
    wrapper = _wrapper(body)
    if _local(wrapper) != code:  # (5)
        raise SoapInconsistentHeaders(
            f"Malformed SOAP message: body element '{_local(wrapper)}' "
            f"does not match service code '{code}'")
    return SoapRequest(
        client=client, service=service, service_code=code,
        service_version=version, message_id=_text(fields[_XRD + "id"]),
        user_id=_optional_text(fields, _XRD + "userId"),
        issue=_optional_text(fields, _XRD + "issue"),
        security_server=server, represented_party=represented,
        data_subjects=tuple(_text(e) for e in subject_elements),
        purpose="" if purpose_element is None else _text(purpose_element),
        body_tag=str(wrapper.tag))


def _optional_text(fields: dict[str, etree._Element], tag: str) -> str:
    element = fields.get(tag)
    return "" if element is None else _text(element)


def check_response(soap_part: bytes, *, service_code: str, message_id: str
                   ) -> etree._Element | None:
    """Check an IS's SOAP answer against its request (X-Road ``InconsistentResponse``):
    ``{serviceCode}Response`` as the wrapper, the request's ``id`` and no requestHash of
    its own. The parsed root, or None for a fault (passed on as the IS sent it)."""
    try:
        root = parse_xml(soap_part)
        header, body = _envelope(root)
        wrapper = _wrapper(body)
    except SoapError as e:
        raise SoapInconsistentResponse(f"the service answered invalid SOAP: {e.message}"
                                       ) from None
    if wrapper.tag == f"{{{ENV}}}Fault":
        return None
    if _local(wrapper) != f"{service_code}Response":
        raise SoapInconsistentResponse(
            f"response body element '{_local(wrapper)}' is not "
            f"'{service_code}Response'")
    fields = _header_fields(header)[0] if header is not None else {}
    answered_id = fields.get(_XRD + "id")
    if answered_id is not None and _text(answered_id) != message_id:
        raise SoapInconsistentResponse("response id does not match the request id")
    if _XRD + "requestHash" in fields:
        raise SoapInconsistentResponse("the service's response carries a requestHash")
    return root


def add_request_hash(body: bytes, soap_offset: int, soap_len: int, request_hash: str,
                     root: etree._Element) -> bytes:
    """``body`` with ``<xrd:requestHash>`` first in the Header of its SOAP part (parsed
    as ``root``), every other byte as it was (PR-MESS §2.3: the provider gateway adds it;
    first, so that it is the first requestHash in the message)."""
    soap = body[soap_offset:soap_offset + soap_len]
    element = (f'<xrd:requestHash xmlns:xrd="{XRD}" algorithmId="{HASH_ALGORITHM}">'
               f"{request_hash}</xrd:requestHash>").encode()
    header = _envelope(root)[0]
    if header is None:
        prefix = (root.prefix + ":").encode() if root.prefix else b""
        at = _start_tag(soap, prefix + b"Body")
        new = (soap[:at] + b"<" + prefix + b"Header>" + element + b"</" + prefix
               + b"Header>" + soap[at:])
    else:
        hprefix = (header.prefix + ":").encode() if header.prefix else b""
        at = _start_tag(soap, hprefix + b"Header")
        end = soap.index(b">", at)
        if soap[end - 1:end] == b"/":  # <p:Header/>
            new = (soap[:end - 1] + b">" + element + b"</" + hprefix + b"Header>"
                   + soap[end + 1:])
        else:
            new = soap[:end + 1] + element + soap[end + 1:]
    return body[:soap_offset] + new + body[soap_offset + soap_len:]


def _start_tag(soap: bytes, qname: bytes) -> int:
    """Where ``<qname`` (followed by space, '>' or '/') starts."""
    m = re.search(b"<" + re.escape(qname) + rb"[\s>/]", soap)
    if m is None:
        raise SoapInconsistentResponse(f"{qname.decode()} cannot be located")
    return m.start()


_REQUEST_HASH = re.compile(rb"<(?:[\w.-]+:)?requestHash\b[^>]*>([^<]*)<")


def response_request_hash(soap_part: bytes) -> str | None:
    """The first requestHash in a SOAP response (the one the provider gateway put first
    in its Header), if any; a byte search, the response being signed by then."""
    m = _REQUEST_HASH.search(soap_part)
    return m.group(1).decode("ascii", "replace").strip() if m else None


def echo_header(soap_part: bytes) -> bytes:
    """The request's SOAP Header, serialised, for a gateway-made answer to echo."""
    header, _ = _envelope(parse_xml(soap_part))
    if header is None:
        return b""
    return bytes(etree.tostring(header))
