"""The certificate challenge, as Estonia's Web eID does it (docs/spec/oidc.md §3).

The provider issues a single-use 256-bit nonce (base64url) bound to its origin. The
person signs ``SHA-256(origin) ‖ SHA-256(nonce)`` with the authentication key (PIN1) of
their token and posts the signature with the authentication certificate. The provider
accepts the login only if the certificate is an authentication certificate issued by
the person CA, valid now, not revoked or suspended (the identity store's status, the
same answer OCSP gives), and the signature verifies over *its own* origin and the nonce
it issued — a signature made for another origin does not verify.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from sild.crypto.keys import verify
from sild.errors import CertificateError, CertificateRevoked, SignatureError
from sild.identity.profiles import CertRole, check_person_certificate
from sild.identity.status import CertStatus, StatusSource

__all__ = ["LoginSubject", "challenge_data", "verify_login"]


def challenge_data(origin: str, nonce: str) -> bytes:
    """What the authentication key signs: SHA-256(origin) ‖ SHA-256(nonce) (Web eID)."""
    return hashlib.sha256(origin.encode()).digest() + hashlib.sha256(nonce.encode()).digest()


@dataclass(frozen=True)
class LoginSubject:
    """Who logged in: ``sub`` as TARA gives it (country prefix + code), names."""

    sub: str
    given_name: str
    family_name: str
    amr: str
    date_of_birth: str | None = None  # ISO date, where the code's scheme carries it


def _name(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> str:
    attrs = cert.subject.get_attributes_for_oid(oid)
    return str(attrs[0].value) if attrs else ""


def verify_login(*, certificate_der: bytes, signature: bytes, origin: str, nonce: str,
                 issuer: x509.Certificate, status: StatusSource,
                 at: datetime) -> LoginSubject:
    """Check one challenge response; raise a :class:`CertificateError` or
    :class:`SignatureError` saying what is wrong."""
    try:
        cert = x509.load_der_x509_certificate(certificate_der)
    except ValueError as e:
        raise CertificateError("the certificate is not a DER X.509 certificate") from e
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature) as e:
        raise CertificateError("the certificate was not issued by the person CA") from e
    if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
        raise CertificateError("the certificate is outside its validity period")
    code = check_person_certificate(cert, CertRole.AUTH)
    answer = status.status(cert.serial_number)
    if answer.status is CertStatus.REVOKED:
        what = "suspended" if answer.reason == "certificateHold" else "revoked"
        raise CertificateRevoked(f"the certificate is {what}")
    if answer.status is not CertStatus.GOOD:
        raise CertificateError("the person CA does not know this certificate")
    try:
        verify(public_key=cert.public_key(), signature=signature,  # type: ignore[arg-type]
               data=challenge_data(origin, nonce))
    except SignatureError as e:
        raise SignatureError("the signature does not verify for this origin and nonce") from e
    from cryptography.x509.oid import NameOID

    return LoginSubject(sub=f"{code.country}{code.code}",
                        given_name=_name(cert, NameOID.GIVEN_NAME),
                        family_name=_name(cert, NameOID.SURNAME), amr="idcard",
                        date_of_birth=code.birth_date.isoformat() if code.birth_date else None)
