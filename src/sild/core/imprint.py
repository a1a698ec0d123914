"""KSI-style hash imprints with time-aware algorithm deprecation.

An *imprint* is ``algorithm id (1 byte) || digest`` (Guardtime libksi ``src/ksi/hash.h``,
``hash.c``; research/ksi-tlog.md §1.2). The ledger's trees stay SHA-256 (RFC 6962, C2SP
tlog-tiles), but the hash a client submits for its document is an imprint, so a client
can move to a stronger algorithm without a new ledger, and a verifier can refuse an
algorithm that was already weak when the hash was submitted.

Each algorithm has a *deprecated from* and an *obsolete from* date, checked against
the time of the operation, which is an input (STYLE.md rule 8): :func:`parse_imprint`
never reads the clock. An algorithm is accepted strictly before its deprecation date.

Algorithm ids are libksi's (research/ksi-tlog.md §1.2): 0x03 and 0x06 are retired
("do not reuse") and are refused like unknown ids.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from sild.core.ledger_errors import HashAlgorithmError

__all__ = [
    "ALGORITHMS",
    "HashAlgorithm",
    "Imprint",
    "parse_imprint",
]


@dataclass(frozen=True, slots=True)
class HashAlgorithm:
    """One row of the algorithm table."""

    id: int
    name: str
    digest_size: int
    hashlib_name: str | None  # None when this Python cannot compute it (still parseable)
    deprecated_from: datetime | None = None  # refuse new imprints from this instant on
    obsolete_from: datetime | None = None  # refuse even old imprints from this instant on

    def status_at(self, at: datetime) -> str:
        """``"trusted"``, ``"deprecated"`` or ``"obsolete"`` at instant ``at``."""
        at = _aware(at)
        if self.obsolete_from is not None and at >= self.obsolete_from:
            return "obsolete"
        if self.deprecated_from is not None and at >= self.deprecated_from:
            return "deprecated"
        return "trusted"


def _utc(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, tzinfo=UTC)


# research/ksi-tlog.md §1.2 (libksi src/ksi/hash.h): ids and the one published date,
# SHA-1 deprecated from 2016-07-01. No obsolete dates are published there; add them
# here when a KSI or NIST source gives one, never by guessing.
ALGORITHMS: dict[int, HashAlgorithm] = {
    a.id: a
    for a in (
        HashAlgorithm(0x00, "SHA-1", 20, "sha1", deprecated_from=_utc(2016, 7, 1)),
        HashAlgorithm(0x01, "SHA-256", 32, "sha256"),
        HashAlgorithm(0x02, "RIPEMD-160", 20, None),
        HashAlgorithm(0x04, "SHA-384", 48, "sha384"),
        HashAlgorithm(0x05, "SHA-512", 64, "sha512"),
        HashAlgorithm(0x07, "SHA3-224", 28, "sha3_224"),
        HashAlgorithm(0x08, "SHA3-256", 32, "sha3_256"),
        HashAlgorithm(0x09, "SHA3-384", 48, "sha3_384"),
        HashAlgorithm(0x0A, "SHA3-512", 64, "sha3_512"),
        HashAlgorithm(0x0B, "SM3", 32, None),
    )
}
_BY_NAME = {a.name.upper(): a for a in ALGORITHMS.values()}


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("time must be timezone-aware (UTC)")
    return at


@dataclass(frozen=True, slots=True)
class Imprint:
    """A parsed imprint: an algorithm from :data:`ALGORITHMS` and a digest of its size."""

    algorithm: HashAlgorithm
    digest: bytes

    def __bytes__(self) -> bytes:
        return bytes([self.algorithm.id]) + self.digest

    def to_bytes(self) -> bytes:
        """``algorithm id || digest``."""
        return bytes(self)

    def hex(self) -> str:
        """Lower-case hex of the imprint bytes, KSI's usual text form."""
        return bytes(self).hex()

    @classmethod
    def of(cls, data: bytes, *, algorithm: str = "SHA-256", at: datetime) -> Imprint:
        """Hash ``data`` with ``algorithm`` (refused if deprecated at ``at``)."""
        alg = _BY_NAME.get(algorithm.upper())
        if alg is None or alg.hashlib_name is None:
            raise HashAlgorithmError(f"cannot compute {algorithm!r} imprints", name=algorithm)
        _check_usable(alg, at)
        return cls(alg, hashlib.new(alg.hashlib_name, data).digest())


def _check_usable(alg: HashAlgorithm, at: datetime) -> None:
    status = alg.status_at(at)
    if status != "trusted":
        raise HashAlgorithmError(
            f"{alg.name} is {status} at {at.isoformat()}", algorithm=alg.name, status=status
        )


def parse_imprint(raw: bytes, *, at: datetime) -> Imprint:
    """Parse ``id || digest``; refuse unknown or retired ids, a digest of the wrong
    length, and algorithms deprecated (or obsolete) at instant ``at``."""
    if not raw:
        raise HashAlgorithmError("empty imprint")
    alg = ALGORITHMS.get(raw[0])
    if alg is None:
        raise HashAlgorithmError(f"unknown hash algorithm id 0x{raw[0]:02x}", id=raw[0])
    if len(raw) - 1 != alg.digest_size:
        raise HashAlgorithmError(
            f"{alg.name} imprint has {len(raw) - 1} digest bytes, expected {alg.digest_size}",
            algorithm=alg.name,
        )
    _check_usable(alg, at)
    return Imprint(alg, bytes(raw[1:]))
