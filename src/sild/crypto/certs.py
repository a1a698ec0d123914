"""X.509: certificate signing requests, profiles and checks on use.

Two leaf profiles (ARCHITECTURE.md §3; X-Road keeps the roles apart,
research/xroad.md §3.1 and §3.3):

* **auth** — a gateway's TLS identity: KeyUsage digitalSignature, ExtendedKeyUsage
  serverAuth + clientAuth, SubjectAltName = the gateway's address;
* **sign** — a member's message-signing identity: KeyUsage contentCommitment
  (non-repudiation) + digitalSignature, no TLS key purposes.

The subject carries the X-Road identifier twice: CN and X.520 serialNumber
(``EE/GOV/70000562`` for a sign certificate, ``EE/GOV/70000562/gw1`` for an auth
certificate). The hierarchy is one level: an approved CA issues leaves directly.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Sequence
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sild.crypto.keys import KeyType, PrivateKey, PublicKey, key_type_of
from sild.crypto.kinds import CertPurpose
from sild.errors import CertificateError, InvalidRequest

__all__ = [
    "CertPurpose",
    "build_csr",
    "cert_pem",
    "check_csr",
    "check_usage",
    "find_issuer",
    "fingerprint",
    "fingerprint_der",
    "identity_of",
    "load_certificate",
    "load_csr",
    "san_for_address",
    "serial_hex",
    "signing_hash",
]

# A CSR or certificate bigger than this is not one we issued or would issue (DoS bound).
MAX_DER_SIZE = 64 * 1024


def _load(data: bytes, pem_fn: object, der_fn: object, what: str) -> object:
    if len(data) > MAX_DER_SIZE * 2:
        raise InvalidRequest(f"{what} is larger than {MAX_DER_SIZE * 2} bytes")
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return pem_fn(data)  # type: ignore[operator]  # a loader function
        return der_fn(data)  # type: ignore[operator]  # a loader function
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise InvalidRequest(f"{what} is not a valid PEM or DER {what}") from e


def load_certificate(data: bytes) -> x509.Certificate:
    cert = _load(data, x509.load_pem_x509_certificate, x509.load_der_x509_certificate,
                 "certificate")
    assert isinstance(cert, x509.Certificate)
    return cert


def load_csr(data: bytes) -> x509.CertificateSigningRequest:
    csr = _load(data, x509.load_pem_x509_csr, x509.load_der_x509_csr, "CSR")
    assert isinstance(csr, x509.CertificateSigningRequest)
    return csr


def cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 over the DER encoding, lower-case hex (what global conf registers)."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def fingerprint_der(der: bytes) -> str:
    """SHA-256 of a certificate's DER bytes, lower-case hex (how Sild names certificates)."""
    return hashlib.sha256(der).hexdigest()


def serial_hex(cert: x509.Certificate) -> str:
    return format(cert.serial_number, "x")


def identity_of(cert: x509.Certificate) -> str:
    """The X-Road identifier in the subject's serialNumber attribute."""
    attrs = cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    if len(attrs) != 1 or not isinstance(attrs[0].value, str):
        raise CertificateError("certificate subject has no single serialNumber identifier")
    return attrs[0].value


