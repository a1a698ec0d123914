"""The timestamping authority's pure part (docs/spec/tsa.md; RFC 3161, RFC 5816)."""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms, tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from hypothesis import given
from hypothesis import strategies as st

from sild.ca import CertificateAuthority
from sild.core.verification import Status, TrustPolicy
from sild.crypto.certs import CertPurpose, build_csr
from sild.crypto.keys import KeyType, generate_key, load_private_key
from sild.errors import CertificateError, ConfigurationError, InvalidRequest, SignatureError
from sild.identity.tsa import (
    ID_SILD_AA_LEDGER_RECEIPT,
    SILD_TSA_POLICY,
    FailInfo,
    TimeStampResp,
    TsaLimits,
    TsaRejection,
    TsaSigner,
    issue_token,
    issue_tsa_certificate,
    parse_request,
    receipt_of,
    rejection,
    replace_receipt,
)
from sild.identity.tsa_verify import verify_timestamp, verify_token

AT = datetime(2026, 12, 6, 12, 0, 0, 250000, tzinfo=UTC)
DATA = b"a document\n"


def _query(data: bytes = DATA, *, algorithm: str = "sha256", digest: bytes | None = None,
           nonce: int | None = 42, cert_req: bool = True, policy: str | None = None,
           version: int = 1, extensions: list[Any] | None = None) -> bytes:
    fields: dict[str, Any] = {
        "version": version,
        "message_imprint": {
            "hash_algorithm": {"algorithm": algorithm},
            "hashed_message": digest if digest is not None else hashlib.new(
                algorithm, data).digest(),
        },
        "cert_req": cert_req,
    }
    if nonce is not None:
        fields["nonce"] = nonce
    if policy is not None:
        fields["req_policy"] = policy
    if extensions:
        fields["extensions"] = extensions
    return tsp.TimeStampReq(fields).dump()  # type: ignore[no-any-return]


def _pki(folder: Path, key: Any = None) -> tuple[CertificateAuthority, TsaSigner]:
    ca = CertificateAuthority.create(folder, name="Root", at=AT)
    ca_key = load_private_key(folder / "ca.key")
    key = key or ec.generate_private_key(ec.SECP256R1())
    cert = issue_tsa_certificate(issuer=ca.certificate, issuer_key=ca_key,  # type: ignore[arg-type]
                                 public_key=key.public_key(), name="Sild TSA", at=AT)
    return ca, TsaSigner(certificate=cert, key=key)


_CA, _SIGNER = _pki(Path(tempfile.mkdtemp()) / "ca")


def _token(query: bytes | None = None, *, receipt: bytes | None = b"RECEIPT",
           signer: TsaSigner = _SIGNER) -> bytes:
    req = parse_request(query or _query())
    return issue_token(req, signer=signer, gen_time=AT, serial=(7 << 32) | 3,
                       accuracy=timedelta(milliseconds=1500), receipt=receipt)


def _fail(query: bytes, **kw: Any) -> FailInfo:
    with pytest.raises(TsaRejection) as e:
        parse_request(query, **kw)
    return e.value.fail


# --- requests (§2) ----------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["sha256", "sha384", "sha512"])
def test_sha2_requests_are_accepted(algorithm: str) -> None:
    """SHA-256/384/512 imprints are accepted; the ledger imprint has the KSI id (§2 step 3)."""
    req = parse_request(_query(algorithm=algorithm))
    assert req.digest == hashlib.new(algorithm, DATA).digest()
    assert req.imprint[0] == {"sha256": 1, "sha384": 4, "sha512": 5}[algorithm]
    assert (req.nonce, req.cert_req) == (42, True)


@pytest.mark.parametrize("algorithm", ["sha1", "md5", "sha224"])
def test_weak_or_unknown_hash_is_bad_alg(algorithm: str) -> None:
    """SHA-1, MD5 and other hash functions → badAlg (RFC 3161 §2.4.1)."""
    assert _fail(_query(algorithm=algorithm)) is FailInfo.BAD_ALG


def test_wrong_digest_length_is_bad_data_format() -> None:
    """A hashedMessage that is not a digest of the named algorithm → badDataFormat."""
    assert _fail(_query(digest=b"\x00" * 31)) is FailInfo.BAD_DATA_FORMAT


