"""Person certificate profiles (docs/spec/identity.md §2).

Two leaves per identity, as on an Estonian ID card (research/citizen.md §3.3):

* **authentication** — KeyUsage digitalSignature; ExtendedKeyUsage clientAuth
  (what Web eID requires of an authentication certificate);
* **signing** — KeyUsage nonRepudiation (contentCommitment) only; no EKU.

Both carry the same subject::

    C=<country>, CN=SURNAME,GIVENNAME,CODE, SN=SURNAME, GN=GIVENNAME,
    serialNumber=PNO<country>-<code>          (ETSI EN 319 412-1 §5.1.3)

Names are upper-cased as the Estonian cards print them. Issued with
``cryptography``'s builders only.
"""

from __future__ import annotations

import enum
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from sild.core.personal_code import PersonalCode, parse_semantics_id
from sild.crypto.certs import signing_hash
from sild.crypto.keys import PrivateKey, PublicKey, key_type_of
from sild.errors import CertificateError, InvalidRequest

__all__ = [
    "CertRole",
    "PersonName",
    "check_person_certificate",
    "key_usage",
    "person_certificate",
    "person_of",
    "person_subject",
]

# X.520 ub-common-name: the CN "SURNAME,GIVENNAME,CODE" must fit in 64 characters.
MAX_CN = 64


class CertRole(enum.StrEnum):
    """Which of the two keys on a token a certificate belongs to."""

    AUTH = "auth"  # PIN1
    SIGN = "sign"  # PIN2


@dataclass(frozen=True, slots=True)
class PersonName:
    """A person's names as certificates carry them: upper case, no commas or controls."""

    given: str
    surname: str

    @classmethod
    def parse(cls, given: object, surname: object) -> PersonName:
        return cls(_name_part(given, "given name"), _name_part(surname, "surname"))


def _name_part(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidRequest(f"{what} must be text")
    text = unicodedata.normalize("NFC", value.strip()).upper()
    if not text:
        raise InvalidRequest(f"{what} is empty")
    if len(text) > 40:
        raise InvalidRequest(f"{what} is longer than 40 characters")
    if "," in text or any(unicodedata.category(c)[0] == "C" for c in text):
        raise InvalidRequest(f"{what} {text[:40]!r} contains a comma or a control character")
    return text


def person_subject(code: PersonalCode, name: PersonName) -> x509.Name:
    """The subject both certificates of a person carry (module docstring)."""
    cn = f"{name.surname},{name.given},{code.code}"
    if len(cn) > MAX_CN:
        raise InvalidRequest(
            f"names too long for a certificate: {cn!r} exceeds {MAX_CN} characters"
        )
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, code.country),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
            x509.NameAttribute(NameOID.SURNAME, name.surname),
            x509.NameAttribute(NameOID.GIVEN_NAME, name.given),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, code.semantics_id()),
        ]
    )


def key_usage(*, digital_signature: bool = False, non_repudiation: bool = False,
               cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature, content_commitment=non_repudiation,
        key_encipherment=False, data_encipherment=False, key_agreement=False,
        key_cert_sign=cert_sign, crl_sign=cert_sign, encipher_only=False, decipher_only=False,
    )


def person_certificate(
    *,
    role: CertRole,
    subject: x509.Name,
    public_key: PublicKey,
    issuer: x509.Certificate,
    issuer_key: PrivateKey,
    at: datetime,
    days: int,
    ocsp_url: str | None = None,
) -> x509.Certificate:
    """Build and sign one person certificate of ``role`` (module docstring)."""
    key_type_of(public_key)
    not_after = min(at + timedelta(days=days), issuer.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject)
        .public_key(public_key)
        # RFC 5280 §4.1.2.2: positive, at most 20 octets; 127 random bits.
        .serial_number(int.from_bytes(secrets.token_bytes(16), "big") >> 1 or 1)
        .not_valid_before(at - timedelta(minutes=5))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(
                issuer_key.public_key()
            ),
            critical=False,
        )
    )
    if role is CertRole.AUTH:
        builder = builder.add_extension(key_usage(digital_signature=True), critical=True)
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    else:
        builder = builder.add_extension(key_usage(non_repudiation=True), critical=True)
    if ocsp_url:
        builder = builder.add_extension(
            x509.AuthorityInformationAccess(
                [x509.AccessDescription(AuthorityInformationAccessOID.OCSP,
                                        x509.UniformResourceIdentifier(ocsp_url))]
            ),
            critical=False,
        )
    return builder.sign(issuer_key, signing_hash(issuer_key))


def person_of(cert: x509.Certificate) -> PersonalCode:
    """The personal code in a person certificate's subject serialNumber."""
    attrs = cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    if len(attrs) != 1 or not isinstance(attrs[0].value, str):
        raise CertificateError("not a person certificate: no single subject serialNumber")
    return parse_semantics_id(attrs[0].value)


def check_person_certificate(cert: x509.Certificate, role: CertRole) -> PersonalCode:
    """On use: ``cert`` carries ``role``'s key usages and a person identifier."""
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound as e:
        raise CertificateError("person certificate has no key usage") from e
    try:
        eku: set[x509.ObjectIdentifier] = set(
            cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        )
    except x509.ExtensionNotFound:
        eku = set()
    if role is CertRole.AUTH and not (
        ku.digital_signature and not ku.content_commitment
        and (not eku or ExtendedKeyUsageOID.CLIENT_AUTH in eku)
    ):
        raise CertificateError("not an authentication certificate: needs digitalSignature "
                               "and clientAuth, and no nonRepudiation")
    if role is CertRole.SIGN and not (ku.content_commitment and not ku.digital_signature):
        raise CertificateError("not a signing certificate: needs nonRepudiation only")
    return person_of(cert)
