"""Safe XML parsing for SOAP messages from the network (docs/spec/soap.md §2).

A SOAP message never needs a DTD (SOAP 1.1 §3: "A SOAP message MUST NOT contain a
Document Type Declaration"), so any ``<!DOCTYPE`` is refused before the parser sees it:
no entity is declared, expanded (billion laughs) or fetched (XXE). The parser itself is
also set to resolve no entities, load no DTD and touch no network, in case a
declaration hides behind an encoding the byte check does not read. Deep nesting and
oversize trees are refused by the limits below.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from lxml import etree

from sild.errors import SoapError

__all__ = ["XmlLimits", "parse_xml"]


@dataclass(frozen=True, slots=True)
class XmlLimits:
    """Limits on one SOAP part, each with its reason."""

    # X-Road messages are a few levels deep (Envelope/Body/wrapper/fields); 64 levels
    # leave room for nested business data and stop stack-exhausting input early.
    max_depth: int = 64
    # Elements per message: bounds the tree's memory next to the byte limit (a 64 KiB
    # body of "<a/>" is 16 Ki elements, each ~ 1 KiB in lxml).
    max_elements: int = 200_000


DEFAULT_LIMITS = XmlLimits()

# One parser per thread is what lxml recommends; a parser is not shared across threads,
# and the gateway parses on its event loop thread only.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                          dtd_validation=False, huge_tree=False, remove_blank_text=False,
                          collect_ids=False)


def parse_xml(data: bytes, limits: XmlLimits = DEFAULT_LIMITS) -> etree._Element:
    """The root element of ``data``; :class:`~sild.errors.SoapError` for anything that is
    not a well-formed, DTD-free document within ``limits``."""
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise SoapError("XML with a document type declaration is not allowed")
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as e:
        raise SoapError(f"malformed XML: {e.msg}") from None
    except ValueError as e:  # e.g. an encoding declaration lxml refuses for bytes
        raise SoapError(f"malformed XML: {e}") from None
    docinfo: Any = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise SoapError("XML with a document type declaration is not allowed")
    # Cheap bounds first: fewer '<' than the depth limit cannot nest past it, and every
    # element takes at least 4 bytes ("<a/>").
    if data.count(b"<") > limits.max_depth or len(data) // 4 > limits.max_elements:
        _check_shape(root, limits)
    return root


def _check_shape(root: etree._Element, limits: XmlLimits) -> None:
    """Depth and size, evaluated by libxml2's XPath in C (no Python per element)."""
    deep, count = _checks(limits.max_depth)
    if deep(root) is True:
        raise SoapError(f"XML nested deeper than {limits.max_depth} levels")
    elements = count(root)
    if isinstance(elements, float) and elements > limits.max_elements:
        raise SoapError(f"XML with more than {limits.max_elements} elements")


@functools.lru_cache(maxsize=8)
def _checks(max_depth: int) -> tuple[etree.XPath, etree.XPath]:
    # an element max_depth + 1 levels down from the document node exists
    return (etree.XPath("boolean(" + "/*" * (max_depth + 1) + ")"),
            etree.XPath("count(//*)"))
