"""Embassy keys: one per site, an age X25519 identity and an Ed25519 note signer.

Two files, both plain text, one key per line, ``#`` comments allowed::

    SITE.key (0600)   AGE-SECRET-KEY-1…                  decrypts snapshots sent to SITE
                      PRIVATE+KEY+SITE+hexid+base64       signs snapshots SITE makes
    SITE.pub          age1…                               recipient: encrypt to SITE
                      SITE+hexid+base64                   verifier: trust snapshots of SITE

The age lines are age's own X25519 formats (age-encryption.org/v1, via the maintained
``pyrage`` binding of rage), so ``age -d -i SITE.key`` decrypts a chunk without Sild; the
signer lines are C2SP signed-note keys (sild.core.note), the ledger's own format.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pyrage
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sild.core.ledger_errors import LedgerFormatError
from sild.core.note import Ed25519Signer, Ed25519Verifier, parse_signer_key, parse_verifier_key
from sild.errors import ConfigurationError, KeyFileError

__all__ = ["SiteKey", "SitePublic", "generate", "load_key", "load_public", "parse_recipient"]


@dataclass(frozen=True)
class SitePublic:
    """What other sites need: where to encrypt to, and whose signature to trust."""

    name: str
    recipient: pyrage.x25519.Recipient
    verifier: Ed25519Verifier
    recipient_text: str

    def text(self) -> str:
        return (f"# sild embassy public key of {self.name}\n"
                f"{self.recipient_text}\n{self.verifier.vkey()}\n")


@dataclass(frozen=True)
class SiteKey:
    """A site's secret key: decrypts what is sent to it, signs what it makes."""

    name: str
    identity: pyrage.x25519.Identity
    signer: Ed25519Signer

    def public(self) -> SitePublic:
        recipient = self.identity.to_public()
        return SitePublic(self.name, recipient, self.signer.verifier(), str(recipient))

    def text(self) -> str:
        return (f"# sild embassy secret key of {self.name}: keep it off the embassy\n"
                f"{self.identity}\n{self.signer.signer_key()}\n")

    def __repr__(self) -> str:
        return f"SiteKey({self.name!r})"  # never the secret


def generate(name: str) -> SiteKey:
    """A new site key named ``name`` (the note-signer name: no spaces or '+')."""
    try:
        signer = Ed25519Signer(name, Ed25519PrivateKey.generate())
    except LedgerFormatError as e:
        raise ConfigurationError(f"--name: {e}") from e
    return SiteKey(name, pyrage.x25519.Identity.generate(), signer)


def _lines(path: Path, what: str) -> list[str]:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise KeyFileError(f"cannot read {what} {path}: {e.strerror or e}") from e
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as e:
        raise KeyFileError(f"{path} is not an embassy {what} (binary)") from e
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


def load_key(path: Path) -> SiteKey:
    """A ``SITE.key`` file; :class:`KeyFileError` when it is not one."""
    lines = _lines(path, "key file")
    ages = [ln for ln in lines if ln.startswith("AGE-SECRET-KEY-1")]
    signers = [ln for ln in lines if ln.startswith("PRIVATE+KEY+")]
    if len(ages) != 1 or len(signers) != 1:
        raise KeyFileError(f"{path} is not an embassy key file (`sild embassy keygen` makes "
                           "one: an AGE-SECRET-KEY-1 line and a PRIVATE+KEY+ line)")
    try:
        identity = pyrage.x25519.Identity.from_str(ages[0])
        signer = parse_signer_key(signers[0])
    except (pyrage.IdentityError, LedgerFormatError, ValueError) as e:
        raise KeyFileError(f"{path}: malformed key ({e})") from e
    return SiteKey(signer.name, identity, signer)


def parse_recipient(text: str) -> pyrage.x25519.Recipient:
    try:
        return pyrage.x25519.Recipient.from_str(text)
    except (pyrage.RecipientError, ValueError) as e:
        raise ConfigurationError(f"not an age X25519 recipient: {text[:20]!r}…") from e


def load_public(path: Path) -> SitePublic:
    """A ``SITE.pub`` file (a ``SITE.key`` works too: its public half is used)."""
    lines = _lines(path, "public key file")
    if any(ln.startswith(("AGE-SECRET-KEY-1", "PRIVATE+KEY+")) for ln in lines):
        return load_key(path).public()
    ages = [ln for ln in lines if ln.startswith("age1")]
    vkeys = [ln for ln in lines if not ln.startswith("age1")]
    if len(ages) != 1 or len(vkeys) != 1:
        raise KeyFileError(f"{path} is not an embassy public key file (an age1… line and "
                           "a verifier-key line)")
    try:
        verifier = parse_verifier_key(vkeys[0])
    except (LedgerFormatError, ValueError) as e:
        raise KeyFileError(f"{path}: malformed verifier key ({e})") from e
    if not isinstance(verifier, Ed25519Verifier):
        raise KeyFileError(f"{path}: the verifier key must be Ed25519 (type 0x01)")
    try:
        recipient = parse_recipient(ages[0])
    except ConfigurationError as e:
        raise KeyFileError(f"{path}: {e}") from e
    return SitePublic(verifier.name, recipient, verifier, ages[0])


def write_new(folder: Path, key: SiteKey) -> tuple[Path, Path]:
    """Write ``NAME.key`` (0600, never overwritten) and ``NAME.pub`` into ``folder``."""
    if not folder.is_dir():
        raise ConfigurationError(f"--out {folder}: not an existing folder")
    secret, public = folder / f"{key.name}.key", folder / f"{key.name}.pub"
    for p in (secret, public):
        if p.exists():
            raise ConfigurationError(f"{p} exists; not overwriting a key")
    try:
        fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key.text())
            f.flush()
            os.fsync(f.fileno())
        public.write_text(key.public().text())
    except OSError as e:
        raise KeyFileError(f"cannot write the key into {folder}: {e.strerror or e}") from e
    return secret, public
