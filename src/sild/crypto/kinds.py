"""The kinds of keys and certificates Sild uses, as plain enums.

Kept apart from :mod:`sild.crypto.keys` and :mod:`sild.crypto.certs` so that code that
only names a kind (the CLI's argument parser) does not import cryptography.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["CertPurpose", "KeyType"]


class KeyType(StrEnum):
    """The key algorithms Sild issues and accepts."""

    ED25519 = "ed25519"
    P256 = "p256"


class CertPurpose(StrEnum):
    """The two leaf profiles: gateway TLS identity (auth) and message signing (sign)."""

    AUTH = "auth"
    SIGN = "sign"
