"""C2SP tlog-proof (c2sp.org/tlog-proof@v1): an offline-verifiable inclusion receipt.

The proof is a sequence of newline-separated lines (tlog-proof §Format):

1. the line ``c2sp.org/tlog-proof@v1``;
2. optionally ``extra <base64>``: opaque, *unauthenticated* application data;
3. ``index <N>``: the zero-based leaf index, ASCII decimal, no leading zeroes;
4. zero or more base64 SHA-256 hashes, the RFC 6962 §2.1.1 inclusion path from the
   leaf's sibling up to the root's child;
5. an empty line, then the (cosigned) checkpoint note verbatim (c2sp.org/tlog-checkpoint).

It is the open-standard analogue of a KSI signature (research/ksi-tlog.md §2.2, §6.1).
Sild carries KSI's *round path* — where the submitted hash sits in its one-second
round tree — in the ``extra`` line (:class:`RoundPath`), so a receipt chains two
standard RFC 6962 proofs: leaf → round root, then calendar leaf → checkpoint.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sild.core._b64 import b64decode_strict, b64encode
from sild.core.checkpoint import VerifiedCheckpoint, verify_checkpoint
from sild.core.ledger_errors import LedgerFormatError
from sild.core.merkle import (
    HASH_SIZE,
    LeafHash,
    RootHash,
    inclusion_proof_length,
    root_from_inclusion_proof,
    verify_inclusion,
)
from sild.core.note import NoteVerifier

__all__ = [
    "HEADER",
    "ROUND_PATH_MAGIC",
    "RoundPath",
    "TlogProof",
    "VerifiedTlogProof",
    "format_tlog_proof",
    "parse_tlog_proof",
    "verify_tlog_proof",
]

HEADER = b"c2sp.org/tlog-proof@v1"  # tlog-proof §Format: "The first line MUST be …"
MAX_PATH = 64  # an inclusion path in a tree of < 2**64 leaves has at most 64 hashes
MAX_EXTRA = 64 * 1024  # bound the opaque data a stranger can make us decode
_DECIMAL = re.compile(rb"0|[1-9][0-9]*")


@dataclass(frozen=True, slots=True)
class TlogProof:
    """A parsed, *unverified* tlog-proof."""

    index: int
    proof: tuple[bytes, ...]
    checkpoint: bytes  # the signed checkpoint note, verbatim
    extra: bytes | None = None  # opaque and unauthenticated (tlog-proof §Format)

    def __post_init__(self) -> None:
        if self.index < 0:
            raise LedgerFormatError("tlog-proof index must be non-negative")
        if len(self.proof) > MAX_PATH or any(len(h) != HASH_SIZE for h in self.proof):
            raise LedgerFormatError("tlog-proof path must be at most 64 hashes of 32 bytes")
        if self.extra is not None and not 0 < len(self.extra) <= MAX_EXTRA:
            raise LedgerFormatError("tlog-proof extra data must be 1..65536 bytes, or absent")


def format_tlog_proof(proof: TlogProof) -> bytes:
    """The ``.tlog-proof`` file contents (tlog-proof §Format)."""
    lines = [HEADER]
    if proof.extra is not None:  # (2) "If no extra data is present, this line is omitted."
        lines.append(b"extra " + b64encode(proof.extra).encode())
    lines.append(b"index %d" % proof.index)  # (3)
    lines.extend(b64encode(h).encode() for h in proof.proof)  # (4)
    return b"\n".join(lines) + b"\n\n" + proof.checkpoint  # (5)


def parse_tlog_proof(raw: bytes) -> TlogProof:
    """Parse a ``.tlog-proof`` strictly; the checkpoint is not verified here."""
    # (5) The header part ends at the first empty line; the checkpoint follows verbatim.
    head, sep, checkpoint = raw.partition(b"\n\n")
    if not sep or not checkpoint:
        raise LedgerFormatError("tlog-proof has no checkpoint after an empty line")
    lines = head.split(b"\n")
    # (1)
    if lines[0] != HEADER:
        raise LedgerFormatError("tlog-proof does not start with c2sp.org/tlog-proof@v1")
    pos = 1
    # (2)
    extra = None
    if pos < len(lines) and lines[pos].startswith(b"extra "):
        extra = b64decode_strict(lines[pos][6:].decode("ascii", "replace"), what="extra data")
        if not extra:
            raise LedgerFormatError("tlog-proof extra line carries no data")
        pos += 1
    # (3)
    if pos >= len(lines) or not lines[pos].startswith(b"index "):
        raise LedgerFormatError("tlog-proof has no index line")
    index_text = lines[pos][6:]
    if not _DECIMAL.fullmatch(index_text) or len(index_text) > 20:
        raise LedgerFormatError("tlog-proof index is not canonical decimal")
    pos += 1
    # (4) one base64 SHA-256 hash per line.
    path_lines = lines[pos:]
    if len(path_lines) > MAX_PATH:
        raise LedgerFormatError(f"tlog-proof has more than {MAX_PATH} proof lines")
    path = []
    for line in path_lines:
        h = b64decode_strict(line.decode("ascii", "replace"), what="tlog-proof hash")
        if len(h) != HASH_SIZE:
            raise LedgerFormatError("tlog-proof hash is not 32 bytes")
        path.append(h)
    return TlogProof(int(index_text), tuple(path), checkpoint, extra)


@dataclass(frozen=True, slots=True)
class VerifiedTlogProof:
    """A leaf proven included in a checkpoint signed by the log (and cosigned, if asked)."""

    leaf: LeafHash
    index: int
    checkpoint: VerifiedCheckpoint
    extra: bytes | None  # still unauthenticated: only what it leads to can be trusted


def verify_tlog_proof(
    raw: bytes,
    *,
    leaf: LeafHash,
    origin: str,
    log_keys: Sequence[NoteVerifier],
    witnesses: Sequence[NoteVerifier] = (),
    quorum: int = 0,
) -> VerifiedTlogProof:
    """(1) parse; (2) verify the checkpoint's log signature, origin and witness quorum
    (:func:`~sild.core.checkpoint.verify_checkpoint`); (3) verify the inclusion of
    ``leaf`` at ``index`` against the checkpoint's size and root (RFC 9162 §2.1.3.2)."""
    proof = parse_tlog_proof(raw)  # (1)
    vc = verify_checkpoint(  # (2)
        proof.checkpoint, origin=origin, log_keys=log_keys, witnesses=witnesses, quorum=quorum
    )
    cp = vc.checkpoint
    verify_inclusion(  # (3)
        leaf=leaf, index=proof.index, size=cp.size, proof=proof.proof, root=cp.root
    )
    return VerifiedTlogProof(leaf, proof.index, vc, proof.extra)


