"""Check an embedded OCSP answer for a signer's certificate (RFC 6960; EN 319 102-1
§5.2.5; docs/spec/documents.md §5.5).

1. a successful BasicOCSPResponse with a SingleResponse for the signer's serial and
   issuer (name and key hash in the CertID's own hash algorithm);
2. signed by an authorised responder (RFC 6960 §4.2.2.2): the issuing CA itself, a
   delegated responder the CA certified for id-kp-OCSPSigning, or a trusted responder
   (id-kp-OCSPSigning, path to a trust anchor: SK's model, where one responder answers
   for several CAs); the responder certificate valid at producedAt;
3. the status: good, revoked (time, reason) or unknown.

The caller compares producedAt with the timestamp.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import keys as asn1_keys
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from sild.doc.trust import TrustList, path_to_anchor
from sild.errors import CertificateError, InvalidRequest, SignatureError

__all__ = ["OcspResult", "check_ocsp"]


@dataclass(frozen=True, slots=True)
class OcspResult:
    status: str  # good | revoked | unknown
    produced_at: datetime
    revoked_at: datetime | None
    reason: str | None
    responder: x509.Certificate


def _hash(alg: hashes.HashAlgorithm) -> hashes.HashAlgorithm:
    return type(alg)()


def _matches(single: ocsp.OCSPSingleResponse, cert: x509.Certificate,
             issuer: x509.Certificate) -> bool:
    alg = single.hash_algorithm
    name_hash = hashes.Hash(_hash(alg))
    name_hash.update(issuer.subject.public_bytes())
    spki = issuer.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    key_bits = asn1_keys.PublicKeyInfo.load(spki)["public_key"].contents[1:]
    key_hash = hashes.Hash(_hash(alg))
    key_hash.update(key_bits)
    return (single.serial_number == cert.serial_number
            and single.issuer_name_hash == name_hash.finalize()
            and single.issuer_key_hash == key_hash.finalize())


def _verify_signed(resp: ocsp.OCSPResponse, responder: x509.Certificate) -> None:
    key = responder.public_key()
    data = resp.tbs_response_bytes
    sig = resp.signature
    alg = resp.signature_hash_algorithm
    try:
        if isinstance(key, ec.EllipticCurvePublicKey) and alg is not None:
            key.verify(sig, data, ec.ECDSA(alg))
        elif isinstance(key, rsa.RSAPublicKey) and alg is not None:
            key.verify(sig, data, padding.PKCS1v15(), alg)
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(sig, data)
        else:
            raise SignatureError("the OCSP responder's key type is not supported")
    except (InvalidSignature, TypeError, ValueError, UnsupportedAlgorithm) as e:
        raise SignatureError("the OCSP answer's signature does not verify") from e


def _responder_id_matches(resp: ocsp.OCSPResponse, cert: x509.Certificate) -> bool:
    if resp.responder_name is not None:
        return resp.responder_name == cert.subject
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = hashes.Hash(hashes.SHA1())  # noqa: S303  # RFC 6960 §4.2.1 KeyHash is SHA-1
    digest.update(asn1_keys.PublicKeyInfo.load(spki)["public_key"].contents[1:])
    return resp.responder_key_hash == digest.finalize()


def _has_ocsp_signing(cert: x509.Certificate) -> bool:
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except (x509.ExtensionNotFound, ValueError):
        return False
    return ExtendedKeyUsageOID.OCSP_SIGNING in eku


def check_ocsp(der: bytes, *, certificate: x509.Certificate, issuer: x509.Certificate,
               trust: TrustList, intermediates: Sequence[x509.Certificate] = ()) -> OcspResult:
    """Steps 1-3 of the module docstring. Raises SignatureError / CertificateError /
    InvalidRequest with the reason."""
    # (1) the answer and its SingleResponse.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            resp = ocsp.load_der_ocsp_response(der)
            if resp.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
                raise SignatureError(f"the OCSP answer is {resp.response_status.name}")
            singles = list(resp.responses)
            carried = list(resp.certificates)
            produced = resp.produced_at_utc
    except (ValueError, NotImplementedError) as e:
        raise InvalidRequest(f"the OCSP answer is malformed: {e}") from e
    single = next((s for s in singles if _matches(s, certificate, issuer)), None)
    if single is None:
        raise SignatureError("the OCSP answer is not about the signer's certificate")
    # (2) who signed it.
    candidates = [*carried, issuer, *intermediates, *trust.anchors]
    responder = next((c for c in candidates if _responder_id_matches(resp, c)), None)
    if responder is None:
        raise CertificateError("the OCSP responder's certificate is not known")
    _verify_signed(resp, responder)
    if responder != issuer:
        if not _has_ocsp_signing(responder):
            raise CertificateError("the OCSP responder is not authorised (no OCSPSigning)")
        delegated = responder.issuer == issuer.subject
        if delegated:
            try:
                responder.verify_directly_issued_by(issuer)
            except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
                delegated = False
        if not delegated:
            # A trusted responder: it must chain to a trust anchor itself.
            path_to_anchor(responder, trust, intermediates=[*carried, *intermediates],
                           at=produced)
        elif not responder.not_valid_before_utc <= produced <= responder.not_valid_after_utc:
            raise CertificateError("the OCSP responder's certificate is not valid at producedAt")
    # (3) the status.
    status = single.certificate_status
    if status == ocsp.OCSPCertStatus.GOOD:
        return OcspResult("good", produced, None, None, responder)
    if status == ocsp.OCSPCertStatus.REVOKED:
        reason = single.revocation_reason
        return OcspResult("revoked", produced, single.revocation_time_utc,
                          reason.name if reason else None, responder)
    return OcspResult("unknown", produced, None, None, responder)
