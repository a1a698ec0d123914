"""An instance root CA that issues gateway auth and member sign certificates.

Files in the CA folder::

    ca.pem            the root certificate (public; goes into global configuration)
    ca.key            the root key, 0600, encrypted when a passphrase is given
    issued/SERIAL.pem every certificate issued, for audit and revocation lookups

Revocation is recorded by the registry (it flows into global configuration), so
this module only issues; see :meth:`sild.registry.service.Registry.revoke`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sild.crypto.certs import (
    CertPurpose,
    cert_pem,
    check_csr,
    load_certificate,
    san_for_address,
    serial_hex,
    signing_hash,
)
from sild.crypto.keys import (
    KeyType,
    PrivateKey,
    generate_key,
    load_private_key,
    save_private_key,
    write_private_file,
)
from sild.errors import ConfigurationError, InvalidRequest, NotFound

__all__ = ["CertificateAuthority", "IssuedCertificate"]

# Leaf certificates live two years by default, the root twenty: X-Road's approved
# CAs issue auth/sign certificates for 1-3 years.
DEFAULT_LEAF_DAYS = 730
DEFAULT_ROOT_DAYS = 7300


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    serial: str
    subject: str
    purpose: str
    not_after: datetime
    path: Path


def _name(identity: str, organisation: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, identity),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, identity),
        ]
    )


class CertificateAuthority:
    """A root CA kept in one folder."""

    def __init__(self, folder: Path, certificate: x509.Certificate, key: PrivateKey) -> None:
        self.folder = folder
        self.certificate = certificate
        self._key = key

    @classmethod
    def create(
        cls,
        folder: Path,
        *,
        name: str,
        at: datetime,
        key_type: KeyType = KeyType.P256,
        passphrase: bytes | None = None,
        days: int = DEFAULT_ROOT_DAYS,
    ) -> CertificateAuthority:
        if (folder / "ca.pem").exists():
            raise ConfigurationError(f"a CA already exists in {folder}")
        key = generate_key(key_type)
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
                x509.NameAttribute(NameOID.COMMON_NAME, name),
            ]
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(at - timedelta(minutes=5))
            .not_valid_after(at + timedelta(days=days))
            # pathLen 1: the root may certify one intermediate, the person CA
            # (docs/spec/identity.md §2); gateway certificates stay directly under it.
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True,
                    crl_sign=True, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
        )
        cert = builder.sign(key, signing_hash(key))
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "issued").mkdir(exist_ok=True)
        save_private_key(folder / "ca.key", key, passphrase=passphrase)
        (folder / "ca.pem").write_text(cert_pem(cert))
        return cls(folder, cert, key)

    @classmethod
    def load(cls, folder: Path, *, passphrase: bytes | None = None) -> CertificateAuthority:
        try:
            cert = load_certificate((folder / "ca.pem").read_bytes())
        except OSError as e:
            raise ConfigurationError(f"no CA in {folder}: {e.strerror}") from e
        key = load_private_key(folder / "ca.key", passphrase=passphrase)
        return cls(folder, cert, key)

    @staticmethod
    def load_certificate_only(folder: Path) -> x509.Certificate:
        try:
            return load_certificate((folder / "ca.pem").read_bytes())
        except OSError as e:
            raise ConfigurationError(f"no CA in {folder}: {e.strerror}") from e

    def issue(
        self,
        csr: x509.CertificateSigningRequest,
        *,
        purpose: CertPurpose,
        identity: str,
        at: datetime,
        address: str | None = None,
        days: int = DEFAULT_LEAF_DAYS,
    ) -> x509.Certificate:
        """Issue an auth or sign certificate for ``identity`` from a checked CSR.

        The identity (and, for auth, the address) come from the operator, not from
        the CSR's subject: the CSR only proves possession of the key.
        """
        public_key = check_csr(csr, purpose)
        if purpose is CertPurpose.AUTH and not address:
            raise InvalidRequest("an auth certificate needs the gateway's address (SAN)")
        if days <= 0 or days > 3650:
            raise InvalidRequest("certificate lifetime must be 1-3650 days")
        org = self.certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        organisation = str(org[0].value) if org else "Sild"
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(identity, organisation))
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(int.from_bytes(secrets.token_bytes(16), "big") >> 1 or 1)
            .not_valid_before(at - timedelta(minutes=5))
            .not_valid_after(min(at + timedelta(days=days), self.certificate.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.certificate.public_key()  # type: ignore[arg-type]  # EC/Ed25519 only
                ),
                critical=False,
            )
        )
        if purpose is CertPurpose.AUTH:
            assert address is not None
            builder = (
                builder.add_extension(
                    x509.KeyUsage(
                        digital_signature=True, content_commitment=False,
                        key_encipherment=False, data_encipherment=False, key_agreement=False,
                        key_cert_sign=False, crl_sign=False, encipher_only=False,
                        decipher_only=False,
                    ),
                    critical=True,
                )
                .add_extension(
                    x509.ExtendedKeyUsage(
                        [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                    ),
                    critical=False,
                )
                .add_extension(
                    x509.SubjectAlternativeName([san_for_address(address)]), critical=False
                )
            )
        else:
            builder = builder.add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=True, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=False,
                    crl_sign=False, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
        cert = builder.sign(self._key, signing_hash(self._key))
        issued = self.folder / "issued"
        issued.mkdir(exist_ok=True)
        write_private_file(issued / f"{serial_hex(cert)}.pem", cert_pem(cert).encode())
        return cert

    @staticmethod
    def list_issued(folder: Path) -> list[IssuedCertificate]:
        """Every certificate issued from the CA in ``folder`` (no key needed)."""
        out = []
        for path in sorted((folder / "issued").glob("*.pem")):
            cert = load_certificate(path.read_bytes())
            cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            eku_auth = True
            try:
                cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
            except x509.ExtensionNotFound:
                eku_auth = False
            out.append(
                IssuedCertificate(
                    serial=serial_hex(cert),
                    subject=str(cn[0].value) if cn else "",
                    purpose="auth" if eku_auth else "sign",
                    not_after=cert.not_valid_after_utc,
                    path=path,
                )
            )
        return out

    def find_issued(self, serial: str) -> x509.Certificate:
        serial = serial.lower().removeprefix("0x")
        if not serial or any(c not in "0123456789abcdef" for c in serial):
            raise InvalidRequest(f"serial {serial!r} is not hexadecimal")
        path = self.folder / "issued" / f"{serial}.pem"
        if not path.exists():
            raise NotFound(f"this CA has issued no certificate with serial {serial}")
        return load_certificate(path.read_bytes())
