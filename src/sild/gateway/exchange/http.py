"""HTTP details both sides share: header filtering, bounded bodies, content codings.

Errors are answered by :func:`sild.web.errors.answer_for`, the one mapper every Sild
service uses.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

from sild.core.usage import TRACKER_HEADERS
from sild.errors import InvalidRequest

__all__ = ["HOP_BY_HOP", "check_content_coding", "forwardable"]

# RFC 9110 §7.6.1 hop-by-hop headers, plus those a proxy rewrites (PR-REST §4.3:
# Host, User-Agent and Server are dropped or rewritten; lengths are recomputed).
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
    "te", "trailer", "transfer-encoding", "upgrade", "host", "content-length", "user-agent",
    "server", "date",
})


def forwardable(headers: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """User headers to pass on (PR-REST §4.3): not hop-by-hop, not X-Road's or Sild's
    own, except the data tracker's request headers, which the provider gateway reads
    from the signed envelope (docs/spec/tracker.md §1)."""
    out = []
    for name, value in headers:
        low = name.lower()
        if low in HOP_BY_HOP or (low.startswith(("x-road-", "sild-"))
                                 and low not in TRACKER_HEADERS):
            continue
        out.append((low, value))
    return tuple(out)


def check_content_coding(coding: str, body: bytes, limit: int) -> None:
    """A compressed request body travels untouched with its ``Content-Encoding`` (the
    provider IS decodes it); it must decode, to at most ``limit`` bytes, or the request
    is :class:`InvalidRequest` (a decompression bomb is refused, never expanded).
    Codings other than gzip and deflate are passed on unchecked."""
    coding = coding.strip().lower()
    if not coding or coding == "identity":
        return
    if coding in ("gzip", "x-gzip"):
        wbits = 16 + zlib.MAX_WBITS
    elif coding == "deflate":
        wbits = zlib.MAX_WBITS  # RFC 9110 §8.4.1.2: the zlib format
    else:
        return
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as e:
        raise InvalidRequest(f"request body is not valid {coding}: {e}") from e
    if len(out) > limit or inflater.unconsumed_tail:
        raise InvalidRequest(f"request body decompresses to more than {limit} bytes")
    if not inflater.eof:
        raise InvalidRequest(f"request body is truncated {coding}")
