"""The person CA: an intermediate under the instance root, separate from the CA that
issues gateway and member certificates (ARCHITECTURE.md §3; docs/spec/identity.md §2).

Files in its folder (``<instance>/identity/ca`` by default)::

    person-ca.pem   the person CA certificate (signed by the instance root)
    chain.pem       person-ca.pem followed by the root: what verifiers and OCSP need
    person-ca.key   its key, 0600, PKCS#8, encrypted when a passphrase is given

The root's key is needed once, to certify the person CA; afterwards only the person
CA's key is used. Gateways never trust it: it is not an approved CA in global
configuration, so a person certificate cannot pose as a gateway.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from sild.core.personal_code import PersonalCode
from sild.crypto.certs import cert_pem, signing_hash
from sild.crypto.keys import (
    KeyType,
    PrivateKey,
    PublicKey,
    generate_key,
    load_private_key,
    save_private_key,
)
from sild.errors import ConfigurationError, InvalidRequest
from sild.identity.profiles import (
    CertRole,
    PersonName,
    key_usage,
    person_certificate,
    person_subject,
)

__all__ = ["DEFAULT_PERSON_DAYS", "PersonCA"]

# Estonian ID cards and their certificates are valid for five years.
DEFAULT_PERSON_DAYS = 5 * 365
DEFAULT_CA_DAYS = 15 * 365


class PersonCA:
    """Issues person authentication and signing certificates."""

    def __init__(self, folder: Path, certificate: x509.Certificate, key: PrivateKey,
                 root: x509.Certificate, *, ocsp_url: str | None = None) -> None:
        self.folder = folder
        self.certificate = certificate
        self.root = root
        self.ocsp_url = ocsp_url
        self._key = key

    @classmethod
    def create(
        cls,
        folder: Path,
        *,
        root_certificate: x509.Certificate,
        root_key: PrivateKey,
        name: str,
        at: datetime,
        key_type: KeyType = KeyType.P256,
        passphrase: bytes | None = None,
        days: int = DEFAULT_CA_DAYS,
        ocsp_url: str | None = None,
    ) -> PersonCA:
        """Make the person CA key and have the instance root certify it."""
        if (folder / "person-ca.pem").exists():
            raise ConfigurationError(f"a person CA already exists in {folder}")
        bc = root_certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
        if bc.path_length == 0:
            raise ConfigurationError(
                "the instance root CA allows no intermediate CA (pathLenConstraint 0; made by "
                "an older sild init): create a new instance to issue person identities"
            )
        key = generate_key(key_type)
        subject = x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ])
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(root_certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(at - timedelta(minutes=5))
            .not_valid_after(min(at + timedelta(days=days), root_certificate.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(key_usage(digital_signature=True, cert_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    root_key.public_key()
                ),
                critical=False,
            )
            .sign(root_key, signing_hash(root_key))
        )
        created = not folder.exists()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            save_private_key(folder / "person-ca.key", key, passphrase=passphrase)
            (folder / "person-ca.pem").write_text(cert_pem(cert))
            (folder / "chain.pem").write_text(cert_pem(cert) + cert_pem(root_certificate))
        except BaseException:
            if created:
                shutil.rmtree(folder, ignore_errors=True)
            raise
        return cls(folder, cert, key, root_certificate, ocsp_url=ocsp_url)

    @classmethod
    def load(cls, folder: Path, *, passphrase: bytes | None = None,
             ocsp_url: str | None = None) -> PersonCA:
        cert, root = cls.load_certificates(folder)
        key = load_private_key(folder / "person-ca.key", passphrase=passphrase)
        return cls(folder, cert, key, root, ocsp_url=ocsp_url)

    @staticmethod
    def load_certificates(folder: Path) -> tuple[x509.Certificate, x509.Certificate]:
        """(person CA, root) without the key: for status lookups and verifiers."""
        try:
            chain = (folder / "chain.pem").read_bytes()
        except OSError as e:
            raise ConfigurationError(
                f"no person CA in {folder}: {e.strerror}; run `sild identity init` first"
            ) from e
        try:
            certs = x509.load_pem_x509_certificates(chain)
        except ValueError as e:
            raise ConfigurationError(f"{folder / 'chain.pem'} is not a PEM chain") from e
        if len(certs) != 2:
            raise ConfigurationError(f"{folder / 'chain.pem'} must hold two certificates")
        return certs[0], certs[1]

    @property
    def key(self) -> PrivateKey:
        """The person CA's signing key (the OCSP responder may sign with it)."""
        return self._key

    def issue(
        self,
        *,
        role: CertRole,
        code: PersonalCode,
        name: PersonName,
        public_key: PublicKey,
        at: datetime,
        days: int = DEFAULT_PERSON_DAYS,
    ) -> x509.Certificate:
        """One person certificate; ``days`` is capped by the person CA's own validity."""
        if not 1 <= days <= 3650:
            raise InvalidRequest("certificate lifetime must be 1-3650 days")
        return person_certificate(
            role=role, subject=person_subject(code, name), public_key=public_key,
            issuer=self.certificate, issuer_key=self._key, at=at, days=days,
            ocsp_url=self.ocsp_url,
        )

    def chain_pem(self) -> str:
        return cert_pem(self.certificate) + cert_pem(self.root)
