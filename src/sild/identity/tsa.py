"""A timestamping authority (RFC 3161, RFC 5816) whose tokens carry ledger receipts: pure part.

docs/spec/tsa.md. The ASN.1 (TimeStampReq, TimeStampResp, TSTInfo, CMS SignedData) is
asn1crypto's; the signature is cryptography's. Nothing here touches the network or the
clock: the ledger receipt and the time come in as arguments
(:mod:`sild.identity.tsa_http` fetches them).

* :func:`parse_request` — §2 steps 1–5: bytes → :class:`TimestampRequest`, or
  :class:`TsaRejection` carrying the PKIFailureInfo bit (badAlg, badRequest,
  badDataFormat, unacceptedPolicy, unacceptedExtension);
* :func:`issue_token` — §3: the ``TimeStampResp`` (status granted) whose token's
  ``genTime`` is the ledger round's time, ``serialNumber`` = round · 2³² + leaf, and
  whose SignerInfo carries the receipt as the unsigned attribute
  ``id-sild-aa-ledgerReceipt``;
* :func:`rejection` — a ``TimeStampResp`` with status rejection and a failInfo.

Sild's object identifiers live under the UUID arc ``2.25.<uuid>`` (ITU-T X.667: an OID
anyone can own without registration), docs/spec/tsa.md §1.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from asn1crypto import cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sild.errors import ConfigurationError, InvalidRequest

__all__ = [
    "HASH_ALGORITHMS",
    "ID_SILD_AA_LEDGER_RECEIPT",
    "SILD_ARC",
    "SILD_TSA_POLICY",
    "FailInfo",
    "TimeStampResp",
    "TimestampRequest",
    "TsaKey",
    "TsaLimits",
    "TsaRejection",
    "TsaSigner",
    "issue_token",
    "issue_tsa_certificate",
    "load_token",
    "parse_request",
    "receipt_of",
    "rejection",
    "replace_receipt",
]

# UUID 69b9e39e-d3a7-4342-8b4c-fd6fe2aabcec as an OID arc (X.667).
SILD_ARC = "2.25.140534131166778361259386048986980465900"
SILD_TSA_POLICY = SILD_ARC + ".1.1"  # ledger-backed timestamps, policy v1 (docs/spec/tsa.md §1)
ID_SILD_AA_LEDGER_RECEIPT = SILD_ARC + ".2.1"  # unsigned attribute: the ledger receipt

# asn1crypto names → (ledger imprint id, digest length). SHA-1 and MD5 are refused
# (badAlg): RFC 3161 §2.4.1 lets a TSA refuse hash functions it deems insufficient, and
# the ledger refuses SHA-1 since 2016 (docs/spec/ledger.md §2.1).
HASH_ALGORITHMS = {"sha256": (0x01, 32), "sha384": (0x04, 48), "sha512": (0x05, 64)}

TsaKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey


class TimeStampResp(tsp.TimeStampResp):  # type: ignore[misc]  # asn1crypto is untyped
    """RFC 3161 §2.4.2 TimeStampResp; asn1crypto 1.5.1 forgets ``timeStampToken OPTIONAL``
    (a rejection carries none)."""

    _fields = [  # noqa: RUF012  # asn1crypto's declaration style
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


class FailInfo(enum.Enum):
    """PKIFailureInfo bits (RFC 3161 §2.4.2), by asn1crypto's names."""

    BAD_ALG = "bad_alg"
    BAD_REQUEST = "bad_request"
    BAD_DATA_FORMAT = "bad_data_format"
    TIME_NOT_AVAILABLE = "time_not_available"
    UNACCEPTED_POLICY = "unaccepted_policy"
    UNACCEPTED_EXTENSION = "unaccepted_extensions"
    SYSTEM_FAILURE = "system_failure"


class TsaRejection(Exception):
    """A request the TSA will not timestamp; becomes a ``rejection`` TimeStampResp."""

    def __init__(self, fail: FailInfo, text: str) -> None:
        super().__init__(text)
        self.fail = fail
        self.text = text


@dataclass(frozen=True, slots=True)
class TsaLimits:
    """The TSA's limits, each with its reason."""

    # A TimeStampReq with a SHA-512 imprint, a policy and a 256-bit nonce is ~150 bytes;
    # extensions are refused anyway. 16 KB leaves room and stops memory abuse.
    max_request: int = 16 * 1024
    # RFC 3161 §2.4.1 suggests a 64-bit nonce; 256 bits is generous and bounds the echo.
    max_nonce_bits: int = 256


