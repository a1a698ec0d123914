"""Caller-supplied header and path text: what may reach a log row (docs/spec/exchange.md §1.1).

A consumer information system sends ``X-Road-Id``, ``X-Road-UserId``, ``X-Road-Issue``
and ``X-Road-Represented-Party`` as free text (research/xroad.md §2.2), and the rest of
the ``/r1/`` path and its query. All of them end up in the signed envelope, the message
log and the operational-monitoring record. aiohttp decodes header bytes as UTF-8 with
``surrogateescape``, so bytes that are not UTF-8 arrive as lone surrogates, which no
database can store; PostgreSQL cannot store NUL either, and the log columns have fixed
lengths (:mod:`sild.store.messagelog_tables`). A value that would fail the log commit
must be refused at the edge, once, so that it can never fail other requests' rows.

The rule (§1.1): valid Unicode text (no surrogate code points: the header bytes were
UTF-8), no control characters (Unicode category ``Cc``: C0 including NUL and TAB, DEL,
C1), at most as many characters as the log column takes. The remaining path and query
follow the same rule after percent-decoding (a ``%00`` or ``%0A`` is refused, and so is
a percent-escape that is not UTF-8).

:func:`escape_text` is the other half: the bounded, escaped form in which a value that
was refused is still recorded in operational monitoring, so the refusal is visible but
the raw value never reaches a row.

Pure: no I/O.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from sild.errors import InvalidRequest

__all__ = [
    "MAX_FAULT_STRING",
    "MAX_ISSUE",
    "MAX_MESSAGE_ID",
    "MAX_PATH",
    "MAX_REPRESENTED_PARTY",
    "MAX_REQUEST_ID",
    "MAX_USER_ID",
    "check_header",
    "check_path",
    "escape_text",
    "storable",
]

# Column lengths (sild.store.messagelog_tables; tests/unit/core/test_headertext.py checks
# they agree). X-Road-Id is message_log.message_id and opmon_records.message_id
# (String(255)); X-Road-UserId is opmon_records.message_user_id (String(255)); a
# represented party fills two String(255) columns, and 255 bounds the whole header.
MAX_MESSAGE_ID = 255
MAX_REQUEST_ID = 64  # X-Road-Request-Id: set by the consumer gateway, checked by the provider
MAX_USER_ID = 255
MAX_REPRESENTED_PARTY = 255
# Text columns have no length of their own; these bound what one request may make us
# store. An issue is a case or document reference (PR-REST §4.3): 1024 is ample. A path
# and query together are bounded by aiohttp's request-line limit (8190 bytes) anyway.
MAX_ISSUE = 1024
MAX_PATH = 8192
MAX_FAULT_STRING = 2048

# Surrogates (what surrogateescape makes of non-UTF-8 bytes) and category Cc.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_BAD = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def _problem(value: str, limit: int) -> str | None:
    """Why ``value`` breaks the rule of §1.1, or ``None`` when it keeps it."""
    if len(value) > limit:
        return f"is longer than {limit} characters"
    bad = _BAD.search(value)
    if bad is None:
        return None
    c = bad.group()
    if "\ud800" <= c <= "\udfff":
        return "is not valid UTF-8"
    return f"contains the control character U+{ord(c):04X}"


def check_header(name: str, value: str, *, limit: int) -> str:
    """``value`` unchanged if it keeps §1.1, else :class:`InvalidRequest` naming ``name``.

    The message never repeats the value (it is not text we could safely print).
    """
    problem = _problem(value, limit)
    if problem is not None:
        raise InvalidRequest(f"{name} header {problem}", header=name)
    return value


def check_path(raw: str, *, what: str = "request path", limit: int = MAX_PATH,
               utf8: bool = True) -> str:
    """A raw (percent-encoded) path or query, unchanged if it keeps §1.1 once decoded.

    Raw text with control characters or surrogates, or a percent-escape that decodes to
    a control character, is :class:`InvalidRequest`; so is an escape that is not UTF-8,
    unless ``utf8`` is false (a query may carry a legacy form encoding such as
    ISO-8859-1 ``%F5``: it travels and is logged still encoded, and is the IS's business).
    """
    problem = _problem(raw, limit)
    if problem is None:
        try:
            decoded = unquote(raw, errors="strict" if utf8 else "surrogateescape")
        except UnicodeDecodeError:
            problem = "has a percent-escape that is not UTF-8"
        else:
            bad = _CONTROL.search(decoded)
            if bad is not None:
                problem = f"encodes the control character U+{ord(bad.group()):04X}"
    if problem is not None:
        raise InvalidRequest(f"{what} {problem}")
    return raw


def storable(value: str, *, limit: int) -> bool:
    """Whether a log row can hold ``value``: no surrogate, no NUL, at most ``limit`` long.

    Weaker than :func:`check_header` (a TAB is storable); log records use it as the
    last line of defence, the edge uses :func:`check_header`.
    """
    return len(value) <= limit and _UNSTORABLE.search(value) is None


def _escape_char(m: re.Match[str]) -> str:
    c = m.group()
    if c == "\\":
        return "\\\\"
    n = ord(c)
    if 0xDC80 <= n <= 0xDCFF:  # surrogateescape: the original byte
        return f"\\x{n - 0xDC00:02x}"
    if n <= 0xFF:
        return f"\\x{n:02x}"
    return f"\\u{n:04x}"


_TO_ESCAPE = re.compile("[\\\\\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def escape_text(value: str, *, limit: int) -> str:
    """``value`` as it may be logged when it was refused: escaped and bounded.

    Valid text (§1.1) within ``limit`` comes back unchanged. Otherwise backslashes are
    doubled, control characters become ``\\xNN``, undecodable bytes (surrogateescape)
    ``\\xNN`` of the original byte, other surrogates ``\\uNNNN``; a result longer than
    ``limit`` is cut to ``limit - 1`` characters plus ``…``. The result always keeps
    §1.1 and fits ``limit`` (``limit`` ≥ 1).
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if _problem(value, limit) is None:
        return value
    out = _TO_ESCAPE.sub(_escape_char, value)
    if len(out) > limit:
        out = out[: limit - 1] + "…"
    return out