def build_csr(key: PrivateKey, common_name: str) -> x509.CertificateSigningRequest:
    """A CSR with just a subject CN; the CA decides the profile and the identity."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    )
    return builder.sign(key, signing_hash(key))


def signing_hash(key: PrivateKey) -> hashes.SHA256 | None:
    """The hash argument X.509 signing wants: none for Ed25519, SHA-256 for P-256."""
    return None if key_type_of(key) is KeyType.ED25519 else hashes.SHA256()


def _ext(exts: x509.Extensions, cls: type) -> object | None:
    try:
        return exts.get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return None


def check_csr(csr: x509.CertificateSigningRequest, purpose: CertPurpose) -> PublicKey:
    """Check a CSR before issuing: self-signature, key type, requested usages.

    A CSR may request KeyUsage / ExtendedKeyUsage; if it does, they must fit the
    profile (a sign CSR asking for TLS purposes is refused, and so is any CSR asking
    to be a CA). Returns the public key.
    """
    try:
        public_key = csr.public_key()
    except (ValueError, UnsupportedAlgorithm) as e:
        raise InvalidRequest("CSR public key cannot be read") from e
    try:
        key_type_of(public_key)
    except InvalidRequest as e:
        raise InvalidRequest(f"CSR: {e}") from e
    if not csr.is_signature_valid:
        raise InvalidRequest("CSR self-signature does not verify")
    try:
        exts = csr.extensions
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType) as e:
        raise InvalidRequest("CSR extensions are malformed") from e
    bc = _ext(exts, x509.BasicConstraints)
    if isinstance(bc, x509.BasicConstraints) and bc.ca:
        raise InvalidRequest("CSR asks for a CA certificate; only leaf certificates are issued")
    ku = _ext(exts, x509.KeyUsage)
    if isinstance(ku, x509.KeyUsage):
        if ku.key_cert_sign or ku.crl_sign:
            raise InvalidRequest("CSR key usage asks for certificate signing")
        if purpose is CertPurpose.AUTH and ku.content_commitment:
            raise InvalidRequest("auth CSR asks for non-repudiation, which is a sign key usage")
        if purpose is CertPurpose.SIGN and not ku.content_commitment:
            raise InvalidRequest("sign CSR key usage lacks non-repudiation (contentCommitment)")
        if purpose is CertPurpose.AUTH and not ku.digital_signature:
            raise InvalidRequest("auth CSR key usage lacks digitalSignature")
    eku = _ext(exts, x509.ExtendedKeyUsage)
    if isinstance(eku, x509.ExtendedKeyUsage):
        tls = {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
        asked = set(eku)
        if purpose is CertPurpose.SIGN and asked & tls:
            raise InvalidRequest("sign CSR asks for TLS key purposes (serverAuth/clientAuth)")
        if purpose is CertPurpose.AUTH and not tls <= asked:
            raise InvalidRequest("auth CSR extended key usage lacks serverAuth and clientAuth")
    return public_key  # type: ignore[return-value]  # checked by key_type_of above


def check_usage(cert: x509.Certificate, purpose: CertPurpose) -> None:
    """On use: the certificate must carry the profile's key usages (and not the other's)."""
    exts = cert.extensions
    bc = _ext(exts, x509.BasicConstraints)
    if isinstance(bc, x509.BasicConstraints) and bc.ca:
        raise CertificateError(f"a CA certificate cannot be used as a {purpose} certificate")
    ku = _ext(exts, x509.KeyUsage)
    eku = _ext(exts, x509.ExtendedKeyUsage)
    tls = {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    asked = set(eku) if isinstance(eku, x509.ExtendedKeyUsage) else set()
    if not isinstance(ku, x509.KeyUsage):
        raise CertificateError(f"certificate has no key usage; not a {purpose} certificate")
    if purpose is CertPurpose.AUTH:
        if not ku.digital_signature or not tls <= asked:
            raise CertificateError(
                "not an auth certificate: needs digitalSignature and serverAuth+clientAuth"
            )
    elif not ku.content_commitment or asked & tls:
        raise CertificateError(
            "not a sign certificate: needs non-repudiation and no TLS key purposes"
        )


def find_issuer(
    cert: x509.Certificate, cas: Sequence[x509.Certificate], *, at: datetime
) -> x509.Certificate:
    """The approved CA that issued ``cert``, checking signature and validity at ``at``."""
    for ca in cas:
        if ca.subject != cert.issuer:
            continue
        try:
            cert.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
            continue
        for c, what in ((cert, "certificate"), (ca, "CA certificate")):
            if not (c.not_valid_before_utc <= at <= c.not_valid_after_utc):
                raise CertificateError(
                    f"{what} {serial_hex(c)} is not valid at {at:%Y-%m-%dT%H:%M:%SZ}"
                )
        return ca
    raise CertificateError("certificate is not issued by an approved CA")


def san_for_address(address: str) -> x509.GeneralName:
    """SubjectAltName entry for ``host[:port]``: an IP address or a DNS name."""
    host = address.strip()
    if host.startswith("["):  # [v6]:port
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    if not host:
        raise InvalidRequest(f"address {address!r} has no host")
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        pass
    labels = host.split(".")
    if len(host) > 253 or not all(
        label and len(label) <= 63 and label.replace("-", "").isalnum() and label.isascii()
        for label in labels
    ):
        raise InvalidRequest(f"address {address!r} is not a host name or IP address")
    return x509.DNSName(host.lower())
