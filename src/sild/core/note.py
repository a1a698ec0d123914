"""C2SP signed-note (c2sp.org/signed-note@v1.0.0) with Ed25519 keys and cosignatures.

A signed note is a UTF-8 text ending in a newline, a blank line, then one or more
signature lines ``— <key name> base64(key ID (4 bytes, big-endian) || signature)``
(signed-note §Format). The key ID is ``SHA-256(name || 0x0A || type || public key)[:4]``
(§Signatures). Two signature types are implemented:

* ``0x01`` Ed25519 over the note text (signed-note §Ed25519 signatures);
* ``0x04`` timestamped Ed25519 witness cosignatures (c2sp.org/tlog-cosignature
  §Format, §Ed25519 signed message): ``u64 timestamp || Ed25519 signature`` over
  ``"cosignature/v1\\ntime <t>\\n" || note text``.

Verifier keys ("vkeys") are written ``<name>+<hex key ID>+base64(type || public key)``
and signer keys ``PRIVATE+KEY+<name>+<hex key ID>+base64(0x01 || seed)``, as in the
reference implementation golang.org/x/mod/sumdb/note that signed-note and
tlog-cosignature §Format point to.

Verification (:func:`verify_note`) follows signed-note §Signatures: signatures from
unknown keys are ignored, a known key's failing signature rejects the whole note, and a
note with no verified signature from a known key is rejected.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sild.core._b64 import b64decode_strict, b64encode
from sild.core.ledger_errors import LedgerFormatError, NoteSignatureError
from sild.errors import ConfigurationError

__all__ = [
    "COSIGNATURE_V1",
    "ED25519",
    "MAX_NOTE_SIZE",
    "MAX_SIGNATURES",
    "CosignatureSigner",
    "CosignatureVerifier",
    "Ed25519Signer",
    "Ed25519Verifier",
    "Note",
    "NoteSignature",
    "NoteVerifier",
    "VerifiedNote",
    "VerifiedSignature",
    "format_note",
    "key_id",
    "parse_note",
    "parse_signer_key",
    "parse_verifier_key",
    "sign_note",
    "verify_note",
]

ED25519 = 0x01  # signed-note §Signature types
COSIGNATURE_V1 = 0x04  # signed-note §Signature types; tlog-cosignature §Format

# signed-note §Signatures: "Verifiers SHOULD apply a maximum limit to the number of
# signatures … but MUST accept at least up to 16". 100 is the Go reference's limit;
# the size bound keeps a stranger's note from costing us more than a few milliseconds.
MAX_SIGNATURES = 100
MAX_NOTE_SIZE = 1 << 20

_DASH = "\u2014 "  # em dash, space (signed-note §Format)
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")  # control characters other than newline
_SIG_LINE = re.compile(r"\u2014 ([^ ]+) ([^ ]+)")
_COSIG_HEADER = b"cosignature/v1\n"  # tlog-cosignature §Ed25519 signed message
_MAX_TIMESTAMP = 2**63 - 1  # tlog-cosignature §Format: "MUST NOT exceed 2^63 - 1"


def _check_name(name: str) -> str:
    # signed-note §Format: "Key names MUST be non-empty and MUST NOT contain any
    # Unicode spaces or plus (U+002B) characters."
    if not name or "+" in name or any(c.isspace() for c in name) or _CONTROL.search(name):
        raise LedgerFormatError(f"invalid key name {name!r}")
    return name


def key_id(name: str, sig_type: int, public_key: bytes) -> int:
    """``SHA-256(name || 0x0A || type || public key)[:4]`` as a big-endian uint32
    (signed-note §Signatures)."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


# --- Parsing and formatting --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One signature line: key name, key ID and the signature bytes after the ID."""

    name: str
    key_id: int
    signature: bytes

    def line(self) -> str:
        """The signature line, ending in a newline (signed-note §Signatures)."""
        blob = self.key_id.to_bytes(4, "big") + self.signature
        return f"{_DASH}{self.name} {b64encode(blob)}\n"


@dataclass(frozen=True, slots=True)
class Note:
    """A syntactically valid, *unverified* signed note. Its text must not be trusted."""

    text: str
    signatures: tuple[NoteSignature, ...]


def _check_text(text: str) -> None:
    # signed-note §Format: a text ending in newline; no control characters but newline.
    if not text.endswith("\n"):
        raise LedgerFormatError("note text must end with a newline")
    if _CONTROL.search(text):
        raise LedgerFormatError("note text contains a control character")