@pytest.mark.parametrize("raw", [b"", b"\x00", b"garbage", b"\x30\x00", b"\x30\x82\xff\xff"])
def test_garbage_is_bad_request(raw: bytes) -> None:
    """Bytes that are not a TimeStampReq → badRequest, never another exception."""
    assert _fail(raw) is FailInfo.BAD_REQUEST


def test_trailing_bytes_are_bad_request() -> None:
    """A TimeStampReq followed by more bytes is not DER → badRequest."""
    assert _fail(_query() + b"\x00") is FailInfo.BAD_REQUEST


def test_version_two_is_bad_request() -> None:
    """Only version 1 exists (RFC 3161 §2.4.1)."""
    assert _fail(_query(version=2)) is FailInfo.BAD_REQUEST


def test_oversized_request_is_bad_request() -> None:
    """A request over the limit is refused before parsing."""
    q = _query()
    assert _fail(q, limits=TsaLimits(max_request=len(q) - 1)) is FailInfo.BAD_REQUEST


def test_huge_nonce_is_bad_request() -> None:
    """A nonce over 256 bits is refused (limit in TsaLimits)."""
    assert _fail(_query(nonce=1 << 300)) is FailInfo.BAD_REQUEST


def test_other_policy_is_unaccepted() -> None:
    """A reqPolicy the TSA does not offer → unacceptedPolicy (RFC 3161 §2.4.1)."""
    assert _fail(_query(policy="1.2.3.4")) is FailInfo.UNACCEPTED_POLICY


def test_our_policy_is_accepted_and_echoed() -> None:
    """The TSA's own policy OID may be asked for and is in the token."""
    tok = verify_token(_token(_query(policy=SILD_TSA_POLICY)), roots=[_CA.certificate])
    assert tok.policy == SILD_TSA_POLICY


def test_any_extension_is_unaccepted() -> None:
    """Request extensions are not understood, so refused (RFC 3161 §2.4.1)."""
    ext = [{"extn_id": "1.2.3.4", "critical": False, "extn_value": b"\x05\x00"}]
    assert _fail(_query(extensions=ext)) is FailInfo.UNACCEPTED_EXTENSION


@given(st.binary(max_size=200))
def test_any_bytes_parse_or_reject(data: bytes) -> None:
    """Whatever arrives, parse_request returns a request or a TsaRejection."""
    with contextlib.suppress(TsaRejection):
        parse_request(data)


@given(pos=st.integers(min_value=0), value=st.integers(min_value=1, max_value=255))
def test_flipped_request_parses_or_rejects(pos: int, value: int) -> None:
    """A valid request with one byte changed is parsed or rejected, never a crash."""
    raw = bytearray(_query())
    raw[pos % len(raw)] ^= value
    with contextlib.suppress(TsaRejection):
        parse_request(bytes(raw))


def test_rejection_carries_fail_info() -> None:
    """A rejection is a TimeStampResp with status rejection and the failInfo bit (§2.4.2)."""
    resp = TimeStampResp.load(rejection(FailInfo.BAD_ALG, "no SHA-1"))
    assert resp["status"]["status"].native == "rejection"
    assert resp["status"]["fail_info"].native == {"bad_alg"}
    assert resp["status"]["status_string"].native == ["no SHA-1"]
    assert resp["time_stamp_token"].native is None


# --- tokens (§3) ------------------------------------------------------------------------


