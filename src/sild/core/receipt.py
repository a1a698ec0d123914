"""Sild ledger receipts: a C2SP tlog-proof whose ``extra`` line carries the round data.

A receipt (docs/spec/ledger.md §4) is a ``c2sp.org/tlog-proof@v1`` file
(:mod:`sild.core.tlogproof`) over the *calendar* log. Its ``index`` is the round's
calendar leaf and its ``extra`` is :class:`ReceiptExtra`::

    "sild-receipt/v1\\n" || u8 n || imprint (n bytes) || u64 t (Unix ms) || RoundPath

so the verifier rebuilds the whole chain from the document alone (§4.2):

1. hash the document with the imprint's algorithm and compare with the imprint;
2. ``leaf = SHA-256(0x00 || imprint)``; the round path leads to the round root ``R``;
3. the calendar entry ``u64 t || u64 k || R`` (:class:`~sild.core.calendar.CalendarRecord`)
   gives the calendar leaf;
4. the tlog-proof's inclusion path leads from that leaf, at ``index = round_index``, to
   the checkpoint's root.

These are the *internal* checks (KSI's internal policy): they need no key. Who signed
the checkpoint is decided by :mod:`sild.core.verification`.

:func:`extend_receipt` upgrades a receipt to a later checkpoint (e.g. a publication)
from the ledger's public tiles (docs/spec/ledger.md §4.3), as KSI's extender does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sild.core.calendar import CalendarRecord
from sild.core.checkpoint import Checkpoint, parse_checkpoint
from sild.core.imprint import Imprint, parse_imprint
from sild.core.ledger_errors import LedgerFormatError, ProofError
from sild.core.merkle import (
    LeafHash,
    consistency_proof_from,
    inclusion_proof_from,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from sild.core.note import parse_note
from sild.core.tiles import TileFetch, TileReader
from sild.core.tlogproof import RoundPath, TlogProof, format_tlog_proof, parse_tlog_proof

__all__ = [
    "RECEIPT_MAGIC",
    "InternallyConsistentReceipt",
    "ReceiptExtra",
    "check_receipt",
    "extend_receipt",
    "format_receipt",
    "parse_receipt",
]

RECEIPT_MAGIC = b"sild-receipt/v1\n"
MAX_IMPRINT = 65  # SHA-512 / SHA3-512: 1 id byte + 64 digest bytes


@dataclass(frozen=True, slots=True)
class ReceiptExtra:
    """What the tlog-proof's ``extra`` line carries: the imprint, the round time, the path."""

    imprint: bytes  # as submitted: algorithm id || digest (parsed by the verifier)
    time_ms: int
    round_path: RoundPath

    def to_bytes(self) -> bytes:
        """The binary form of the module docstring."""
        if not 0 < len(self.imprint) <= MAX_IMPRINT:
            raise LedgerFormatError("receipt imprint must be 1..65 bytes")
        return (
            RECEIPT_MAGIC
            + bytes([len(self.imprint)])
            + self.imprint
            + self.time_ms.to_bytes(8, "big")
            + self.round_path.to_bytes()
        )

    @classmethod
    def parse(cls, data: bytes) -> ReceiptExtra:
        """Parse strictly: magic, imprint length, time, then an exact RoundPath."""
        head = len(RECEIPT_MAGIC)
        if not data.startswith(RECEIPT_MAGIC) or len(data) < head + 1:
            raise LedgerFormatError("receipt extra data is not a Sild receipt")
        n = data[head]
        if not 0 < n <= MAX_IMPRINT or len(data) < head + 1 + n + 8:
            raise LedgerFormatError("receipt extra data is truncated")
        imprint = bytes(data[head + 1 : head + 1 + n])
        pos = head + 1 + n
        time_ms = int.from_bytes(data[pos : pos + 8], "big")
        return cls(imprint, time_ms, RoundPath.parse(bytes(data[pos + 8 :])))


def format_receipt(
    *,
    extra: ReceiptExtra,
    calendar_proof: Sequence[bytes],
    checkpoint: bytes,
) -> bytes:
    """The ``.tlog-proof`` file of one submitted hash (docs/spec/ledger.md §4.1)."""
    return format_tlog_proof(
        TlogProof(
            index=extra.round_path.round_index,
            proof=tuple(calendar_proof),
            checkpoint=checkpoint,
            extra=extra.to_bytes(),
        )
    )


@dataclass(frozen=True, slots=True)
class InternallyConsistentReceipt:
    """A receipt whose hash chain leads from its imprint to its checkpoint's root.

    Nothing about *who* signed the checkpoint is known yet.
    """

    imprint: Imprint
    round_index: int
    time_ms: int
    round_size: int
    calendar_leaf: LeafHash
    checkpoint: Checkpoint  # the body, unverified
    checkpoint_note: bytes  # the signed note, verbatim

    @property
    def time(self) -> datetime:
        """The round's end: the document existed before this instant."""
        return datetime.fromtimestamp(self.time_ms / 1000, tz=UTC)