def parse_note(raw: bytes) -> Note:
    """Split a signed note into text and signature lines, strictly; verify nothing."""
    if len(raw) > MAX_NOTE_SIZE:
        raise LedgerFormatError(f"note is larger than {MAX_NOTE_SIZE} bytes")
    try:
        whole = raw.decode("utf-8")  # "Signed notes MUST be valid UTF-8"
    except UnicodeDecodeError as e:
        raise LedgerFormatError("note is not valid UTF-8") from e
    if _CONTROL.search(whole):
        raise LedgerFormatError("note contains a control character")
    # "the text is separated from the signatures by the last empty line in the note"
    split = whole.rfind("\n\n")
    if split < 0:
        raise LedgerFormatError("note has no blank line before its signatures")
    text, block = whole[: split + 1], whole[split + 2 :]
    if not block.endswith("\n"):
        raise LedgerFormatError("note has no signature lines, or the last one has no newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise LedgerFormatError(f"note has more than {MAX_SIGNATURES} signatures")
    return Note(text, tuple(_parse_sig_line(line) for line in lines))


def _parse_sig_line(line: str) -> NoteSignature:
    m = _SIG_LINE.fullmatch(line)
    if m is None:
        raise LedgerFormatError(f"malformed signature line {line[:80]!r}")
    name = _check_name(m.group(1))
    blob = b64decode_strict(m.group(2), what=f"signature of {name}")
    if len(blob) < 5:  # a 4-byte key ID and at least one signature byte
        raise LedgerFormatError(f"signature of {name} is too short")
    return NoteSignature(name, int.from_bytes(blob[:4], "big"), blob[4:])


def format_note(text: str, signatures: Sequence[NoteSignature]) -> bytes:
    """Text, a blank line, then the signature lines (signed-note §Format)."""
    _check_text(text)
    if not signatures:
        raise LedgerFormatError("a signed note needs at least one signature")
    for s in signatures:
        _check_name(s.name)
    return (text + "\n" + "".join(s.line() for s in signatures)).encode("utf-8")


# --- Keys -------------------------------------------------------------------------------


class NoteVerifier(Protocol):
    """A trusted public key: verifies signatures of one (name, key ID, type)."""

    @property
    def name(self) -> str: ...
    @property
    def key_id(self) -> int: ...
    @property
    def sig_type(self) -> int: ...
    @property
    def public_key(self) -> bytes: ...
    def verify(self, text: bytes, signature: bytes) -> bool: ...


def _vkey(name: str, sig_type: int, public_key: bytes) -> str:
    key64 = b64encode(bytes([sig_type]) + public_key)
    return f"{name}+{key_id(name, sig_type, public_key):08x}+{key64}"


def _ed25519_ok(public_key: bytes, signature: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except InvalidSignature:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Ed25519Verifier:
    """An Ed25519 note key, signature type 0x01 (signed-note §Ed25519 signatures)."""

    name: str
    public_key: bytes
    sig_type: int = ED25519

    def __post_init__(self) -> None:
        _check_name(self.name)
        if len(self.public_key) != 32:
            raise LedgerFormatError("an Ed25519 public key is 32 bytes")

    @property
    def key_id(self) -> int:
        """``SHA-256(name || 0x0A || 0x01 || key)[:4]``."""
        return key_id(self.name, self.sig_type, self.public_key)

    def vkey(self) -> str:
        """``name+keyid+base64(0x01 || key)``."""
        return _vkey(self.name, self.sig_type, self.public_key)

    def verify(self, text: bytes, signature: bytes) -> bool:
        """Ed25519 (RFC 8032) over the note text."""
        return len(signature) == 64 and _ed25519_ok(self.public_key, signature, text)


def _cosigned_message(text: bytes, timestamp: int) -> bytes:
    # tlog-cosignature §Ed25519 signed message: header line, timestamp line, note body.
    return _COSIG_HEADER + b"time %d\n" % timestamp + text


@dataclass(frozen=True, slots=True)
class CosignatureVerifier:
    """A witness's Ed25519 cosignature key, type 0x04 (c2sp.org/tlog-cosignature)."""

    name: str
    public_key: bytes
    sig_type: int = COSIGNATURE_V1

    def __post_init__(self) -> None:
        _check_name(self.name)
        if len(self.public_key) != 32:
            raise LedgerFormatError("an Ed25519 public key is 32 bytes")

    @property
    def key_id(self) -> int:
        """``SHA-256(name || 0x0A || 0x04 || key)[:4]`` (tlog-cosignature §Format)."""
        return key_id(self.name, self.sig_type, self.public_key)

    def vkey(self) -> str:
        """``name+keyid+base64(0x04 || key)``."""
        return _vkey(self.name, self.sig_type, self.public_key)

    @staticmethod
    def timestamp_of(signature: bytes) -> int:
        """The POSIX timestamp a cosignature carries (``timestamped_signature.timestamp``)."""
        if len(signature) != 72:
            raise LedgerFormatError("an Ed25519 cosignature is 8 + 64 bytes")
        return int.from_bytes(signature[:8], "big")

    def verify(self, text: bytes, signature: bytes) -> bool:
        """``timestamp || Ed25519(cosignature/v1, time, body)`` (tlog-cosignature §Format)."""
        if len(signature) != 72:
            return False
        timestamp = int.from_bytes(signature[:8], "big")
        if timestamp > _MAX_TIMESTAMP:
            return False
        return _ed25519_ok(self.public_key, signature[8:], _cosigned_message(text, timestamp))


def _split_key(text: str, parts: int, what: str) -> list[str]:
    # The name and hex ID cannot contain "+"; the base64 key may, so split from the left.
    fields = text.split("+", parts - 1)
    if len(fields) != parts:
        raise LedgerFormatError(f"malformed {what}")
    return fields


def parse_verifier_key(vkey: str) -> Ed25519Verifier | CosignatureVerifier:
    """Parse ``name+hexid+base64(type || key)``; the ID must match the key."""
    name, hex_id, key64 = _split_key(vkey, 3, "verifier key")
    _check_name(name)
    if not re.fullmatch(r"[0-9a-f]{8}", hex_id):
        raise LedgerFormatError("verifier key ID must be 8 lower-case hex digits")
    key = b64decode_strict(key64, what="verifier key")
    verifier: Ed25519Verifier | CosignatureVerifier
    if len(key) == 33 and key[0] == ED25519:
        verifier = Ed25519Verifier(name, key[1:])
    elif len(key) == 33 and key[0] == COSIGNATURE_V1:
        verifier = CosignatureVerifier(name, key[1:])
    else:
        raise LedgerFormatError("verifier key is not an Ed25519 (0x01) or cosignature (0x04) key")
    if verifier.key_id != int(hex_id, 16):
        raise LedgerFormatError("verifier key ID does not match its key")
    return verifier


class Ed25519Signer:
    """A note signing key (type 0x01). Keep it secret; its text form starts PRIVATE+KEY."""

    __slots__ = ("_key", "name")

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        self.name = _check_name(name)
        self._key = private_key

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> Ed25519Signer:
        """From a 32-byte RFC 8032 private key seed."""
        if len(seed) != 32:
            raise LedgerFormatError("an Ed25519 seed is 32 bytes")
        return cls(name, Ed25519PrivateKey.from_private_bytes(seed))

    def verifier(self) -> Ed25519Verifier:
        """The matching public verifier."""
        return Ed25519Verifier(self.name, self._key.public_key().public_bytes_raw())

    def signer_key(self) -> str:
        """``PRIVATE+KEY+name+hexid+base64(0x01 || seed)`` (golang.org/x/mod/sumdb/note)."""
        v = self.verifier()
        seed = self._key.private_bytes_raw()
        return f"PRIVATE+KEY+{self.name}+{v.key_id:08x}+{b64encode(bytes([ED25519]) + seed)}"

    def sign(self, text: bytes) -> NoteSignature:
        """Sign the note text."""
        return NoteSignature(self.name, self.verifier().key_id, self._key.sign(text))

    def __repr__(self) -> str:
        return f"Ed25519Signer({self.name!r}, <secret>)"


class CosignatureSigner:
    """A witness's cosigning key (type 0x04, c2sp.org/tlog-cosignature)."""

    __slots__ = ("_key", "name")

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        self.name = _check_name(name)
        self._key = private_key

    def verifier(self) -> CosignatureVerifier:
        """The matching public verifier."""
        return CosignatureVerifier(self.name, self._key.public_key().public_bytes_raw())

    def sign(self, text: bytes, *, timestamp: int) -> NoteSignature:
        """Cosign a checkpoint body at POSIX ``timestamp`` (an input, never the clock)."""
        if not 0 <= timestamp <= _MAX_TIMESTAMP:
            raise ValueError("cosignature timestamp must be in 0 .. 2**63-1")
        sig = self._key.sign(_cosigned_message(text, timestamp))
        return NoteSignature(self.name, self.verifier().key_id, timestamp.to_bytes(8, "big") + sig)

    def __repr__(self) -> str:
        return f"CosignatureSigner({self.name!r}, <secret>)"


def parse_signer_key(skey: str) -> Ed25519Signer:
    """Parse ``PRIVATE+KEY+name+hexid+base64(0x01 || seed)``; the ID must match."""
    prefix, word, name, hex_id, key64 = _split_key(skey, 5, "signer key")
    if (prefix, word) != ("PRIVATE", "KEY"):
        raise LedgerFormatError("signer key must start with PRIVATE+KEY+")
    if not re.fullmatch(r"[0-9a-f]{8}", hex_id):
        raise LedgerFormatError("signer key ID must be 8 lower-case hex digits")
    key = b64decode_strict(key64, what="signer key")
    if len(key) != 33 or key[0] != ED25519:
        raise LedgerFormatError("signer key is not an Ed25519 (0x01) key")
    signer = Ed25519Signer.from_seed(name, key[1:])
    if signer.verifier().key_id != int(hex_id, 16):
        raise LedgerFormatError("signer key ID does not match its key")
    return signer


def sign_note(text: str, *, signer: Ed25519Signer) -> bytes:
    """Sign ``text`` with one Ed25519 key and format the note."""
    _check_text(text)
    return format_note(text, [signer.sign(text.encode("utf-8"))])


# --- Verification -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerifiedSignature:
    """A signature that verified with a trusted key."""

    name: str
    key_id: int
    sig_type: int
    timestamp: int | None  # cosignatures (type 0x04) only


@dataclass(frozen=True, slots=True)
class VerifiedNote:
    """A note with at least one signature from a trusted key. Only verification makes one."""

    text: str
    verified: tuple[VerifiedSignature, ...]
    unverified: tuple[NoteSignature, ...]  # from unknown keys: ignored, kept for forwarding

    def signed_by(self, name: str, key_id: int) -> VerifiedSignature | None:
        """The verified signature of that key, if any."""
        return next((s for s in self.verified if (s.name, s.key_id) == (name, key_id)), None)


def verify_note(raw: bytes, *, verifiers: Sequence[NoteVerifier]) -> VerifiedNote:
    """Parse and verify a signed note against trusted keys (signed-note §Signatures)."""
    note = parse_note(raw)
    by_id: dict[tuple[str, int], NoteVerifier] = {}
    for v in verifiers:
        prior = by_id.setdefault((v.name, v.key_id), v)
        if (prior.sig_type, prior.public_key) != (v.sig_type, v.public_key):
            raise ConfigurationError(f"ambiguous key {v.name}+{v.key_id:08x}")
    text = note.text.encode("utf-8")
    verified: dict[tuple[str, int], VerifiedSignature] = {}
    unverified: list[NoteSignature] = []
    for sig in note.signatures:
        ident = (sig.name, sig.key_id)
        known = by_id.get(ident)
        if known is None:
            # (1) "Verifiers MUST ignore signatures from unknown keys".
            if sig not in unverified:
                unverified.append(sig)
            continue
        # (2) "If the key name and ID match a known key, verifiers MUST verify the
        # signature. If a signature from a known key fails to verify, clients SHOULD
        # reject the whole note."
        if not known.verify(text, sig.signature):
            raise NoteSignatureError(
                f"invalid signature for key {sig.name}+{sig.key_id:08x}", key=sig.name
            )
        ts = (
            CosignatureVerifier.timestamp_of(sig.signature)
            if known.sig_type == COSIGNATURE_V1
            else None
        )
        verified.setdefault(ident, VerifiedSignature(sig.name, sig.key_id, known.sig_type, ts))
    # (3) "If no signature from a known key verifies successfully, clients MUST reject."
    if not verified:
        raise NoteSignatureError("note has no verifiable signatures from a trusted key")
    return VerifiedNote(note.text, tuple(verified.values()), tuple(unverified))
