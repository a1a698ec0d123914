"""Strict standard base64 (RFC 4648 §4), as the C2SP text formats use it.

Strict means: only the standard alphabet, correct padding, and the canonical encoding
(no stray bits in the last character), so one value has exactly one text form.
"""

from __future__ import annotations

import base64
import binascii

from sild.core.ledger_errors import LedgerFormatError

__all__ = ["b64decode_strict", "b64encode"]


def b64encode(data: bytes) -> str:
    """Standard base64 with padding."""
    return base64.b64encode(data).decode("ascii")


def b64decode_strict(text: str, *, what: str) -> bytes:
    """Decode canonical standard base64 or raise :class:`LedgerFormatError` naming ``what``."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as e:
        raise LedgerFormatError(f"{what} is not valid base64") from e
    if b64encode(raw) != text:
        raise LedgerFormatError(f"{what} is not canonical base64")
    return raw
