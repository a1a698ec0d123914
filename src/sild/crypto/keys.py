"""Private and public keys: generation, files, key ids, signatures.

Two key types, both fast on our machines (research/limits.md §2): Ed25519
(49 k signs/s) and ECDSA P-256 (63 k signs/s). RSA is not offered: signing is
13× slower and nothing in the protocol needs it.

Private key files are written with mode 0600 through a temporary file and an
atomic rename, and encrypted (PKCS#8, best available) when a passphrase is
given. Key material is never logged or put into an error message.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Union

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from sild.crypto.kinds import KeyType
from sild.errors import InvalidRequest, KeyFileError, SignatureError
from sild.files import atomic_write

__all__ = [
    "KeyType",
    "PrivateKey",
    "PublicKey",
    "generate_key",
    "key_id",
    "key_type_of",
    "load_private_key",
    "load_public_key_pem",
    "public_key_from_raw",
    "public_key_pem",
    "public_key_raw",
    "save_private_key",
    "sign",
    "verify",
    "write_private_file",
]

PrivateKey = Union[ed25519.Ed25519PrivateKey, ec.EllipticCurvePrivateKey]  # noqa: UP007
PublicKey = Union[ed25519.Ed25519PublicKey, ec.EllipticCurvePublicKey]  # noqa: UP007


def generate_key(key_type: KeyType = KeyType.P256) -> PrivateKey:
    if key_type is KeyType.ED25519:
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(ec.SECP256R1())


def key_type_of(key: PrivateKey | PublicKey | object) -> KeyType:
    """The :class:`KeyType` of a key, or :class:`InvalidRequest` for anything else."""
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return KeyType.ED25519
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) and isinstance(
        key.curve, ec.SECP256R1
    ):
        return KeyType.P256
    raise InvalidRequest(
        f"unsupported key type {type(key).__name__}: Sild accepts Ed25519 and ECDSA P-256"
    )


def public_key_raw(key: PublicKey) -> bytes:
    """Raw public key bytes: 32 bytes for Ed25519, 65-byte uncompressed point for P-256."""
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def public_key_from_raw(key_type: KeyType, raw: bytes) -> PublicKey:
    try:
        if key_type is KeyType.ED25519:
            return ed25519.Ed25519PublicKey.from_public_bytes(raw)
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except (ValueError, UnsupportedAlgorithm) as e:
        raise InvalidRequest(f"malformed {key_type.value} public key") from e


def public_key_pem(key: PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_public_key_pem(data: bytes) -> PublicKey:
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as e:
        raise InvalidRequest("malformed public key PEM") from e
    key_type_of(key)
    return key  # type: ignore[return-value]  # checked by key_type_of just above


def key_id(key: PublicKey) -> str:
    """A stable id: the first 16 bytes of SHA-256 over the type name and raw key, in hex."""
    material = key_type_of(key).value.encode() + b":" + public_key_raw(key)
    return hashlib.sha256(material).hexdigest()[:32]


def sign(*, key: PrivateKey, data: bytes) -> bytes:
    """Sign ``data``: pure Ed25519, or ECDSA P-256 over SHA-256 (DER signature)."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    return key.sign(data, ec.ECDSA(hashes.SHA256()))


def verify(*, public_key: PublicKey, signature: bytes, data: bytes) -> None:
    """Raise :class:`SignatureError` unless ``signature`` is valid for ``data``."""
    try:
        if isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(signature, data)
        else:
            public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError) as e:
        raise SignatureError("signature does not verify") from e


def write_private_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600, atomically and durably."""
    atomic_write(path, data, private=True)


def save_private_key(path: Path, key: PrivateKey, *, passphrase: bytes | None = None) -> None:
    """Write a PKCS#8 PEM private key, 0600, encrypted when a passphrase is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    write_private_file(path, pem)


def load_private_key(path: Path, *, passphrase: bytes | None = None) -> PrivateKey:
    """Read a private key file; errors name the file, never the key."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise KeyFileError(f"cannot read key file {path}: {e.strerror}") from e
    try:
        key = serialization.load_pem_private_key(data, password=passphrase or None)
    except TypeError as e:
        # cryptography raises TypeError for "encrypted but no passphrase" and the reverse.
        if passphrase:
            raise KeyFileError(f"key file {path} is not encrypted; omit the passphrase") from e
        raise KeyFileError(f"key file {path} is encrypted; give its passphrase") from e
    except ValueError as e:
        if b"ENCRYPTED" in data:
            raise KeyFileError(f"wrong passphrase for key file {path}") from e
        raise KeyFileError(f"key file {path} is not a PEM private key") from e
    except UnsupportedAlgorithm as e:
        raise KeyFileError(f"key file {path} uses an unsupported algorithm") from e
    try:
        key_type_of(key)
    except InvalidRequest as e:
        raise KeyFileError(f"key file {path}: {e}") from e
    return key  # type: ignore[return-value]  # checked by key_type_of just above


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: object, what: str) -> bytes:
    """Strict standard base64 decode; :class:`InvalidRequest` naming ``what`` on failure."""
    if not isinstance(text, str):
        raise InvalidRequest(f"{what} must be base64 text")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as e:
        raise InvalidRequest(f"{what} is not valid base64") from e