@dataclass(frozen=True, slots=True)
class TimestampRequest:
    """A parsed, acceptable TimeStampReq."""

    message_imprint: Any  # asn1crypto tsp.MessageImprint, echoed verbatim (RFC 3161 §2.4.2)
    algorithm: str  # sha256 | sha384 | sha512
    digest: bytes
    nonce: int | None
    cert_req: bool
    policy: str | None

    @property
    def imprint(self) -> bytes:
        """The ledger imprint of the hashed message: algorithm id || digest."""
        return bytes([HASH_ALGORITHMS[self.algorithm][0]]) + self.digest


def parse_request(der: bytes, *, policies: tuple[str, ...] = (SILD_TSA_POLICY,),
                  limits: TsaLimits = TsaLimits()) -> TimestampRequest:
    """docs/spec/tsa.md §2: check a TimeStampReq; raises :class:`TsaRejection`."""
    # (1) one DER TimeStampReq, nothing after it.
    if not 0 < len(der) <= limits.max_request:
        raise TsaRejection(FailInfo.BAD_REQUEST, "request is empty or too large")
    try:
        req = tsp.TimeStampReq.load(der, strict=True)
        version = req["version"].native
        mi = req["message_imprint"]
        algorithm = mi["hash_algorithm"]["algorithm"].native
        params = mi["hash_algorithm"]["parameters"].native
        digest = bytes(mi["hashed_message"].native)
        policy = req["req_policy"].native
        nonce = req["nonce"].native
        cert_req = bool(req["cert_req"].native)
        extensions = req["extensions"].native
    except Exception as e:  # asn1crypto raises ValueError, TypeError, … on bad input
        raise TsaRejection(FailInfo.BAD_REQUEST, "not a DER TimeStampReq") from e
    # (2) version 1 (RFC 3161 §2.4.1).
    if version != "v1":
        raise TsaRejection(FailInfo.BAD_REQUEST, "TimeStampReq version must be 1")
    # (3) the hash algorithm and the digest's length.
    if algorithm not in HASH_ALGORITHMS or params is not None:
        raise TsaRejection(FailInfo.BAD_ALG, f"hash algorithm {algorithm} is not accepted; "
                                             "use SHA-256, SHA-384 or SHA-512")
    if len(digest) != HASH_ALGORITHMS[algorithm][1]:
        raise TsaRejection(FailInfo.BAD_DATA_FORMAT,
                           f"hashed message is not a {algorithm} digest")
    # (4) the policy, if the requester names one.
    if policy is not None and policy not in policies:
        raise TsaRejection(FailInfo.UNACCEPTED_POLICY, f"policy {policy} is not offered")
    # (5) extensions: none is understood, so any is refused (RFC 3161 §2.4.1).
    if extensions:
        raise TsaRejection(FailInfo.UNACCEPTED_EXTENSION, "request extensions are not supported")
    if nonce is not None and abs(nonce).bit_length() > limits.max_nonce_bits:
        raise TsaRejection(FailInfo.BAD_REQUEST,
                           f"nonce is longer than {limits.max_nonce_bits} bits")
    return TimestampRequest(mi, algorithm, digest, nonce, cert_req, policy)


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _public_der(key: Any) -> bytes:
    return key.public_bytes(  # type: ignore[no-any-return]  # any public key
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


class TsaSigner:
    """The TSA's key and certificate, checked once (RFC 3161 §2.3).

    The certificate must carry extendedKeyUsage id-kp-timeStamping as its only purpose,
    marked critical; ``chain`` holds the certificates between it and the root (usually
    none), sent when the requester asks (certReq).
    """

    def __init__(self, *, certificate: x509.Certificate, key: TsaKey,
                 chain: tuple[x509.Certificate, ...] = ()) -> None:
        if _public_der(certificate.public_key()) != _public_der(key.public_key()):
            raise ConfigurationError("the TSA key does not match its certificate")
        try:
            eku = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
        except x509.ExtensionNotFound:
            eku = None
        if eku is None or not eku.critical or list(eku.value) != [
                ExtendedKeyUsageOID.TIME_STAMPING]:
            raise ConfigurationError("the TSA certificate needs a critical extendedKeyUsage "
                                     "with id-kp-timeStamping only (RFC 3161 §2.3)")
        self.certificate = certificate
        self.key = key
        self.chain = chain
        # Everything that is the same in every token is encoded once here and loaded
        # back (lazily, without re-encoding) per token: building these from Python
        # values each time made asn1crypto re-encode the certificate, 25 tokens/s.
        cert = asn1_x509.Certificate.load(_der(certificate))
        self._certificates = cms.CertificateSet(
            [cert, *(asn1_x509.Certificate.load(_der(c)) for c in chain)]).dump()
        # Ed25519 signs the attributes with SHA-512 as their digest (RFC 8419 §3.1).
        self.digest = "sha512" if isinstance(key, ed25519.Ed25519PrivateKey) else "sha256"
        self.signature_algorithm = (
            "ed25519" if isinstance(key, ed25519.Ed25519PrivateKey)
            else "sha256_ecdsa" if isinstance(key, ec.EllipticCurvePrivateKey)
            else "sha256_rsa")
        # signingCertificateV2 (RFC 5816 §2.2.1): ESSCertIDv2 with SHA-256 (the default,
        # so the algorithm is omitted) and the issuer and serial of the TSA certificate.
        self._ess_attribute = cms.CMSAttribute({
            "type": "signing_certificate_v2",
            "values": [tsp.SigningCertificateV2({"certs": [{
                "cert_hash": hashlib.sha256(_der(certificate)).digest(),
                "issuer_serial": {
                    "issuer": [asn1_x509.GeneralName(name="directory_name", value=cert.issuer)],
                    "serial_number": certificate.serial_number,
                },
            }]})],
        }).dump()
        self._sid = cms.SignerIdentifier(name="issuer_and_serial_number", value={
            "issuer": cert.issuer, "serial_number": certificate.serial_number}).dump()
        self._name = asn1_x509.GeneralName(name="directory_name", value=cert.subject).dump()

    @property
    def name(self) -> Any:
        """The TSA's name for TSTInfo's ``tsa`` field: its certificate's subject."""
        return asn1_x509.GeneralName.load(self._name)

    @property
    def asn1_certificates(self) -> Any:
        """The certificates a token carries when certReq is set."""
        return cms.CertificateSet.load(self._certificates)

    def sign(self, data: bytes) -> bytes:
        """The signature over ``data`` (the DER signed attributes)."""
        if isinstance(self.key, ed25519.Ed25519PrivateKey):
            return self.key.sign(data)
        if isinstance(self.key, ec.EllipticCurvePrivateKey):
            return self.key.sign(data, ec.ECDSA(hashes.SHA256()))
        return self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())

    def signer_info(self, content: bytes, unsigned: list[Any]) -> Any:
        """A CMS SignerInfo (RFC 5652 §5.3) over the TSTInfo bytes ``content``."""
        signed_attrs = cms.CMSAttributes([
            {"type": "content_type", "values": ["tst_info"]},
            {"type": "message_digest", "values": [hashlib.new(self.digest, content).digest()]},
            cms.CMSAttribute.load(self._ess_attribute),
        ])
        # The signature covers the attributes' DER as a SET OF (tag 0x31), RFC 5652 §5.4;
        # asn1crypto sorts SET OF members as DER requires.
        signature = self.sign(signed_attrs.dump())
        info: dict[str, Any] = {
            "version": "v1",
            "sid": cms.SignerIdentifier.load(self._sid),
            "digest_algorithm": {"algorithm": self.digest},
            "signed_attrs": signed_attrs,
            "signature_algorithm": {"algorithm": self.signature_algorithm},
            "signature": signature,
        }
        if unsigned:
            info["unsigned_attrs"] = unsigned
        return cms.SignerInfo(info)


