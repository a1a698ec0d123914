"""Verify a Sild timestamp two ways: as an RFC 3161 token and against the ledger.

docs/spec/tsa.md §4. :func:`verify_token` checks what ``openssl ts -verify`` checks
(the CMS signature over the signed attributes, messageDigest, signingCertificate(V2),
the TSA certificate's purpose and its issuer). :func:`verify_timestamp` adds the
ledger: the receipt in the token must be for the token's imprint, at the token's
``genTime`` and ledger position (serial), and must verify offline under a
:class:`~sild.core.verification.TrustPolicy` (ledger key, witnesses, publications)
exactly as ``sild verify`` verifies receipts. The answer is three-valued, as there.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from asn1crypto import tsp
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import ExtendedKeyUsageOID

from sild.core.ledger_errors import LedgerFormatError
from sild.core.receipt import parse_receipt
from sild.core.verification import (
    ReceiptVerifier,
    Status,
    StepResult,
    TrustPolicy,
    Verdict,
)
from sild.crypto.certs import find_issuer
from sild.errors import CertificateError, InvalidRequest, SignatureError, SildError
from sild.identity.tsa import HASH_ALGORITHMS, load_token, receipt_of

__all__ = ["TimestampToken", "verify_timestamp", "verify_token"]

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}


@dataclass(frozen=True, slots=True)
class TimestampToken:
    """An RFC 3161 token whose signature and TSA certificate verified."""

    gen_time: datetime
    serial: int
    policy: str
    algorithm: str  # of the message imprint: sha256 | sha384 | sha512
    digest: bytes
    nonce: int | None
    accuracy: timedelta | None
    tsa_certificate: x509.Certificate
    receipt: bytes | None

    @property
    def imprint(self) -> bytes:
        """The ledger imprint of the timestamped hash: algorithm id || digest."""
        return bytes([HASH_ALGORITHMS[self.algorithm][0]]) + self.digest


def _verify_signature(cert: x509.Certificate, name: str, hash_name: str | None,
                      signature: bytes, data: bytes) -> None:
    key = cert.public_key()
    try:
        if isinstance(key, ed25519.Ed25519PublicKey) and name == "ed25519":
            key.verify(signature, data)
        elif isinstance(key, ec.EllipticCurvePublicKey) and name == "ecdsa":
            key.verify(signature, data, ec.ECDSA(_HASHES[hash_name or '']()))
        elif isinstance(key, rsa.RSAPublicKey) and name == "rsassa_pkcs1v15":
            key.verify(signature, data, padding.PKCS1v15(), _HASHES[hash_name or '']())
        else:
            raise SignatureError(f"signature algorithm {name} does not fit the TSA key")
    except (InvalidSignature, KeyError, ValueError, UnsupportedAlgorithm) as e:
        raise SignatureError("the token's signature does not verify") from e


def _accuracy(acc: Any) -> timedelta | None:
    if acc is None:
        return None
    return timedelta(seconds=acc.get("seconds") or 0, milliseconds=acc.get("millis") or 0,
                     microseconds=acc.get("micros") or 0)


def verify_token(data: bytes, *, roots: Sequence[x509.Certificate],
                 tsa_certificates: Sequence[x509.Certificate] = ()) -> TimestampToken:
    """Check a TimeStampToken (or a granted TimeStampResp) as RFC 3161 §2.4.2 and
    RFC 5816 say; the TSA certificate comes from the token or ``tsa_certificates`` and
    must be issued by one of ``roots``. Raises :class:`~sild.errors.InvalidRequest`
    (malformed), :class:`~sild.errors.SignatureError` or
    :class:`~sild.errors.CertificateError`."""
    # (1) the structure: SignedData with one SignerInfo over a TSTInfo.
    try:
        content_info = load_token(data)
        signed = content_info["content"]
        if content_info["content_type"].native != "signed_data" or \
                signed["encap_content_info"]["content_type"].native != "tst_info":
            raise InvalidRequest("not a TimeStampToken (SignedData over a TSTInfo)")
        infos = signed["signer_infos"]
        if len(infos) != 1:
            raise InvalidRequest("a TimeStampToken has exactly one SignerInfo")
        info = infos[0]
        content = bytes(signed["encap_content_info"]["content"].contents)
        tst = tsp.TSTInfo.load(content, strict=True)
        tst_native = tst.native
        attrs = {a["type"].native: a["values"] for a in info["signed_attrs"]}
        if len(attrs) != len(info["signed_attrs"]) or any(len(v) != 1 for v in attrs.values()):
            # RFC 5652 §5.3: each signed attribute once, contentType/messageDigest single-valued
            raise InvalidRequest("signed attributes repeat a type or carry several values")
        raw_attrs = info["signed_attrs"].dump()
        sid = info["sid"].chosen
        sid_serial = sid["serial_number"].native
        sid_issuer = sid["issuer"].dump()
        digest_name = info["digest_algorithm"]["algorithm"].native
        sig_name = info["signature_algorithm"].signature_algo
        if sig_name == "ed25519":
            sig_hash = None
        elif info["signature_algorithm"]["algorithm"].native == "rsassa_pkcs1v15":
            # RFC 3370 §3.2: rsaEncryption as the signature algorithm, the hash is the
            # SignerInfo's digestAlgorithm (what SK's TSA and OpenSSL write).
            sig_hash = digest_name
        else:
            sig_hash = info["signature_algorithm"].hash_algo
        signature = bytes(info["signature"].native)
        with warnings.catch_warnings():  # a negative serial is refused below, not warned
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            carried = [x509.load_der_x509_certificate(c.chosen.dump())
                       for c in signed["certificates"] or []]
        receipt = receipt_of(data)
    except SildError:
        raise
    except Exception as e:  # asn1crypto raises many types on malformed input
        raise InvalidRequest(f"the timestamp token is malformed: {e}") from e
    # (2) the TSA certificate: the SignerInfo's issuer and serial.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            cert = next((c for c in (*carried, *tsa_certificates) if c.serial_number == sid_serial
                         and c.issuer.public_bytes() == sid_issuer), None)
    except ValueError as e:  # cryptography parses certificate fields lazily
        raise InvalidRequest(f"a certificate in the token is malformed: {e}") from e
    if cert is None:
        raise CertificateError("the TSA certificate is neither in the token nor given")
    # (3) signed attributes: contentType id-ct-TSTInfo, messageDigest of the TSTInfo.
    if digest_name not in _HASHES:
        raise SignatureError(f"digest algorithm {digest_name} is not accepted")
    try:
        if attrs["content_type"][0].native != "tst_info":
            raise SignatureError("signed contentType is not id-ct-TSTInfo")
        if attrs["message_digest"][0].native != hashlib.new(digest_name, content).digest():
            raise SignatureError("messageDigest does not match the TSTInfo")
        # (4) RFC 5816 §2.2.1 signingCertificateV2 (or RFC 2634 v1) names this certificate.
        der = cert.public_bytes(serialization.Encoding.DER)
        if "signing_certificate_v2" in attrs:
            ess = attrs["signing_certificate_v2"][0]["certs"][0]
            alg = ess["hash_algorithm"]["algorithm"].native
            if bytes(ess["cert_hash"].native) != hashlib.new(alg, der).digest():
                raise SignatureError("signingCertificateV2 does not name the TSA certificate")
        elif "signing_certificate" in attrs:
            ess = attrs["signing_certificate"][0]["certs"][0]
            if bytes(ess["cert_hash"].native) != hashlib.sha1(der).digest():  # noqa: S324  # RFC 2634
                raise SignatureError("signingCertificate does not name the TSA certificate")
        else:
            raise SignatureError("the token has no signingCertificate attribute (RFC 5816)")
    except KeyError as e:
        raise SignatureError(f"signed attribute {e} is missing") from e
    except (ValueError, TypeError, IndexError, AttributeError) as e:  # asn1crypto, lazily
        raise InvalidRequest(f"a signed attribute is malformed: {e}") from e
    # (5) the signature over the attributes' DER as a SET OF (RFC 5652 §5.4).
    _verify_signature(cert, sig_name, sig_hash, signature, b"\x31" + raw_attrs[1:])
    # (6) the certificate: timeStamping only, critical (RFC 3161 §2.3), from a trusted
    # issuer and valid at genTime.
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound as e:
        raise CertificateError("the TSA certificate has no extendedKeyUsage") from e
    except ValueError as e:
        raise InvalidRequest(f"the TSA certificate is malformed: {e}") from e
    if not eku.critical or list(eku.value) != [ExtendedKeyUsageOID.TIME_STAMPING]:
        raise CertificateError("the TSA certificate is not for timestamping only (critical)")
    gen_time: datetime = tst_native["gen_time"].astimezone(UTC)
    find_issuer(cert, roots, at=gen_time)
    mi = tst_native["message_imprint"]
    algorithm = mi["hash_algorithm"]["algorithm"]
    if algorithm not in HASH_ALGORITHMS:
        raise SignatureError(f"imprint algorithm {algorithm} is not accepted")
    return TimestampToken(
        gen_time=gen_time, serial=tst_native["serial_number"], policy=tst_native["policy"],
        algorithm=algorithm, digest=bytes(mi["hashed_message"]), nonce=tst_native["nonce"],
        accuracy=_accuracy(tst_native["accuracy"]), tsa_certificate=cert,
        receipt=receipt)


def _step(name: str, status: Status, code: str, message: str) -> StepResult:
    return StepResult(name, status, code, message)


def verify_timestamp(data: bytes, *, document_digest: bytes | None = None,
                     document: bytes | None = None, roots: Sequence[x509.Certificate],
                     policy: TrustPolicy, at: datetime,
                     tsa_certificates: Sequence[x509.Certificate] = ()) -> Verdict:
    """docs/spec/tsa.md §4: the token (TSA-01), the document (TSA-02), the receipt's
    presence (TSA-03) and binding (TSA-04), then the receipt's own steps (ledger.md §5).

    Give the document or its digest (with the token's hash algorithm). FAIL if anything
    failed; NA when the ledger steps cannot decide (no key, no publication) or the token
    carries no receipt; OK otherwise.
    """
    # (1) RFC 3161.
    try:
        tok = verify_token(data, roots=roots, tsa_certificates=tsa_certificates)
    except SildError as e:
        s = _step("token", Status.FAIL, "TSA-01", e.message)
        return Verdict(Status.FAIL, "TSA-01", e.message, (s,))
    steps = [_step("token", Status.OK, "OK",
                   f"RFC 3161 token of {tok.tsa_certificate.subject.rfc4514_string()}")]
    # (2) the document.
    if document is not None:
        document_digest = hashlib.new(tok.algorithm, document).digest()
    if document_digest is None or document_digest != tok.digest:
        msg = "the document's hash is not the token's message imprint"
        steps.append(_step("document", Status.FAIL, "TSA-02", msg))
        return Verdict(Status.FAIL, "TSA-02", msg, tuple(steps))
    steps.append(_step("document", Status.OK, "OK", f"{tok.algorithm} imprint matches"))
    # (3) the receipt is there and belongs to this token.
    if tok.receipt is None:
        msg = "the token carries no ledger receipt"
        steps.append(_step("binding", Status.NA, "TSA-03", msg))
        return Verdict(Status.NA, "TSA-03", msg, tuple(steps))
    try:
        _, extra = parse_receipt(tok.receipt)
    except LedgerFormatError as e:
        steps.append(_step("binding", Status.FAIL, "TSA-04", e.message))
        return Verdict(Status.FAIL, "TSA-04", e.message, tuple(steps))
    rp = extra.round_path
    problems = []
    if extra.imprint != tok.imprint:
        problems.append("the receipt is for another hash")
    if extra.time_ms != int(tok.gen_time.timestamp() * 1000 + 0.5):
        problems.append("genTime is not the receipt's round time")
    if tok.serial != (rp.round_index << 32) | rp.leaf_index:
        problems.append("the serial number is not the receipt's ledger position")
    if problems:
        msg = "; ".join(problems)
        steps.append(_step("binding", Status.FAIL, "TSA-04", msg))
        return Verdict(Status.FAIL, "TSA-04", msg, tuple(steps))
    steps.append(_step("binding", Status.OK, "OK",
                       f"receipt {rp.round_index}.{rp.leaf_index} at genTime"))
    # (4) the receipt itself, offline, as `sild verify` does.
    v = ReceiptVerifier(policy).verify(tok.receipt, imprint=tok.imprint, at=at)
    steps.extend(v.steps)
    return Verdict(v.status, v.code, v.message, tuple(steps), v.receipt)
