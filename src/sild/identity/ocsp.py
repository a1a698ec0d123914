"""An OCSP responder (RFC 6960) as a pure function: request bytes in, response bytes out.

docs/spec/ocsp.md. :func:`respond` takes the DER of an ``OCSPRequest``, the issuer (the
person CA) it answers for, the signer (:class:`OcspSigner`), a
:class:`~sild.identity.status.StatusSource` and the time ``at``, and returns the DER of
an ``OCSPResponse`` built with :mod:`cryptography.x509.ocsp` (no hand-written ASN.1).
It never raises for bad input: every request gets an answer.

1. parse the request; bytes that are not one ``OCSPRequest`` → ``malformedRequest``;
2. a nonce outside RFC 8954 §2.1's 1..32 octets, or an unknown critical extension →
   ``malformedRequest``;
3. a CertID for another issuer → ``unauthorized`` (RFC 6960 §2.3, RFC 5019 §2.2.3);
4. ask the status source; if it fails → ``internalError`` (RFC 6960 §2.3);
5. build the single response: the request's CertID, good / revoked (time, reason) /
   unknown, ``thisUpdate = at``, ``nextUpdate = at + next_update``, the nonce echoed;
6. sign with the CA key or a delegated responder certificate (RFC 6960 §4.2.2.2),
   responder id by key hash.

Unsuccessful answers (steps 1–4) are unsigned, as RFC 6960 §2.3 defines them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from asn1crypto import keys as asn1_keys
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from sild.errors import ConfigurationError
from sild.identity.status import CertStatus, StatusSource

__all__ = [
    "OcspAnswer",
    "OcspLimits",
    "OcspSigner",
    "SignerKey",
    "answer",
    "issue_responder_certificate",
    "respond",
]

log = structlog.get_logger("sild.identity.ocsp")

SignerKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True, slots=True)
class OcspLimits:
    """The responder's limits, each with its reason."""

    # An OCSPRequest for one certificate with a 32-byte nonce is ~120 bytes; a signed
    # request with a certificate chain stays under a few KB. Anything bigger is refused
    # before parsing (the HTTP layer enforces it on the body).
    max_request: int = 16 * 1024
    # RFC 8954 §2.1: a responder MUST reject nonces of 0 or more than 32 octets.
    max_nonce: int = 32
    # nextUpdate - thisUpdate. Answers come from the live store, so revocation takes
    # effect in the next answer; a client that caches an answer may keep it this long.
    # Web eID accepts answers up to 2 minutes old by default (research/citizen.md §3.3).
    next_update: timedelta = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class OcspAnswer:
    """A response and what it said (for logs and metrics)."""

    der: bytes
    outcome: str  # good | revoked | unknown | malformedRequest | unauthorized | internalError


def _hash_for(key: SignerKey) -> hashes.SHA256 | None:
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return None
    return hashes.SHA256()


def _public_der(key: object) -> bytes:
    return key.public_bytes(  # type: ignore[attr-defined, no-any-return]  # any public key
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


class OcspSigner:
    """Who signs the answers: the issuer itself, or a delegated responder (RFC 6960 §4.2.2.2).

    A delegated responder certificate must be issued directly by the issuer and carry
    extendedKeyUsage id-kp-OCSPSigning; otherwise clients reject its answers, so it is
    refused here, at start-up. Delegated is the default in ``sild identity ocsp serve``:
    the CA key stays offline and only the responder key sits on the server.
    """

    def __init__(self, *, issuer: x509.Certificate, certificate: x509.Certificate,
                 key: SignerKey) -> None:
        if _public_der(certificate.public_key()) != _public_der(key.public_key()):
            raise ConfigurationError("the OCSP signing key does not match its certificate")
        self.delegated = certificate != issuer
        if self.delegated:
            try:
                certificate.verify_directly_issued_by(issuer)
            except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm) as e:
                raise ConfigurationError(
                    "the OCSP responder certificate is not issued by the issuer it answers "
                    "for (RFC 6960 §4.2.2.2)") from e
            try:
                eku = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
            except x509.ExtensionNotFound:
                eku = None
            if eku is None or ExtendedKeyUsageOID.OCSP_SIGNING not in eku.value:
                raise ConfigurationError(
                    "the OCSP responder certificate lacks extendedKeyUsage id-kp-OCSPSigning "
                    "(RFC 6960 §4.2.2.2)")
        self.issuer = issuer
        self.certificate = certificate
        self.key = key
        self.algorithm = _hash_for(key)
        self._name = issuer.subject.public_bytes()
        spki = asn1_keys.PublicKeyInfo.load(_public_der(issuer.public_key()))
        # RFC 6960 §4.1.1: issuerKeyHash is the hash of the subjectPublicKey BIT STRING's
        # value, without tag, length and the unused-bits octet.
        self._key_bits = bytes(spki["public_key"].contents[1:])

    def issuer_hashes(self, algorithm: hashes.HashAlgorithm) -> tuple[bytes, bytes]:
        """(issuerNameHash, issuerKeyHash) of the issuer with ``algorithm``."""
        name = algorithm.name  # sha1, sha256, … as hashlib names them
        return hashlib.new(name, self._name).digest(), hashlib.new(name, self._key_bits).digest()


def _unsuccessful(status: ocsp.OCSPResponseStatus, outcome: str) -> OcspAnswer:
    der = ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(
        serialization.Encoding.DER)
    return OcspAnswer(der, outcome)


_MALFORMED = ocsp.OCSPResponseStatus.MALFORMED_REQUEST
_REASONS = {r.value.lower(): r for r in x509.ReasonFlags}


