"""The configuration anchor: what a gateway trusts before anything else.

docs/spec/globalconf.md §1 (X-Road's ``configurationAnchor``, research/xroad.md §3.5):
the instance id, where to download the global configuration, and the registry's
configuration-signing keys. The file is written for people to read, so it is
pretty-printed; parsing is strict and every error names what is wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sild.core._globalconf_codec import encode_signing_key, parse_signing_key
from sild.core._globalconf_model import SigningKey
from sild.core.canonical import parse_json_object
from sild.core.identifiers import GlobalGroupId
from sild.core.timefmt import format_rfc3339, parse_rfc3339
from sild.errors import InvalidIdentifier, InvalidRequest

__all__ = ["ANCHOR_FORMAT", "MAX_ANCHOR_BYTES", "Anchor", "encode_anchor", "parse_anchor"]

ANCHOR_FORMAT = "sild-anchor/1"
# An anchor is a handful of URLs and keys; anything this large is not an anchor.
MAX_ANCHOR_BYTES = 256 * 1024
_MAX_SOURCES = 16
_MAX_KEYS = 16


@dataclass(frozen=True, slots=True)
class Anchor:
    """A parsed configuration anchor (§1)."""

    instance: str
    generated_at: datetime
    sources: tuple[str, ...]
    keys: tuple[SigningKey, ...]

    @property
    def trusted_keys(self) -> dict[str, SigningKey]:
        """The anchor's keys by key id: the initial trusted set of §4."""
        return {k.key_id: k for k in self.keys}


def _fail(problem: str) -> InvalidRequest:
    return InvalidRequest(f"anchor: {problem}")


def _source(value: object, i: int) -> str:
    if not isinstance(value, dict) or set(value) != {"url"} or not isinstance(value["url"], str):
        raise _fail(f'sources[{i}] must be {{"url": "http(s)://..."}}')
    url: str = value["url"]
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError as e:
        raise _fail(f"sources[{i}].url {url[:80]!r} is not a valid URL") from e
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2048:
        raise _fail(f"sources[{i}].url {url[:80]!r} must be an http(s) URL")
    return url


def parse_anchor(data: bytes) -> Anchor:
    """Parse an anchor file; :class:`InvalidRequest` naming the field that is wrong."""
    if len(data) > MAX_ANCHOR_BYTES:
        raise _fail(f"file is larger than {MAX_ANCHOR_BYTES} bytes")
    obj = parse_json_object(data, "anchor")
    known = {"format", "instance", "generated_at", "sources", "keys"}
    for name in sorted(known):
        if name not in obj:
            raise _fail(f"missing field {name!r}")
    extra = sorted(set(obj) - known)
    if extra:
        raise _fail(f"unknown field {extra[0]!r}")
    if obj["format"] != ANCHOR_FORMAT:
        raise _fail(f"format must be {ANCHOR_FORMAT!r}, got {str(obj['format'])[:40]!r}")
    instance = obj["instance"]
    try:
        GlobalGroupId(instance, "x")  # the instance part obeys the identifier grammar
    except InvalidIdentifier as e:
        raise _fail(f"instance: {e}") from e
    try:
        generated_at = parse_rfc3339(obj["generated_at"])
    except ValueError as e:
        raise _fail(f"generated_at: {e}") from e
    sources, keys = obj["sources"], obj["keys"]
    if not isinstance(sources, list) or not 1 <= len(sources) <= _MAX_SOURCES:
        raise _fail(f"sources must be a list of 1-{_MAX_SOURCES} entries")
    if not isinstance(keys, list) or not 1 <= len(keys) <= _MAX_KEYS:
        raise _fail(f"keys must be a list of 1-{_MAX_KEYS} entries")
    urls = tuple(_source(s, i) for i, s in enumerate(sources))
    if len(set(urls)) != len(urls):
        raise _fail("sources lists the same URL twice")
    parsed = tuple(
        parse_signing_key(k, f"anchor: keys[{i}]", InvalidRequest) for i, k in enumerate(keys)
    )
    if len({k.key_id for k in parsed}) != len(parsed):
        raise _fail("keys lists the same key twice")
    return Anchor(instance, generated_at, urls, parsed)


def encode_anchor(anchor: Anchor) -> bytes:
    """The anchor file: pretty JSON, keys in a fixed order, a trailing newline."""
    obj: dict[str, Any] = {
        "format": ANCHOR_FORMAT,
        "instance": anchor.instance,
        "generated_at": format_rfc3339(anchor.generated_at),
        "sources": [{"url": u} for u in anchor.sources],
        "keys": [encode_signing_key(k) for k in anchor.keys],
    }
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
