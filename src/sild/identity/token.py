"""A soft token: a person's two private keys in one file, behind two PINs and a PUK
(docs/spec/identity.md §3; the ID card's PIN1/PIN2/PUK, research/citizen.md §3.2).

* PIN1 (4-12 digits) unlocks the **authentication** key, PIN2 (5-12 digits) the
  **signing** key, the PUK (8-12 digits) unblocks either PIN and sets a new one.
* Each private key is encrypted (AES-256-GCM) under a random key-encryption key
  (KEK). Each KEK is wrapped twice: under a key derived from its PIN and under a key
  derived from the PUK. Keys are derived with scrypt (RFC 7914) with a salt per
  secret. A PIN or PUK is never written, logged or put into an error message.
* Every secret has an attempt counter (3). It is decremented and the file made
  durable **before** the secret is tried, and reset only after it proved right, so
  neither a crash nor a kill between the two can give an attacker a free attempt. At
  0 the PIN is blocked; only the PUK unblocks it. A blocked PUK is final.
* Associated data binds each ciphertext to the token id and its slot, so wrapped
  keys cannot be swapped between slots or tokens.

Limits of a *soft* token, said plainly: the counters bind whoever uses the token
through this code. Someone who copies the file can try PINs offline; scrypt makes
each try cost ~0.1 s (``KdfParams``), which for a 4-digit PIN is still only hours.
Hardware tokens keep the counter in the chip; this file is for tests, demos and
low-assurance deployments.
"""

from __future__ import annotations

import base64
import contextlib
import enum
import fcntl
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from sild.crypto.certs import cert_pem
from sild.crypto.keys import PrivateKey, key_type_of, sign
from sild.errors import InvalidRequest, KeyFileError, PinBlocked, PinError
from sild.files import atomic_write

__all__ = ["KdfParams", "Pins", "Secret", "SoftToken"]

FORMAT = "sild-soft-token/1"
MAX_TRIES = 3  # as on Estonian ID cards: three wrong PINs block it
MAX_TOKEN_FILE = 256 * 1024


@dataclass(frozen=True, slots=True)
class KdfParams:
    """scrypt cost. n=2^15, r=8, p=1: ~32 MiB and ~0.1 s per try on our machines,
    above cryptography's documented minimum (n=2^14); tests may lower ``n``."""

    n: int = 2**15
    r: int = 8
    p: int = 1

    def derive(self, secret: str, salt: bytes) -> bytes:
        return Scrypt(salt=salt, length=32, n=self.n, r=self.r, p=self.p).derive(
            secret.encode("ascii")
        )


class Secret(enum.StrEnum):
    PIN1 = "pin1"
    PIN2 = "pin2"
    PUK = "puk"


# Lengths as on the Estonian ID card (PIN1 4-12, PIN2 5-12, PUK 8-12 digits).
_LENGTHS = {Secret.PIN1: (4, 12), Secret.PIN2: (5, 12), Secret.PUK: (8, 12)}
# Which key each PIN guards.
_KEY_OF = {Secret.PIN1: "auth", Secret.PIN2: "sign"}


def check_secret(which: Secret, value: object) -> str:
    """``value`` if it is a well-formed ``which``; the error never echoes it."""
    lo, hi = _LENGTHS[which]
    if (not isinstance(value, str) or not lo <= len(value) <= hi or not value.isascii()
            or not value.isdigit()):
        raise InvalidRequest(f"{which.name} must be {lo}-{hi} digits")
    return value


@dataclass(frozen=True, slots=True)
class Pins:
    """The three secrets of a new token (what the PIN envelope holds). Not printable."""

    pin1: str
    pin2: str
    puk: str

    def __post_init__(self) -> None:
        check_secret(Secret.PIN1, self.pin1)
        check_secret(Secret.PIN2, self.pin2)
        check_secret(Secret.PUK, self.puk)

    def __repr__(self) -> str:
        return "Pins(***)"

    @classmethod
    def random(cls) -> Pins:
        """A PIN envelope: PIN1 4 digits, PIN2 5, PUK 8 (ID card defaults)."""
        def digits(n: int) -> str:
            return "".join(secrets.choice("0123456789") for _ in range(n))
        return cls(digits(4), digits(5), digits(8))

    @classmethod
    def parse_lines(cls, text: str) -> Pins:
        """``PIN1\\nPIN2\\nPUK``, the format of a pins file."""
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if len(lines) != 3:
            raise InvalidRequest("a pins file has three lines: PIN1, PIN2, PUK")
        return cls(*lines)


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def _unb64(v: object) -> bytes:
    if not isinstance(v, str):
        raise ValueError("not base64 text")
    return base64.b64decode(v, validate=True)


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> dict[str, str]:
    nonce = os.urandom(12)
    return {"nonce": _b64(nonce), "ct": _b64(AESGCM(key).encrypt(nonce, plaintext, aad))}


