"""Where the SOAP part is in an HTTP body (PR-MESS §4; SOAP with Attachments; MTOM/XOP).

Three forms reach the IS port:

* ``text/xml`` — the body is the SOAP envelope;
* ``multipart/related`` with a ``text/xml`` root part — SOAP with Attachments;
* ``multipart/related; type="application/xop+xml"`` — MTOM, the root part an XOP
  package of the envelope.

The body is never re-encoded: this module only finds the SOAP part's bytes (what the
request hash covers, research/xroad.md §2.3) and checks that the multipart structure is
whole (every part delimited, the close delimiter present) and that no attachment is
larger than allowed. The bytes travel on unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message

from sild.errors import SoapInvalidContentType, SoapMimeParsingFailed

__all__ = ["MimeLimits", "SoapBody", "split_body"]


@dataclass(frozen=True, slots=True)
class MimeLimits:
    """Limits on a multipart message, each with its reason."""

    # One attachment: the whole body is already bounded by the gateway's max_body; this
    # keeps a single part from taking all of it when an operator lowers it (docs/operations.md).
    max_attachment: int = 32 * 1024 * 1024
    # Parts per message: each is a slice and a header parse.
    max_parts: int = 100


DEFAULT_LIMITS = MimeLimits()

# RFC 2046 §5.1.1: 1-70 characters from bchars, not ending in a space.
_BOUNDARY = re.compile(r"^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$")


_PLAIN = re.compile(r"\s*text/xml\s*(;\s*charset=\"?utf-8\"?\s*)?$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class SoapBody:
    """The SOAP part of a body and how the body was framed."""

    soap: bytes  # the envelope (the root part's content)
    offset: int  # where ``soap`` starts in the body
    multipart: bool
    mtom: bool
    attachments: int


def _params(content_type: str) -> tuple[str, dict[str, str]]:
    m = Message()
    m["content-type"] = content_type
    main = m.get_content_type()  # lower case; text/plain when unparsable
    params = {k.lower(): v for k, v in m.get_params(failobj=[])[1:] if isinstance(v, str)}
    return main, params


def split_body(content_type: str, body: bytes, limits: MimeLimits = DEFAULT_LIMITS
               ) -> SoapBody:
    """The SOAP part of ``body`` sent with ``content_type``."""
    if not content_type.strip():
        raise SoapInvalidContentType("Content-Type is missing")
    if _PLAIN.match(content_type):  # the common case, without a MIME header parse
        return SoapBody(body, 0, multipart=False, mtom=False, attachments=0)
    main, params = _params(content_type)
    if main == "text/xml":
        return SoapBody(body, 0, multipart=False, mtom=False, attachments=0)
    if main != "multipart/related":
        raise SoapInvalidContentType(f"invalid content type {main!r}: SOAP needs text/xml "
                                     "or multipart/related")
    boundary = params.get("boundary", "")
    if not _BOUNDARY.match(boundary):
        raise SoapMimeParsingFailed("multipart/related without a valid boundary parameter")
    mtom = params.get("type", "").lower() == "application/xop+xml"
    parts = _parts(body, boundary.encode("ascii"), limits)
    head, content, offset = parts[0]
    root_main, root_params = _params(head.get("content-type", "text/xml"))
    if mtom:
        if root_main != "application/xop+xml" or "text/xml" not in root_params.get(
                "type", "").lower():
            raise SoapInvalidContentType("MTOM root part must be application/xop+xml "
                                         'with type="text/xml"')
    elif root_main != "text/xml":
        raise SoapInvalidContentType(f"SOAP part must be text/xml, not {root_main!r}")
    return SoapBody(content, offset, multipart=True, mtom=mtom, attachments=len(parts) - 1)


def _parts(body: bytes, boundary: bytes, limits: MimeLimits
           ) -> list[tuple[dict[str, str], bytes, int]]:
    """(lower-case headers, content) of each part; the close delimiter must be there."""
    delimiter = b"--" + boundary
    start = body.find(delimiter)
    if start < 0 or (start > 0 and body[start - 2:start] != b"\r\n"):
        raise SoapMimeParsingFailed("multipart body without its first boundary")
    parts: list[tuple[dict[str, str], bytes, int]] = []
    pos = start + len(delimiter)
    while True:
        if body.startswith(b"--", pos):  # the close delimiter
            break
        line_end = body.find(b"\r\n", pos)
        if line_end < 0 or body[pos:line_end].strip(b" \t"):
            raise SoapMimeParsingFailed("malformed multipart boundary line")
        nxt = body.find(b"\r\n" + delimiter, line_end)
        if nxt < 0:
            raise SoapMimeParsingFailed("multipart body ends without its close boundary")
        headers, content, skip = _part(body[line_end + 2:nxt])
        if parts and len(content) > limits.max_attachment:
            raise SoapMimeParsingFailed(
                f"attachment of {len(content)} bytes exceeds the limit of "
                f"{limits.max_attachment}")
        parts.append((headers, content, line_end + 2 + skip))
        if len(parts) > limits.max_parts:
            raise SoapMimeParsingFailed(f"more than {limits.max_parts} MIME parts")
        pos = nxt + 2 + len(delimiter)
    if not parts:
        raise SoapMimeParsingFailed("multipart body without parts")
    return parts


def _part(raw: bytes) -> tuple[dict[str, str], bytes, int]:
    """Headers, content and the content's offset in ``raw``."""
    end = raw.find(b"\r\n\r\n")
    if raw.startswith(b"\r\n"):  # no headers at all
        return {}, raw[2:], 2
    if end < 0:
        raise SoapMimeParsingFailed("MIME part without a blank line after its headers")
    headers: dict[str, str] = {}
    for line in raw[:end].split(b"\r\n"):
        name, colon, value = line.partition(b":")
        if not colon:
            raise SoapMimeParsingFailed("malformed MIME part header")
        headers[name.strip().decode("latin-1").lower()] = value.strip().decode("latin-1")
    return headers, raw[end + 4:], end + 4
