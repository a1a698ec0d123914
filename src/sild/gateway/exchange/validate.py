"""Caller-supplied header text, checked once at the edge before anything stores it.

PR-REST §4.3 headers (X-Road-Id, X-Road-UserId, X-Road-Issue, …) reach the signed
envelope, the message log and the monitoring record: a value that is not valid UTF-8
(aiohttp hands undecodable bytes over as lone surrogates), holds control characters
or is longer than its log column is the caller's error (Client.InvalidRequest), never
something the database is left to refuse.
"""

from __future__ import annotations

from sild.errors import InvalidRequest

__all__ = ["header_value"]


def header_value(name: str, value: str, limit: int) -> str:
    """``value`` if it is printable text of at most ``limit`` characters."""
    if len(value) > limit:
        raise InvalidRequest(f"{name} is longer than {limit} characters")
    if not value.isprintable():
        raise InvalidRequest(f"{name} holds control characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidRequest(f"{name} is not valid UTF-8") from e
    return value
