"""The signed manifest of a snapshot: which chunks, in which order, with which hashes.

A C2SP signed note (the ledger's checkpoint format, sild.core.note) whose text is::

    sild-embassy-snapshot/1
    {"chunks":[["<sha256 hex>",<bytes>],…],"created_at":"…","id":"…","kind":"gateway",…}

The JSON line is canonical (sorted keys, no spaces), signed with the Ed25519 key of
the site that made the snapshot. The chunk hashes are over the ciphertext, so a site
can check a snapshot's authenticity and completeness without being able to read it;
what the plaintext holds (files, database images, row counts, anchoring state) is
inside the encrypted payload, authenticated through these hashes. Pure: bytes in,
:class:`VerifiedManifest` out (STYLE.md rule 2).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sild.core.ledger_errors import LedgerFormatError
from sild.core.note import Ed25519Signer, Ed25519Verifier, sign_note, verify_note
from sild.errors import ConfigurationError, NoteSignatureError, SnapshotInvalid

__all__ = ["FORMAT", "Chunk", "Manifest", "VerifiedManifest", "sign_manifest",
           "verify_manifest"]

FORMAT = "sild-embassy-snapshot/1"
KINDS = ("gateway", "registry", "ledger")
_ID = re.compile(r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}")
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Chunk:
    sha256: str  # hex, of the ciphertext file
    size: int


@dataclass(frozen=True, slots=True)
class Manifest:
    id: str  # YYYYMMDDTHHMMSSZ-random: sorts by time
    kind: str  # gateway | registry | ledger
    created_at: str  # ISO 8601 UTC
    source: str  # the folder's name at the site that made it (informational)
    recipients: tuple[str, ...]  # age1… keys the payload is encrypted to
    chunks: tuple[Chunk, ...]

    @property
    def size(self) -> int:
        return sum(c.size for c in self.chunks)

    def text(self) -> str:
        body = {"chunks": [[c.sha256, c.size] for c in self.chunks],
                "created_at": self.created_at, "id": self.id, "kind": self.kind,
                "recipients": list(self.recipients), "source": self.source}
        return f"{FORMAT}\n{json.dumps(body, sort_keys=True, separators=(',', ':'))}\n"


@dataclass(frozen=True, slots=True)
class VerifiedManifest:
    """A manifest whose signature verified with a trusted site key. Only
    :func:`verify_manifest` makes one."""

    manifest: Manifest
    signer: str  # the trusted key's name


def sign_manifest(manifest: Manifest, *, signer: Ed25519Signer) -> bytes:
    return sign_note(manifest.text(), signer=signer)


def _parse(text: str) -> Manifest:
    head, sep, rest = text.partition("\n")
    if head != FORMAT or not sep:
        raise SnapshotInvalid(f"manifest is not {FORMAT}")
    try:
        body: dict[str, Any] = json.loads(rest)
        chunks = tuple(Chunk(str(h), int(n)) for h, n in body["chunks"])
        m = Manifest(id=str(body["id"]), kind=str(body["kind"]),
                     created_at=str(body["created_at"]), source=str(body["source"]),
                     recipients=tuple(str(r) for r in body["recipients"]), chunks=chunks)
    except (ValueError, KeyError, TypeError) as e:
        raise SnapshotInvalid(f"malformed manifest ({e})") from e
    if not _ID.fullmatch(m.id) or m.kind not in KINDS or not m.chunks:
        raise SnapshotInvalid("malformed manifest (id, kind or chunk list)")
    if any(not _HEX64.fullmatch(c.sha256) or c.size <= 0 for c in m.chunks):
        raise SnapshotInvalid("malformed manifest (a chunk hash or size)")
    return m


def verify_manifest(raw: bytes, *, trusted: Sequence[Ed25519Verifier]) -> VerifiedManifest:
    """Check the signature against the trusted site keys, then parse; else
    :class:`SnapshotInvalid` (names what is wrong, never which byte)."""
    if not trusted:
        raise ConfigurationError("no trusted site key: give --trust SITE.pub")
    try:
        note = verify_note(raw, verifiers=list(trusted))
    except LedgerFormatError as e:
        raise SnapshotInvalid(f"malformed manifest ({e})") from e
    except NoteSignatureError as e:
        raise SnapshotInvalid(f"manifest is not signed by a trusted site key ({e})") from e
    if not note.verified:
        raise SnapshotInvalid("manifest is not signed by a trusted site key")
    return VerifiedManifest(_parse(note.text), note.verified[0].name)


def peek_manifest(raw: bytes) -> Manifest:
    """The manifest *unverified*, for listing only (never for restoring)."""
    from sild.core.note import parse_note

    try:
        return _parse(parse_note(raw).text)
    except LedgerFormatError as e:
        raise SnapshotInvalid(f"malformed manifest ({e})") from e