def test_token_fields() -> None:
    """genTime, serial, nonce, policy, accuracy and the TSA name are as given (§3 step 1)."""
    tok = verify_token(_token(), roots=[_CA.certificate])
    assert tok.gen_time == AT
    assert tok.serial == (7 << 32) | 3
    assert tok.nonce == 42
    assert tok.policy == SILD_TSA_POLICY
    assert tok.accuracy == timedelta(milliseconds=1500)
    assert tok.digest == hashlib.sha256(DATA).digest()
    resp = TimeStampResp.load(_token())
    tst = resp["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed
    assert tst["tsa"].chosen.native == {"common_name": "Sild TSA"}


def test_signed_attributes_per_rfc5816() -> None:
    """contentType, messageDigest and signingCertificateV2 are signed (RFC 5816 §2.2.1)."""
    resp = TimeStampResp.load(_token())
    sd = resp["time_stamp_token"]["content"]
    assert sd["version"].native == "v3"
    info = sd["signer_infos"][0]
    types = {a["type"].native for a in info["signed_attrs"]}
    assert types == {"content_type", "message_digest", "signing_certificate_v2"}
    ess = next(a for a in info["signed_attrs"] if a["type"].native == "signing_certificate_v2")
    der = _SIGNER.certificate.public_bytes(serialization.Encoding.DER)
    assert ess["values"][0]["certs"][0]["cert_hash"].native == hashlib.sha256(der).digest()


def test_receipt_travels_as_unsigned_attribute() -> None:
    """The receipt is the unsigned attribute id-sild-aa-ledgerReceipt (§3 step 3)."""
    token = _token()
    assert receipt_of(token) == b"RECEIPT"
    info = TimeStampResp.load(token)["time_stamp_token"]["content"]["signer_infos"][0]
    assert [a["type"].dotted for a in info["unsigned_attrs"]] == [ID_SILD_AA_LEDGER_RECEIPT]


def test_replacing_the_receipt_keeps_the_signature() -> None:
    """An extended receipt replaces the old one; the token still verifies (§4.3 of ledger.md)."""
    new = replace_receipt(_token(), b"EXTENDED")
    assert receipt_of(new) == b"EXTENDED"
    assert verify_token(new, roots=[_CA.certificate]).receipt == b"EXTENDED"


def test_cert_req_false_leaves_certificates_out() -> None:
    """Without certReq the token carries no certificate (RFC 3161 §2.4.1)."""
    token = _token(_query(cert_req=False))
    sd = TimeStampResp.load(token)["time_stamp_token"]["content"]
    assert sd["certificates"].native is None
    with pytest.raises(CertificateError):
        verify_token(token, roots=[_CA.certificate])
    assert verify_token(token, roots=[_CA.certificate],
                        tsa_certificates=[_SIGNER.certificate]).serial == (7 << 32) | 3


def test_tampered_tstinfo_fails() -> None:
    """Changing one byte of the TSTInfo breaks messageDigest → SignatureError."""
    token = bytearray(_token())
    token[token.index(hashlib.sha256(DATA).digest())] ^= 1
    with pytest.raises(SignatureError):
        verify_token(bytes(token), roots=[_CA.certificate])


def test_untrusted_root_fails(tmp_path: Path) -> None:
    """A token from a TSA under another root is not accepted."""
    other = CertificateAuthority.create(tmp_path / "other", name="Other", at=AT)
    with pytest.raises(CertificateError):
        verify_token(_token(), roots=[other.certificate])


@pytest.mark.parametrize("raw", [b"", b"junk", rejection(FailInfo.BAD_ALG, "x")])
def test_malformed_token_is_invalid_request(raw: bytes) -> None:
    """Bytes that are not a token (or a rejection) → InvalidRequest, not a crash."""
    with pytest.raises(InvalidRequest):
        verify_token(raw, roots=[_CA.certificate])


def test_ed25519_tsa(tmp_path: Path) -> None:
    """An Ed25519 TSA key signs with SHA-512 attribute digests (RFC 8419 §3.1)."""
    ca, signer = _pki(tmp_path / "ca", key=ed25519.Ed25519PrivateKey.generate())
    tok = verify_token(_token(signer=signer), roots=[ca.certificate])
    assert tok.tsa_certificate == signer.certificate


# --- the TSA certificate (RFC 3161 §2.3) --------------------------------------------------


def test_tsa_certificate_profile() -> None:
    """Critical extendedKeyUsage with id-kp-timeStamping only."""
    eku = _SIGNER.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical
    assert list(eku.value) == [x509.oid.ExtendedKeyUsageOID.TIME_STAMPING]


def test_signer_refuses_a_sign_certificate(tmp_path: Path) -> None:
    """A certificate without timeStamping cannot sign tokens."""
    ca = CertificateAuthority.create(tmp_path / "ca", name="Root", at=AT)
    key = generate_key(KeyType.P256)
    cert = ca.issue(build_csr(key, "x"), purpose=CertPurpose.SIGN, identity="x", at=AT)
    with pytest.raises(ConfigurationError, match="timeStamping"):
        TsaSigner(certificate=cert, key=key)  # type: ignore[arg-type]


def test_signer_refuses_another_key() -> None:
    """The key must be the certificate's."""
    with pytest.raises(ConfigurationError, match="does not match"):
        TsaSigner(certificate=_SIGNER.certificate, key=ec.generate_private_key(ec.SECP256R1()))


# --- verification (§4) --------------------------------------------------------------------


def test_document_mismatch_fails() -> None:
    """Another document → FAIL TSA-02."""
    v = verify_timestamp(_token(), document=b"other", roots=[_CA.certificate],
                         policy=TrustPolicy(), at=AT)
    assert (v.status, v.code) == (Status.FAIL, "TSA-02")


def test_token_without_receipt_is_na() -> None:
    """A plain RFC 3161 token (no receipt) cannot be checked against the ledger → NA TSA-03."""
    v = verify_timestamp(_token(receipt=None), document=DATA, roots=[_CA.certificate],
                         policy=TrustPolicy(), at=AT)
    assert (v.status, v.code) == (Status.NA, "TSA-03")


def test_malformed_receipt_fails_binding() -> None:
    """A receipt attribute that is not a Sild receipt → FAIL TSA-04."""
    v = verify_timestamp(_token(), document=DATA, roots=[_CA.certificate],
                         policy=TrustPolicy(), at=AT)
    assert (v.status, v.code) == (Status.FAIL, "TSA-04")


def test_bad_token_fails_first() -> None:
    """A token that does not verify → FAIL TSA-01, nothing else checked."""
    v = verify_timestamp(b"junk", document=DATA, roots=[_CA.certificate],
                         policy=TrustPolicy(), at=AT)
    assert (v.status, v.code) == (Status.FAIL, "TSA-01")


def test_cms_structure_parses_as_signed_data() -> None:
    """The token is a CMS ContentInfo of type signedData over id-ct-TSTInfo (RFC 3161 §2.4.2)."""
    ci = TimeStampResp.load(_token())["time_stamp_token"]
    assert isinstance(ci, cms.ContentInfo)
    assert ci["content_type"].native == "signed_data"
    assert ci["content"]["encap_content_info"]["content_type"].dotted == "1.2.840.113549.1.9.16.1.4"
    assert hashes.SHA256.name == ci["content"]["digest_algorithms"][0]["algorithm"].native


_TOKEN = _token()


@given(pos=st.integers(min_value=0), value=st.integers(min_value=1, max_value=255))
def test_flipped_token_is_refused_or_unchanged(pos: int, value: int) -> None:
    """Flip any byte: the token is refused with a Sild error, or (a byte of the unsigned
    receipt or of an ignored encoding detail) verifies with the same signed content."""
    raw = bytearray(_TOKEN)
    raw[pos % len(raw)] ^= value
    try:
        tok = verify_token(bytes(raw), roots=[_CA.certificate])
    except (InvalidRequest, SignatureError, CertificateError):
        return
    assert (tok.gen_time, tok.serial, tok.digest, tok.nonce) == (
        AT, (7 << 32) | 3, hashlib.sha256(DATA).digest(), 42)


def test_replace_receipt_keeps_the_reply_form() -> None:
    """A TimeStampResp stays a TimeStampResp; a bare token stays a bare token."""
    reply = replace_receipt(_token(), b"NEW")
    assert TimeStampResp.load(reply)["status"]["status"].native == "granted"
    bare = TimeStampResp.load(_token())["time_stamp_token"].dump()
    again = replace_receipt(bare, b"NEW")
    assert cms.ContentInfo.load(again)["content_type"].native == "signed_data"
    assert receipt_of(again) == receipt_of(reply) == b"NEW"
    with pytest.raises(InvalidRequest):
        replace_receipt(rejection(FailInfo.BAD_ALG, "x"), b"NEW")


def test_repeated_signed_attribute_is_refused() -> None:
    """A SignerInfo whose signed attributes repeat a type is malformed (RFC 5652 §5.3)."""
    resp = TimeStampResp.load(_token())
    info = resp["time_stamp_token"]["content"]["signer_infos"][0]
    attrs = list(info["signed_attrs"])
    info["signed_attrs"] = cms.CMSAttributes([*attrs, attrs[0]])
    with pytest.raises(InvalidRequest, match="repeat"):
        verify_token(resp.dump(force=True), roots=[_CA.certificate])