def _open(key: bytes, box: dict[str, str], aad: bytes) -> bytes:
    return AESGCM(key).decrypt(_unb64(box["nonce"]), _unb64(box["ct"]), aad)


def _write_durable(path: Path, data: bytes) -> None:
    """Atomic replace + fsync of the file and its folder (a crash keeps old or new)."""
    atomic_write(path, data, private=True)


class SoftToken:
    """One token file. Methods that try a secret lock the file for their duration."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self._data = data

    # -- making and reading ------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: Path,
        *,
        token_id: str,
        auth_key: PrivateKey,
        sign_key: PrivateKey,
        auth_certificate: x509.Certificate,
        sign_certificate: x509.Certificate,
        pins: Pins,
        kdf: KdfParams | None = None,
    ) -> SoftToken:
        """Write a new token; refuses to overwrite an existing file."""
        kdf = kdf or KdfParams()
        if path.exists():
            raise KeyFileError(f"token file {path} exists; refusing to overwrite")
        for key, cert in ((auth_key, auth_certificate), (sign_key, sign_certificate)):
            key_type_of(key)
            if cert.public_key() != key.public_key():
                raise InvalidRequest("certificate does not belong to the token's key")
        slots: dict[str, Any] = {}
        derived: dict[Secret, bytes] = {}
        for which, value in ((Secret.PIN1, pins.pin1), (Secret.PIN2, pins.pin2),
                             (Secret.PUK, pins.puk)):
            salt = os.urandom(16)
            derived[which] = kdf.derive(value, salt)
            slots[which.value] = {"salt": _b64(salt), "tries_left": MAX_TRIES, "wrapped": {}}
        keys: dict[str, Any] = {}
        for pin, role, key in ((Secret.PIN1, "auth", auth_key), (Secret.PIN2, "sign", sign_key)):
            kek = AESGCM.generate_key(bit_length=256)
            der = key.private_bytes(serialization.Encoding.DER,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
            keys[role] = _seal(kek, der, f"{token_id}/key/{role}".encode())
            for holder in (pin, Secret.PUK):
                slots[holder.value]["wrapped"][role] = _seal(
                    derived[holder], kek, f"{token_id}/{holder.value}/{role}".encode()
                )
        data = {
            "format": FORMAT,
            "id": token_id,
            "kdf": {"name": "scrypt", "n": kdf.n, "r": kdf.r, "p": kdf.p},
            "slots": slots,
            "keys": keys,
            "certificates": {"auth": cert_pem(auth_certificate),
                             "sign": cert_pem(sign_certificate)},
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_durable(path, json.dumps(data, indent=1).encode())
        return cls(path, data)

    @classmethod
    def open(cls, path: Path) -> SoftToken:
        return cls(path, cls._read(path))

    @staticmethod
    def _read(path: Path) -> dict[str, Any]:
        try:
            if path.is_dir():
                raise KeyFileError(f"token {path} is a folder, not a token file")
            raw = path.read_bytes()
        except OSError as e:
            raise KeyFileError(f"cannot read token {path}: {e.strerror}") from e
        if len(raw) > MAX_TOKEN_FILE:
            raise KeyFileError(f"token {path} is larger than any token")
        try:
            data = json.loads(raw)
            ok = (isinstance(data, dict) and data.get("format") == FORMAT
                  and isinstance(data.get("id"), str)
                  and all(isinstance(data["slots"][s.value]["tries_left"], int)
                          for s in Secret)
                  and isinstance(data["kdf"]["n"], int))
        except (ValueError, KeyError, TypeError) as e:
            raise KeyFileError(f"{path} is not a Sild soft token") from e
        if not ok:
            raise KeyFileError(f"{path} is not a Sild soft token")
        checked: dict[str, Any] = data
        return checked

    @property
    def token_id(self) -> str:
        return str(self._data["id"])

    def certificate(self, role: str) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self._data["certificates"][role].encode())

    def tries_left(self, which: Secret) -> int:
        return int(self._data["slots"][which.value]["tries_left"])

    # -- using ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold an exclusive lock on ``<token>.lock`` and reload the file under it."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._data = self._read(self.path)
            yield
        finally:
            os.close(fd)

    def _save(self) -> None:
        _write_durable(self.path, json.dumps(self._data, indent=1).encode())

    def _kdf(self) -> KdfParams:
        k = self._data["kdf"]
        return KdfParams(int(k["n"]), int(k["r"]), int(k["p"]))

    def _try(self, which: Secret, value: object, role: str) -> bytes:
        """The KEK of ``role`` under ``which``; counts the attempt first (module doc)."""
        value = check_secret(which, value)
        slot = self._data["slots"][which.value]
        if slot["tries_left"] <= 0:
            raise PinBlocked(
                f"{which.name} is blocked after {MAX_TRIES} wrong tries"
                + ("; unblock it with the PUK" if which is not Secret.PUK else ""),
                tries_left=0,
            )
        slot["tries_left"] -= 1
        self._save()  # durable before the try: a crash now costs the attempt
        try:
            kek = _open(self._kdf().derive(value, _unb64(slot["salt"])), slot["wrapped"][role],
                        f"{self.token_id}/{which.value}/{role}".encode())
        except (KeyError, TypeError, ValueError) as e:
            raise KeyFileError(f"token {self.path} is damaged") from e
        except InvalidTag:
            left = slot["tries_left"]
            if left == 0:
                raise PinBlocked(f"wrong {which.name}; it is now blocked", tries_left=0) from None
            raise PinError(f"wrong {which.name}; {left} tries left", tries_left=left) from None
        slot["tries_left"] = MAX_TRIES
        self._save()
        return kek

    def _key(self, role: str, kek: bytes) -> PrivateKey:
        try:
            der = _open(kek, self._data["keys"][role], f"{self.token_id}/key/{role}".encode())
            key = serialization.load_der_private_key(der, password=None)
            key_type_of(key)
        except (InvalidTag, KeyError, TypeError, ValueError, InvalidRequest) as e:
            raise KeyFileError(f"token {self.path} is damaged") from e
        return key  # type: ignore[return-value]  # checked by key_type_of just above

    def authentication_key(self, *, pin1: str) -> PrivateKey:
        """The authentication private key, after PIN1."""
        with self._locked():
            return self._key("auth", self._try(Secret.PIN1, pin1, "auth"))

    def signing_key(self, *, pin2: str) -> PrivateKey:
        """The signing private key, after PIN2."""
        with self._locked():
            return self._key("sign", self._try(Secret.PIN2, pin2, "sign"))

    def authenticate(self, *, pin1: str, data: bytes) -> bytes:
        """Sign ``data`` with the authentication key (Web eID-style challenge)."""
        return sign(key=self.authentication_key(pin1=pin1), data=data)

    def sign(self, *, pin2: str, data: bytes) -> bytes:
        """Sign ``data`` with the signing key (a document signature)."""
        return sign(key=self.signing_key(pin2=pin2), data=data)

    def change_pin(self, which: Secret, *, old: str, new: str) -> None:
        """Set a new PIN1 or PIN2, proving the old one (counts as a try)."""
        if which is Secret.PUK:
            raise InvalidRequest("the PUK cannot be changed, only used")
        new = check_secret(which, new)
        role = _KEY_OF[which]
        with self._locked():
            kek = self._try(which, old, role)
            self._rewrap(which, new, role, kek)

    def unblock(self, which: Secret, *, puk: str, new_pin: str) -> None:
        """With the PUK: set a new PIN1 or PIN2 and reset its counter to 3."""
        if which is Secret.PUK:
            raise InvalidRequest("only PIN1 and PIN2 can be unblocked")
        new_pin = check_secret(which, new_pin)
        role = _KEY_OF[which]
        with self._locked():
            kek = self._try(Secret.PUK, puk, role)
            self._rewrap(which, new_pin, role, kek)

    def _rewrap(self, which: Secret, new: str, role: str, kek: bytes) -> None:
        salt = os.urandom(16)
        self._data["slots"][which.value] = {
            "salt": _b64(salt),
            "tries_left": MAX_TRIES,
            "wrapped": {role: _seal(self._kdf().derive(new, salt), kek,
                                    f"{self.token_id}/{which.value}/{role}".encode())},
        }
        self._save()
