"""C2SP tlog-checkpoint (c2sp.org/tlog-checkpoint): a log's signed tree head as a note.

The note text is (tlog-checkpoint §Note text):

1. the **origin**, a non-empty line identifying the log;
2. the **tree size** in ASCII decimal, no leading zeroes (``0`` for the empty tree);
3. the **root hash**, base64 of the RFC 6962 root at that size;
4. optional, non-empty **extension lines** (NOT RECOMMENDED: monitors cannot audit
   them and ML-DSA cosignatures do not sign them).

It is carried in a C2SP signed note (:mod:`sild.core.note`), signed by the log with
Ed25519 (tlog-tiles §Checkpoints requires one Ed25519 signature for the public witness
network) and cosigned by witnesses (c2sp.org/tlog-cosignature).
:func:`verify_checkpoint` is the only way to get a :class:`VerifiedCheckpoint`
(STYLE.md rule 2).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sild.core._b64 import b64decode_strict, b64encode
from sild.core.ledger_errors import LedgerFormatError, NoteSignatureError
from sild.core.merkle import HASH_SIZE, MAX_TREE_SIZE, RootHash
from sild.core.note import (
    COSIGNATURE_V1,
    CosignatureSigner,
    Ed25519Signer,
    NoteSignature,
    NoteVerifier,
    VerifiedNote,
    VerifiedSignature,
    format_note,
    parse_note,
    verify_note,
)

__all__ = [
    "Checkpoint",
    "VerifiedCheckpoint",
    "add_cosignature",
    "parse_checkpoint",
    "sign_checkpoint",
    "verify_checkpoint",
]

_SIZE = re.compile(r"0|[1-9][0-9]*")  # tlog-checkpoint §Note text (2): no leading zeroes


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The body of a checkpoint: what the log claims about its tree."""

    origin: str
    size: int
    root: RootHash
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise LedgerFormatError("checkpoint origin must be one non-empty line")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise LedgerFormatError(f"checkpoint tree size {self.size} is out of range")
        if len(self.root) != HASH_SIZE:
            raise LedgerFormatError("checkpoint root hash must be 32 bytes")
        for line in self.extensions:
            if not line or "\n" in line:
                raise LedgerFormatError("checkpoint extension lines must be non-empty lines")

    def body(self) -> str:
        """The note text: origin, size, base64 root, extension lines, each ending in \\n."""
        lines = [self.origin, str(self.size), b64encode(self.root), *self.extensions]
        return "".join(line + "\n" for line in lines)


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse a checkpoint note text (the body, without signatures), strictly."""
    if not text.endswith("\n"):
        raise LedgerFormatError("checkpoint text must end with a newline")
    lines = text[:-1].split("\n")
    # tlog-checkpoint §Note text: "a sequence of at least three non-empty lines".
    if len(lines) < 3:
        raise LedgerFormatError("checkpoint needs origin, size and root hash lines")
    origin, size_text, root_text, *extensions = lines
    if not _SIZE.fullmatch(size_text):
        raise LedgerFormatError(f"checkpoint tree size {size_text[:30]!r} is not canonical decimal")
    size = int(size_text)
    root = b64decode_strict(root_text, what="checkpoint root hash")
    # Checkpoint.__post_init__ checks the rest: origin, size range, root length, extensions.
    return Checkpoint(origin, size, RootHash(root), tuple(extensions))


def sign_checkpoint(
    checkpoint: Checkpoint,
    *,
    signer: Ed25519Signer,
    cosigners: Sequence[tuple[CosignatureSigner, int]] = (),
) -> bytes:
    """The signed checkpoint note: the log's signature, then ``(cosigner, timestamp)``
    cosignatures. The log's key name SHOULD match the origin (tlog-checkpoint §Signatures).
    """
    body = checkpoint.body()
    raw = body.encode("utf-8")
    sigs = [signer.sign(raw)] + [c.sign(raw, timestamp=t) for c, t in cosigners]
    return format_note(body, sigs)


def add_cosignature(signed: bytes, signature: NoteSignature) -> bytes:
    """Append one more signature line (e.g. a witness's) to a signed checkpoint."""
    note = parse_note(signed)
    if signature in note.signatures:
        return signed
    return format_note(note.text, [*note.signatures, signature])


@dataclass(frozen=True, slots=True)
class VerifiedCheckpoint:
    """A checkpoint whose log signature (and witness quorum, if asked) verified."""

    checkpoint: Checkpoint
    note: VerifiedNote
    raw: bytes  # the signed note as received, for forwarding verbatim (tlog-proof)

    @property
    def cosignatures(self) -> tuple[VerifiedSignature, ...]:
        """The verified witness cosignatures (type 0x04), with their timestamps."""
        return tuple(s for s in self.note.verified if s.sig_type == COSIGNATURE_V1)


def verify_checkpoint(
    raw: bytes,
    *,
    origin: str,
    log_keys: Sequence[NoteVerifier],
    witnesses: Sequence[NoteVerifier] = (),
    quorum: int = 0,
) -> VerifiedCheckpoint:
    """Verify a signed checkpoint from a log we trust.

    (1) the note verifies with the given keys (signed-note §Signatures: unknown keys are
    ignored, a failing known key rejects it); (2) at least one of ``log_keys`` signed it;
    (3) the body parses strictly and its origin is ``origin``; (4) at least ``quorum`` of
    ``witnesses`` cosigned it.
    """
    if not log_keys:
        raise ValueError("verify_checkpoint needs at least one log key")
    # (1)
    note = verify_note(raw, verifiers=[*log_keys, *witnesses])
    # (2)
    if not any(note.signed_by(k.name, k.key_id) for k in log_keys):
        raise NoteSignatureError("checkpoint is not signed by the log", origin=origin)
    # (3)
    checkpoint = parse_checkpoint(note.text)
    if checkpoint.origin != origin:
        raise LedgerFormatError(
            f"checkpoint origin {checkpoint.origin!r} is not {origin!r}", origin=origin
        )
    # (4)
    cosigned = len({(w.name, w.key_id) for w in witnesses if note.signed_by(w.name, w.key_id)})
    if cosigned < quorum:
        raise NoteSignatureError(
            f"checkpoint has {cosigned} witness cosignatures, {quorum} required", origin=origin
        )
    return VerifiedCheckpoint(checkpoint, note, raw)