def _reason(name: str | None) -> x509.ReasonFlags | None:
    # RFC 5280 §5.3.1: the reason code SHOULD be absent instead of "unspecified".
    if name is None:
        return None
    flag = _REASONS.get(name.lower())
    return None if flag in (None, x509.ReasonFlags.unspecified) else flag


def answer(request: bytes, *, signer: OcspSigner, source: StatusSource, at: datetime,
           limits: OcspLimits = OcspLimits()) -> OcspAnswer:
    """The answer to one OCSP request (module docstring, steps 1–6); never raises."""
    # (1) one OCSPRequest, or malformedRequest.
    if not 0 < len(request) <= limits.max_request:
        return _unsuccessful(_MALFORMED, "malformedRequest")
    try:
        req = ocsp.load_der_ocsp_request(request)
        serial = req.serial_number
        algorithm = req.hash_algorithm
        name_hash, key_hash = req.issuer_name_hash, req.issuer_key_hash
        extensions = list(req.extensions)
    except (ValueError, NotImplementedError, UnsupportedAlgorithm) as e:
        # NotImplementedError: several certificates in one request. cryptography answers
        # one SingleResponse per response; clients send one request per certificate.
        log.info("ocsp.malformed", error=str(e))
        return _unsuccessful(_MALFORMED, "malformedRequest")
    if serial < 0:  # RFC 5280 §4.1.2.2: serial numbers are positive
        return _unsuccessful(_MALFORMED, "malformedRequest")
    # (2) the nonce (RFC 8954 §2.1) and critical extensions (RFC 5280 §4.2).
    nonce: bytes | None = None
    for ext in extensions:
        if isinstance(ext.value, x509.OCSPNonce):
            nonce = ext.value.nonce
            if not 0 < len(nonce) <= limits.max_nonce:
                return _unsuccessful(_MALFORMED, "malformedRequest")
        elif ext.critical:
            return _unsuccessful(_MALFORMED, "malformedRequest")
    # (3) only the issuer this responder answers for.
    if (name_hash, key_hash) != signer.issuer_hashes(algorithm):
        return _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED, "unauthorized")
    # (4) the status, from the live store.
    try:
        status = source.status(serial)
    except Exception as e:  # the store is I/O: any failure is internalError, not a crash
        log.error("ocsp.source_failed", serial=format(serial, "x"), error=repr(e))
        return _unsuccessful(ocsp.OCSPResponseStatus.INTERNAL_ERROR, "internalError")
    # (5) one SingleResponse for the request's CertID, verbatim.
    cert_status = {
        CertStatus.GOOD: ocsp.OCSPCertStatus.GOOD,
        CertStatus.REVOKED: ocsp.OCSPCertStatus.REVOKED,
        CertStatus.UNKNOWN: ocsp.OCSPCertStatus.UNKNOWN,
    }[status.status]
    revoked = status.status is CertStatus.REVOKED
    this_update = at.replace(microsecond=0)
    try:
        builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
            issuer_name_hash=name_hash,
            issuer_key_hash=key_hash,
            serial_number=serial,
            algorithm=algorithm,
            cert_status=cert_status,
            this_update=this_update,
            next_update=this_update + limits.next_update,
            revocation_time=status.revoked_at.replace(microsecond=0)
            if revoked and status.revoked_at else None,
            revocation_reason=_reason(status.reason) if revoked else None,
        )
    except ValueError as e:  # a CertID the builder cannot echo
        log.info("ocsp.malformed", error=str(e))
        return _unsuccessful(_MALFORMED, "malformedRequest")
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    # (6) signed; a delegated responder's certificate travels with the answer.
    builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, signer.certificate)
    if signer.delegated:
        builder = builder.certificates([signer.certificate])
    try:
        response = builder.sign(signer.key, signer.algorithm)
    except ValueError as e:  # a CertID value the encoder refuses
        log.info("ocsp.malformed", error=str(e))
        return _unsuccessful(_MALFORMED, "malformedRequest")
    return OcspAnswer(response.public_bytes(serialization.Encoding.DER), status.status.value)


def respond(request: bytes, *, signer: OcspSigner, source: StatusSource, at: datetime,
            limits: OcspLimits = OcspLimits()) -> bytes:
    """The DER ``OCSPResponse`` to the DER ``OCSPRequest`` ``request`` (see :func:`answer`)."""
    return answer(request, signer=signer, source=source, at=at, limits=limits).der


def issue_responder_certificate(*, issuer: x509.Certificate, issuer_key: SignerKey,
                                public_key: object, at: datetime,
                                days: int = 365) -> x509.Certificate:
    """A delegated OCSP responder certificate (RFC 6960 §4.2.2.2).

    extendedKeyUsage id-kp-OCSPSigning, keyUsage digitalSignature, and id-pkix-ocsp-nocheck
    (§4.2.2.2.1): clients need not ask about the responder's own certificate, so it should
    be short-lived (default one year) and replaced rather than revoked.
    """
    from cryptography.x509.oid import NameOID

    cn = issuer.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    name = f"{cn[0].value if cn else 'CA'!s} OCSP responder"
    try:
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
            issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value)
    except x509.ExtensionNotFound:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer.public_key())  # type: ignore[arg-type]  # CA keys are EC/Ed25519/RSA
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(issuer.subject)
        .public_key(public_key)  # type: ignore[arg-type]  # a public key object
        .serial_number(x509.random_serial_number())
        .not_valid_before(at - timedelta(minutes=5))
        .not_valid_after(min(at + timedelta(days=days), issuer.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=True)
        .add_extension(x509.OCSPNoCheck(), critical=False)
        .add_extension(aki, critical=False)
    )
    return builder.sign(issuer_key, _hash_for(issuer_key))
