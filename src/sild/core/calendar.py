"""The ledger's calendar: one RFC 6962 leaf per round, and printable publication codes.

* **Calendar record** (docs/spec/ledger.md §2, research/ksi-tlog.md §6.2): the entry of
  calendar leaf ``i`` is the fixed 48 bytes ``u64 t || u64 k || R`` (big-endian), where
  ``t`` is the *end* of round ``i`` in Unix milliseconds, ``k`` the number of hashes
  submitted in it and ``R`` the RFC 6962 root of its round tree (``SHA-256("")`` when
  ``k = 0``). Every round gets a leaf, empty or not, so ``t = genesis + (i + 1) · period``
  and the leaf index alone proves the time, as in KSI's calendar (§1.1). Sild uses
  milliseconds rather than KSI's seconds because rounds may be as short as 100 ms.
* **Publication code** (docs/spec/ledger.md §6, KSI ``KSI_PublicationData_toBase32``):
  ``base32(u64 size || root || crc32(size || root))`` without padding, in dash-separated
  groups of six characters, so a checkpoint (size, root) can be printed and typed back.

Pure: bytes and integers in and out; the clock is an input (STYLE.md rules 1 and 8).
"""

from __future__ import annotations

import base64
import binascii
import zlib
from dataclasses import dataclass

from sild.core.ledger_errors import LedgerFormatError
from sild.core.merkle import EMPTY_ROOT, HASH_SIZE, MAX_TREE_SIZE, LeafHash, RootHash, leaf_hash

__all__ = [
    "MAX_PERIOD_MS",
    "MIN_PERIOD_MS",
    "RECORD_SIZE",
    "CalendarRecord",
    "Publication",
    "RoundClock",
]

RECORD_SIZE = 8 + 8 + HASH_SIZE
MIN_PERIOD_MS = 100  # issue 4: "configurable down to 100 ms" (goksi clamps aggr_period alike)
MAX_PERIOD_MS = 20_000  # goksi service/ha.go haConfigLimits upper bound


@dataclass(frozen=True, slots=True)
class CalendarRecord:
    """The entry of one calendar leaf: when the round ended, how many hashes, its root."""

    time_ms: int
    size: int
    root: RootHash

    def __post_init__(self) -> None:
        if not 0 <= self.time_ms < 2**64 or not 0 <= self.size < 2**64:
            raise LedgerFormatError("calendar record numbers must fit in 64 bits")
        if len(self.root) != HASH_SIZE:
            raise LedgerFormatError("calendar record root must be 32 bytes")
        if self.size == 0 and self.root != EMPTY_ROOT:
            raise LedgerFormatError("an empty round has the empty-tree root")

    @classmethod
    def empty(cls, time_ms: int) -> CalendarRecord:
        """The record of a round in which nothing was submitted."""
        return cls(time_ms, 0, EMPTY_ROOT)

    def to_bytes(self) -> bytes:
        """``u64 t || u64 k || R`` (48 bytes), the calendar log entry."""
        return self.time_ms.to_bytes(8, "big") + self.size.to_bytes(8, "big") + self.root

    def leaf(self) -> LeafHash:
        """The calendar leaf hash ``SHA-256(0x00 || entry)`` (RFC 6962 §2.1)."""
        return leaf_hash(self.to_bytes())

    @classmethod
    def parse(cls, data: bytes) -> CalendarRecord:
        """Parse exactly 48 bytes."""
        if len(data) != RECORD_SIZE:
            raise LedgerFormatError(f"calendar record is {len(data)} bytes, expected {RECORD_SIZE}")
        return cls(
            int.from_bytes(data[:8], "big"),
            int.from_bytes(data[8:16], "big"),
            RootHash(bytes(data[16:])),
        )


@dataclass(frozen=True, slots=True)
class RoundClock:
    """Maps instants to round indexes: round ``i`` covers ``[genesis + i·p, genesis + (i+1)·p)``."""

    genesis_ms: int
    period_ms: int

    def __post_init__(self) -> None:
        if self.genesis_ms < 0:
            raise ValueError("genesis must not be before 1970")
        if not MIN_PERIOD_MS <= self.period_ms <= MAX_PERIOD_MS:
            raise ValueError(f"round period must be {MIN_PERIOD_MS}..{MAX_PERIOD_MS} ms")

    def round_at(self, now_ms: int) -> int:
        """The index of the round open at ``now_ms`` (-1 before genesis)."""
        return (now_ms - self.genesis_ms) // self.period_ms if now_ms >= self.genesis_ms else -1

    def end_ms(self, index: int) -> int:
        """When round ``index`` closes: the ``t`` of its calendar record."""
        return self.genesis_ms + (index + 1) * self.period_ms


# --- Publication codes ---------------------------------------------------------------------

_CODE_BYTES = 8 + HASH_SIZE + 4


@dataclass(frozen=True, slots=True)
class Publication:
    """A calendar tree head chosen for publication: a size and its root."""

    size: int
    root: RootHash

    def __post_init__(self) -> None:
        if not 0 < self.size <= MAX_TREE_SIZE or len(self.root) != HASH_SIZE:
            raise LedgerFormatError("a publication is a positive size and a 32-byte root")

    def code(self) -> str:
        """``base32(u64 size || root || crc32)`` in dash-separated groups of six."""
        body = self.size.to_bytes(8, "big") + self.root
        raw = body + zlib.crc32(body).to_bytes(4, "big")
        text = base64.b32encode(raw).decode("ascii").rstrip("=")
        return "-".join(text[i : i + 6] for i in range(0, len(text), 6))

    @classmethod
    def from_code(cls, code: str) -> Publication:
        """Parse a printed code: case, dashes and spaces do not matter; the CRC must match."""
        text = "".join(code.split()).replace("-", "").upper()
        try:
            raw = base64.b32decode(text + "=" * (-len(text) % 8))
        except (binascii.Error, ValueError) as e:
            raise LedgerFormatError("publication code is not base32") from e
        if len(raw) != _CODE_BYTES:
            raise LedgerFormatError(f"publication code holds {len(raw)} bytes, expected 44")
        if base64.b32encode(raw).decode("ascii").rstrip("=") != text:
            raise LedgerFormatError("publication code is not canonical base32")
        body, crc = raw[:-4], raw[-4:]
        if zlib.crc32(body).to_bytes(4, "big") != crc:
            raise LedgerFormatError("publication code checksum does not match (a typo?)")
        return cls(int.from_bytes(body[:8], "big"), RootHash(bytes(body[8:])))
