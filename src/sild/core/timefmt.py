"""RFC 3339 timestamps as Sild writes them: UTC, whole seconds, a ``Z`` suffix.

``2026-11-22T16:00:00Z`` and nothing else (docs/spec/globalconf.md §2: "All times
RFC 3339 UTC with a Z, whole seconds"). One spelling per instant keeps signed
bytes stable; a parser that accepted offsets or fractions would let two byte
strings mean the same document.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

__all__ = ["format_rfc3339", "parse_rfc3339"]

_ZERO = timedelta(0)

_RFC3339_Z = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z")


def format_rfc3339(when: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ``; :class:`ValueError` for naive or sub-second times."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("timestamps must be timezone-aware")
    if when.microsecond:
        raise ValueError("timestamps must be whole seconds")
    if when.utcoffset() != _ZERO:
        when = when.astimezone(UTC)
    return when.replace(tzinfo=None).isoformat() + "Z"  # isoformat: C-fast, same text


def parse_rfc3339(text: object) -> datetime:
    """Parse the one spelling :func:`format_rfc3339` writes; :class:`ValueError` otherwise."""
    if not isinstance(text, str):
        raise ValueError(f"expected an RFC 3339 UTC time string, got {type(text).__name__}")
    m = _RFC3339_Z.fullmatch(text)
    if m is None:
        raise ValueError(f"{text[:40]!r} is not an RFC 3339 UTC time like 2026-11-22T16:00:00Z")
    year, month, day, hour, minute, second = (int(g) for g in m.groups())
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError as e:
        raise ValueError(f"{text!r} is not a valid date and time: {e}") from e


def format_micros(when: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ``: log timestamps (message log, usage records)."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("log timestamps must be timezone-aware")
    return when.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"