def _receipt_attribute(receipt: bytes) -> Any:
    return cms.CMSAttribute({"type": ID_SILD_AA_LEDGER_RECEIPT,
                             "values": [core.OctetString(receipt)]})


def _accuracy(accuracy: timedelta) -> dict[str, int]:
    ms = int(accuracy / timedelta(milliseconds=1))
    out = {}
    if ms // 1000:
        out["seconds"] = ms // 1000
    if ms % 1000:
        out["millis"] = ms % 1000
    return out


def issue_token(req: TimestampRequest, *, signer: TsaSigner, gen_time: datetime, serial: int,
                accuracy: timedelta, receipt: bytes | None,
                policy: str = SILD_TSA_POLICY) -> bytes:
    """docs/spec/tsa.md §3: the granted ``TimeStampResp`` DER for ``req``.

    ``gen_time`` is the ledger round's time, ``receipt`` the ledger receipt for
    ``req.imprint``; ``accuracy`` the round period (the hash reached the ledger within
    one period before ``gen_time``).
    """
    # (1) TSTInfo (RFC 3161 §2.4.2): the request's imprint verbatim, its nonce echoed.
    tst: dict[str, Any] = {
        "version": "v1",
        "policy": req.policy or policy,
        "message_imprint": req.message_imprint,
        "serial_number": serial,
        "gen_time": gen_time,
        "tsa": signer.name,
    }
    acc = _accuracy(accuracy)
    if acc:
        tst["accuracy"] = acc
    if req.nonce is not None:
        tst["nonce"] = req.nonce
    tst_info = tsp.TSTInfo(tst)
    content = tst_info.dump()
    # (2) SignerInfo: signed attributes contentType, messageDigest, signingCertificateV2;
    # (3) the receipt as an unsigned attribute: outside the signature, so a later,
    # extended receipt can replace it without touching the token's signature.
    info = signer.signer_info(content, [_receipt_attribute(receipt)] if receipt else [])
    # (4) SignedData v3 (eContentType is not id-data, RFC 5652 §5.1); the TSA's
    # certificate only if asked (RFC 3161 §2.4.1 certReq). Each level is encoded and
    # loaded back before it goes into the next: asn1crypto then copies finished bytes
    # instead of re-walking (and, for some certificates, re-parsing) the whole tree.
    signed: dict[str, Any] = {
        "version": "v3",
        "digest_algorithms": [{"algorithm": signer.digest}],
        "encap_content_info": cms.EncapsulatedContentInfo.load(cms.EncapsulatedContentInfo(
            {"content_type": "tst_info", "content": core.ParsableOctetString(content)}).dump()),
        "signer_infos": cms.SignerInfos.load(cms.SignerInfos([info]).dump()),
    }
    if req.cert_req:
        signed["certificates"] = signer.asn1_certificates
    signed_data = cms.SignedData.load(cms.SignedData(signed).dump())
    token = cms.ContentInfo({"content_type": "signed_data", "content": signed_data})
    resp = TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token})
    return resp.dump()  # type: ignore[no-any-return]  # asn1crypto is untyped


