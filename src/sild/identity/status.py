"""Certificate status as the person CA knows it: the contract between the identity
store and the OCSP responder (docs/spec/identity.md §5; RFC 6960 §2.2).

The OCSP responder asks one question per certificate: "what is the status of the
certificate with this serial number, issued by the CA I answer for?". A
:class:`StatusSource` is bound to one issuer and answers it with a
:class:`StatusAnswer`. A suspended identity answers ``REVOKED`` with reason
``certificateHold`` (RFC 5280 §5.3.1), as Estonian ID cards do.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["CertStatus", "StatusAnswer", "StatusSource"]


class CertStatus(enum.Enum):
    """RFC 6960 §2.2 CertStatus: good, revoked or unknown."""

    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class StatusAnswer:
    """One answer. ``revoked_at`` (aware UTC) and ``reason`` are set only for REVOKED.

    ``reason`` is an RFC 5280 §5.3.1 CRLReason name as :class:`cryptography.x509.ReasonFlags`
    spells it (``"keyCompromise"``, ``"certificateHold"``, ``"unspecified"``, ...).
    """

    status: CertStatus
    revoked_at: dt.datetime | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.status is CertStatus.REVOKED:
            if self.revoked_at is None or self.revoked_at.tzinfo is None:
                raise ValueError("a REVOKED answer needs an aware revoked_at")
        elif self.revoked_at is not None or self.reason is not None:
            raise ValueError(f"a {self.status.name} answer carries no revocation data")

    @classmethod
    def good(cls) -> StatusAnswer:
        return cls(CertStatus.GOOD)

    @classmethod
    def unknown(cls) -> StatusAnswer:
        return cls(CertStatus.UNKNOWN)

    @classmethod
    def revoked(cls, at: dt.datetime, reason: str = "unspecified") -> StatusAnswer:
        return cls(CertStatus.REVOKED, at, reason)


@runtime_checkable
class StatusSource(Protocol):
    """Answers for the certificates of one issuer (the person CA)."""

    def status(self, serial: int) -> StatusAnswer:
        """The status of the certificate with this serial number, now."""
        ...