def parse_receipt(raw: bytes) -> tuple[TlogProof, ReceiptExtra]:
    """Parse the tlog-proof and its Sild extra; verify nothing."""
    proof = parse_tlog_proof(raw)
    if proof.extra is None:
        raise LedgerFormatError("tlog-proof has no Sild receipt extra line")
    return proof, ReceiptExtra.parse(proof.extra)


def check_receipt(
    raw: bytes, *, imprint: bytes, parsed: dict[bytes, Checkpoint] | None = None
) -> InternallyConsistentReceipt:
    """Internal verification, docs/spec/ledger.md §4.2 steps 1–4 (no keys needed).

    ``imprint`` is the document's imprint as the verifier computed or was given it.
    Raises :class:`LedgerFormatError` for malformed input and :class:`ProofError` when
    the chain does not lead to the checkpoint. ``parsed`` caches checkpoint bodies by
    note bytes (receipts of one round share their checkpoint).
    """
    proof, extra = parse_receipt(raw)
    rp = extra.round_path
    # (1) the document's imprint is the submitted one.
    if imprint != extra.imprint:
        raise ProofError("the document's hash is not the hash in the receipt")
    # The algorithm must have been trusted when the round closed (KSI checks the
    # aggregation time, research/ksi-tlog.md §1.2).
    try:
        round_time = datetime.fromtimestamp(extra.time_ms / 1000, tz=UTC)
    except (ValueError, OverflowError, OSError) as e:
        raise LedgerFormatError(f"receipt round time {extra.time_ms} is out of range") from e
    alg = parse_imprint(extra.imprint, at=round_time)
    # (2) leaf → round root.
    round_root = rp.round_root(leaf_hash(extra.imprint))
    # (3) the calendar entry of the round.
    record = CalendarRecord(extra.time_ms, rp.round_size, round_root)
    # (4) calendar leaf → checkpoint root, at the round's index.
    if proof.index != rp.round_index:
        raise ProofError("receipt index is not the round's calendar index")
    checkpoint = parsed.get(proof.checkpoint) if parsed is not None else None
    if checkpoint is None:
        checkpoint = parse_checkpoint(parse_note(proof.checkpoint).text)
        if parsed is not None:
            if len(parsed) >= 1024:
                parsed.clear()
            parsed[proof.checkpoint] = checkpoint
    cal_leaf = record.leaf()
    verify_inclusion(
        leaf=cal_leaf,
        index=proof.index,
        size=checkpoint.size,
        proof=proof.proof,
        root=checkpoint.root,
    )
    return InternallyConsistentReceipt(
        imprint=alg,
        round_index=rp.round_index,
        time_ms=extra.time_ms,
        round_size=rp.round_size,
        calendar_leaf=cal_leaf,
        checkpoint=checkpoint,
        checkpoint_note=proof.checkpoint,
    )


def extend_receipt(raw: bytes, *, checkpoint: bytes, fetch: TileFetch) -> bytes:
    """The receipt re-anchored to ``checkpoint`` (a later checkpoint or a publication),
    with proofs rebuilt from the calendar's tiles (docs/spec/ledger.md §4.3).

    (1) the receipt is internally consistent (§4.2 steps 2–4, without the document);
    (2) the new checkpoint is of the same log and no smaller (equal size: equal root);
    (3) the consistency proof from the receipt's checkpoint to the new one, read from
    the tiles, verifies (RFC 9162 §2.1.4.2), so the two are one history, not a fork;
    (4) the calendar leaf's new inclusion path, read from the tiles, verifies against
    the new root. Tiles come from an untrusted server: a wrong or truncated tile raises
    :class:`ProofError` or :class:`LedgerFormatError`, never a wrong receipt. Signatures
    are not checked here: the verifier judges the new checkpoint (key, witnesses or a
    publication code).
    """
    proof, extra = parse_receipt(raw)
    old = check_receipt(raw, imprint=extra.imprint)  # (1)
    new = parse_checkpoint(parse_note(checkpoint).text)  # (2)
    if new.origin != old.checkpoint.origin:
        raise LedgerFormatError(
            f"checkpoint of {new.origin!r}, the receipt is from {old.checkpoint.origin!r}"
        )
    if new.size < old.checkpoint.size:
        raise LedgerFormatError(
            f"checkpoint size {new.size} is older than the receipt's {old.checkpoint.size}"
        )
    reader = TileReader(fetch, new.size)
    verify_consistency(  # (3)
        old_size=old.checkpoint.size,
        new_size=new.size,
        old_root=old.checkpoint.root,
        new_root=new.root,
        proof=consistency_proof_from(reader.node, old.checkpoint.size, new.size),
    )
    path = inclusion_proof_from(reader.node, proof.index, new.size)  # (4)
    verify_inclusion(
        leaf=old.calendar_leaf, index=proof.index, size=new.size, proof=path, root=new.root
    )
    return format_tlog_proof(TlogProof(proof.index, tuple(path), checkpoint, proof.extra))