def rejection(fail: FailInfo, text: str) -> bytes:
    """A ``TimeStampResp`` with status rejection, the failInfo bit and the reason."""
    resp = TimeStampResp({"status": {
        "status": "rejection",
        "status_string": [text[:200]],
        "fail_info": {fail.value},
    }})
    return resp.dump()  # type: ignore[no-any-return]  # asn1crypto is untyped


def load_token(data: bytes) -> Any:
    """A TimeStampToken (asn1crypto ContentInfo) from a token or a granted TimeStampResp;
    parsed lazily, so malformed inner parts raise when they are read."""
    try:
        resp = TimeStampResp.load(data, strict=True)
        if resp["status"]["status"].native in ("granted", "granted_with_mods"):
            return resp["time_stamp_token"]
    except Exception:  # noqa: S110  # not a TimeStampResp: try a bare token
        pass
    return cms.ContentInfo.load(data, strict=True)


def receipt_of(token: bytes) -> bytes | None:
    """The ledger receipt a token (or a granted TimeStampResp) carries, if any; raises
    :class:`~sild.errors.InvalidRequest` for bytes that are not a token."""
    try:
        info = load_token(token)["content"]["signer_infos"][0]
        for attr in info["unsigned_attrs"] or []:
            if attr["type"].dotted == ID_SILD_AA_LEDGER_RECEIPT:
                return bytes(core.OctetString.load(attr["values"][0].dump()).native)
    except Exception as e:  # asn1crypto raises many types on malformed input
        raise InvalidRequest(f"the timestamp token is malformed: {e}") from e
    return None


def replace_receipt(token: bytes, receipt: bytes) -> bytes:
    """The token (or granted TimeStampResp, kept in that form) with its receipt replaced,
    e.g. by one extended to a publication (docs/spec/ledger.md §4.3). The signature stays
    valid: the receipt is an unsigned attribute."""
    try:
        resp = TimeStampResp.load(token, strict=True)
        status = resp["status"]["status"].native
    except Exception:  # not a TimeStampResp: a bare token, or garbage
        resp = None
    if resp is not None:
        if status not in ("granted", "granted_with_mods"):
            raise InvalidRequest("the reply is not a granted timestamp")
        content_info = resp["time_stamp_token"]
    else:
        try:
            content_info = cms.ContentInfo.load(token, strict=True)
        except Exception as e:  # asn1crypto raises many types on malformed input
            raise InvalidRequest(f"the timestamp token is malformed: {e}") from e
    try:
        info = content_info["content"]["signer_infos"][0]
        others = [a for a in info["unsigned_attrs"] or []
                  if a["type"].dotted != ID_SILD_AA_LEDGER_RECEIPT]
        info["unsigned_attrs"] = [*others, _receipt_attribute(receipt)]
        out = resp if resp is not None else content_info
        return out.dump()  # type: ignore[no-any-return]  # asn1crypto is untyped
    except Exception as e:  # asn1crypto raises many types on malformed input
        raise InvalidRequest(f"the timestamp token is malformed: {e}") from e


def issue_tsa_certificate(*, issuer: x509.Certificate, issuer_key: TsaKey, public_key: Any,
                          name: str, at: datetime, days: int = 730) -> x509.Certificate:
    """A TSA certificate (RFC 3161 §2.3): critical extendedKeyUsage id-kp-timeStamping
    only; keyUsage digitalSignature and nonRepudiation."""
    from sild.identity.ocsp import _hash_for

    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(issuer.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(at - timedelta(minutes=5))
        .not_valid_after(min(at + timedelta(days=days), issuer.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=True, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer.public_key()), critical=False)  # type: ignore[arg-type]  # CA key types
    )
    return builder.sign(issuer_key, _hash_for(issuer_key))