# --- Sild's round path, carried in the extra line ---------------------------------------

ROUND_PATH_MAGIC = b"sild-round-path/v1\n"


@dataclass(frozen=True, slots=True)
class RoundPath:
    """Where a submitted hash sits in its round tree (KSI's aggregation hash chain).

    Binary form (big-endian)::

        "sild-round-path/v1\\n" || u64 round_index || u64 round_size || u64 leaf_index
                                || u8 count || count × 32-byte hashes

    ``round_index`` is the round's leaf index in the calendar log; the hashes are the
    RFC 9162 §2.1.3.1 inclusion path of the submitted leaf in the round's RFC 6962 tree.
    """

    round_index: int
    round_size: int
    leaf_index: int
    path: tuple[bytes, ...]

    def __post_init__(self) -> None:
        for v in (self.round_index, self.round_size, self.leaf_index):
            if not 0 <= v < 2**64:
                raise LedgerFormatError("round path numbers must fit in 64 bits")
        if not self.leaf_index < self.round_size:
            raise LedgerFormatError("round path leaf index is outside its round")
        if len(self.path) != inclusion_proof_length(self.leaf_index, self.round_size):
            raise LedgerFormatError("round path has the wrong number of hashes for its position")
        if any(len(h) != HASH_SIZE for h in self.path):
            raise LedgerFormatError("round path hashes must be 32 bytes")

    def to_bytes(self) -> bytes:
        """The binary form above, for :attr:`TlogProof.extra`."""
        return (
            ROUND_PATH_MAGIC
            + self.round_index.to_bytes(8, "big")
            + self.round_size.to_bytes(8, "big")
            + self.leaf_index.to_bytes(8, "big")
            + bytes([len(self.path)])
            + b"".join(self.path)
        )

    @classmethod
    def parse(cls, data: bytes) -> RoundPath:
        """Parse the binary form strictly (exact length, consistent path length)."""
        fixed = len(ROUND_PATH_MAGIC) + 3 * 8 + 1
        if len(data) < fixed or not data.startswith(ROUND_PATH_MAGIC):
            raise LedgerFormatError("not a Sild round path")
        pos = len(ROUND_PATH_MAGIC)
        nums = [int.from_bytes(data[pos + 8 * i : pos + 8 * i + 8], "big") for i in range(3)]
        count = data[fixed - 1]
        if len(data) != fixed + count * HASH_SIZE:
            raise LedgerFormatError("round path length does not match its hash count")
        path = tuple(data[i : i + HASH_SIZE] for i in range(fixed, len(data), HASH_SIZE))
        return cls(nums[0], nums[1], nums[2], path)

    def round_root(self, leaf: LeafHash) -> RootHash:
        """The round tree's root that this path leads to from ``leaf``.

        Compare it with the round root committed in the calendar leaf at
        ``round_index`` (proven by the tlog-proof) before trusting it.
        """
        return root_from_inclusion_proof(
            leaf=leaf, index=self.leaf_index, size=self.round_size, proof=self.path
        )
