"""The sign keys a gateway holds: one per member whose clients it hosts."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sild.core.identifiers import MemberId
from sild.crypto.certs import CertPurpose, check_usage, identity_of, load_certificate
from sild.crypto.keys import PrivateKey, load_private_key, sign
from sild.errors import ConfigurationError

__all__ = ["MemberSigner", "SignKeys"]


@dataclass(frozen=True, slots=True)
class MemberSigner:
    member: MemberId
    key: PrivateKey
    certificate: x509.Certificate
    certificate_der: bytes
    fingerprint: str

    def sign(self, data: bytes) -> bytes:
        return sign(key=self.key, data=data)


class SignKeys:
    def __init__(self, signers: dict[MemberId, MemberSigner]) -> None:
        self._signers = signers

    @classmethod
    def load(cls, folder: Path, *, passphrase: bytes | None = None) -> SignKeys:
        """Every ``*.key`` with its ``*.pem`` in ``folder``; the certificate names the member."""
        signers: dict[MemberId, MemberSigner] = {}
        for key_path in sorted(folder.glob("*.key")):
            cert_path = key_path.with_suffix(".pem")
            try:
                cert = load_certificate(cert_path.read_bytes())
            except OSError as e:
                raise ConfigurationError(
                    f"sign key {key_path} has no certificate {cert_path}") from e
            check_usage(cert, CertPurpose.SIGN)
            member = MemberId.parse(identity_of(cert))
            key = load_private_key(key_path, passphrase=passphrase)
            if key.public_key() != cert.public_key():
                raise ConfigurationError(f"{key_path} does not match the key in {cert_path}")
            der = cert.public_bytes(serialization.Encoding.DER)
            signers[member] = MemberSigner(member, key, cert, der, hashlib.sha256(der).hexdigest())
        return cls(signers)

    def for_member(self, member: MemberId) -> MemberSigner | None:
        return self._signers.get(member)

    def members(self) -> list[MemberId]:
        return sorted(self._signers)
