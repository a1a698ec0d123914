"""A test PKI: a CA, member sign certificates and gateway auth certificates in memory.

For tests and the demo; the certificates are real (issued by
:class:`sild.ca.CertificateAuthority`), only the folder is temporary.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509

from sild.ca import CertificateAuthority
from sild.core.identifiers import MemberId, ServerId
from sild.crypto.certs import CertPurpose, build_csr
from sild.crypto.keys import KeyType, PrivateKey, generate_key

__all__ = ["Credential", "TestPki"]


@dataclass(frozen=True, slots=True)
class Credential:
    key: PrivateKey
    certificate: x509.Certificate


class TestPki:
    """Issues credentials from a real CA kept in ``folder``."""

    __test__ = False  # not a pytest test class

    def __init__(self, ca: CertificateAuthority, at: datetime) -> None:
        self.ca = ca
        self.at = at

    @classmethod
    def create(cls, folder: Path, *, at: datetime, name: str = "Test Root CA") -> TestPki:
        return cls(CertificateAuthority.create(folder, name=name, at=at), at)

    def sign_credential(self, member: MemberId, key_type: KeyType = KeyType.ED25519) -> Credential:
        key = generate_key(key_type)
        cert = self.ca.issue(build_csr(key, str(member)), purpose=CertPurpose.SIGN,
                             identity=str(member), at=self.at)
        return Credential(key, cert)

    def auth_credential(self, server: ServerId, address: str = "127.0.0.1:5500",
                        key_type: KeyType = KeyType.P256) -> Credential:
        key = generate_key(key_type)
        cert = self.ca.issue(build_csr(key, str(server)), purpose=CertPurpose.AUTH,
                             identity=str(server), address=address, at=self.at)
        return Credential(key, cert)
