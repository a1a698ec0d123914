"""The OCSP responder as a pure function (docs/spec/ocsp.md; RFC 6960, RFC 8954)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from hypothesis import given
from hypothesis import strategies as st

from sild.ca import CertificateAuthority
from sild.crypto.certs import CertPurpose, build_csr
from sild.crypto.keys import KeyType, generate_key, load_private_key
from sild.errors import ConfigurationError
from sild.identity.ocsp import (
    OcspLimits,
    OcspSigner,
    answer,
    issue_responder_certificate,
    respond,
)
from sild.identity.status import StatusAnswer

OcspKey = ec.EllipticCurvePrivateKey

AT = datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC)


class Table:
    """An in-memory status source: serial → answer; others unknown."""

    def __init__(self) -> None:
        self.rows: dict[int, StatusAnswer] = {}

    def status(self, serial: int) -> StatusAnswer:
        return self.rows.get(serial, StatusAnswer.unknown())


class Broken:
    def status(self, serial: int) -> StatusAnswer:
        raise OSError("database is down")


def _ca(folder: Path, name: str = "Person CA",
        key_type: KeyType = KeyType.P256) -> tuple[CertificateAuthority, OcspKey]:
    ca = CertificateAuthority.create(folder, name=name, at=AT, key_type=key_type)
    return ca, load_private_key(folder / "ca.key")  # type: ignore[return-value]


def _person(ca: CertificateAuthority) -> x509.Certificate:
    key = generate_key(KeyType.P256)
    return ca.issue(build_csr(key, "PNOEE-38001085718"), purpose=CertPurpose.SIGN,
                    identity="PNOEE-38001085718", at=AT)


def _request(cert: x509.Certificate, issuer: x509.Certificate, *, nonce: bytes | None = None,
             algorithm: hashes.HashAlgorithm | None = None) -> bytes:
    b = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, algorithm or hashes.SHA1())  # noqa: S303  # RFC 5019 CertIDs use SHA-1
    if nonce is not None:
        b = b.add_extension(x509.OCSPNonce(nonce), critical=False)
    return b.build().public_bytes(serialization.Encoding.DER)


@pytest.fixture
def world(tmp_path: Path) -> tuple[CertificateAuthority, OcspSigner, Table, x509.Certificate]:
    ca, key = _ca(tmp_path / "ca")
    signer = OcspSigner(issuer=ca.certificate, certificate=ca.certificate, key=key)
    return ca, signer, Table(), _person(ca)


def _load(der: bytes) -> ocsp.OCSPResponse:
    return ocsp.load_der_ocsp_response(der)


def _signed_by(resp: ocsp.OCSPResponse, cert: x509.Certificate) -> None:
    pub = cert.public_key()
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    pub.verify(resp.signature, resp.tbs_response_bytes, ec.ECDSA(hashes.SHA256()))


def test_good_answer_is_signed_and_bounded(world) -> None:  # type: ignore[no-untyped-def]
    """A known, unrevoked certificate is good; thisUpdate = at, nextUpdate = at + 5 min (§4.2.1)."""
    ca, signer, table, person = world
    table.rows[person.serial_number] = StatusAnswer.good()
    resp = _load(respond(_request(person, ca.certificate), signer=signer, source=table, at=AT))
    assert resp.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert resp.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert resp.serial_number == person.serial_number
    assert resp.this_update_utc == AT
    assert resp.next_update_utc == AT + timedelta(minutes=5)
    assert resp.responder_key_hash == x509.SubjectKeyIdentifier.from_public_key(
        ca.certificate.public_key()).digest  # type: ignore[arg-type]
    assert resp.certificates == []  # the CA itself signs: no certificate needed
    _signed_by(resp, ca.certificate)


def test_revoked_answer_has_time_and_reason(world) -> None:  # type: ignore[no-untyped-def]
    """A revoked certificate carries its revocation time and CRLReason (RFC 6960 §4.2.1)."""
    ca, signer, table, person = world
    when = AT - timedelta(hours=1)
    table.rows[person.serial_number] = StatusAnswer.revoked(when, "keyCompromise")
    resp = _load(respond(_request(person, ca.certificate), signer=signer, source=table, at=AT))
    assert resp.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert resp.revocation_time_utc == when
    assert resp.revocation_reason is x509.ReasonFlags.key_compromise


def test_revoked_unspecified_omits_the_reason(world) -> None:  # type: ignore[no-untyped-def]
    """Reason "unspecified" is left out, as RFC 5280 §5.3.1 asks."""
    ca, signer, table, person = world
    table.rows[person.serial_number] = StatusAnswer.revoked(AT, "unspecified")
    resp = _load(respond(_request(person, ca.certificate), signer=signer, source=table, at=AT))
    assert resp.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert resp.revocation_reason is None


def test_suspension_is_certificate_hold(world) -> None:  # type: ignore[no-untyped-def]
    """A suspended identity is revoked with reason certificateHold (RFC 5280 §5.3.1)."""
    ca, signer, table, person = world
    table.rows[person.serial_number] = StatusAnswer.revoked(AT, "certificateHold")
    resp = _load(respond(_request(person, ca.certificate), signer=signer, source=table, at=AT))
    assert resp.revocation_reason is x509.ReasonFlags.certificate_hold


def test_unknown_serial_is_unknown(world) -> None:  # type: ignore[no-untyped-def]
    """A serial the store does not know is answered unknown, signed (RFC 6960 §2.2)."""
    ca, signer, table, person = world
    a = answer(_request(person, ca.certificate), signer=signer, source=table, at=AT)
    assert a.outcome == "unknown"
    resp = _load(a.der)
    assert resp.certificate_status is ocsp.OCSPCertStatus.UNKNOWN
    _signed_by(resp, ca.certificate)


@pytest.mark.parametrize("size", [1, 16, 32])
def test_nonce_is_echoed(world, size: int) -> None:  # type: ignore[no-untyped-def]
    """A nonce of 1..32 octets comes back unchanged (RFC 8954 §2.1)."""
    ca, signer, table, person = world
    nonce = secrets.token_bytes(size)
    resp = _load(respond(_request(person, ca.certificate, nonce=nonce), signer=signer,
                         source=table, at=AT))
    assert resp.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce


def test_no_nonce_no_nonce_extension(world) -> None:  # type: ignore[no-untyped-def]
    """Without a nonce in the request the answer carries none."""
    ca, signer, table, person = world
    resp = _load(respond(_request(person, ca.certificate), signer=signer, source=table, at=AT))
    assert len(resp.extensions) == 0


@pytest.mark.parametrize("size", [0, 33, 64])
def test_nonce_out_of_bounds_is_malformed(world, size: int) -> None:  # type: ignore[no-untyped-def]
    """Nonces of 0 or more than 32 octets are malformedRequest (RFC 8954 §2.1)."""
    ca, signer, table, person = world
    resp = _load(respond(_request(person, ca.certificate, nonce=b"\x07" * size), signer=signer,
                         source=table, at=AT))
    assert resp.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


@pytest.mark.parametrize("algorithm", [hashes.SHA256(), hashes.SHA384(), hashes.SHA512()])
def test_certid_with_sha2_is_answered(world, algorithm: hashes.HashAlgorithm) -> None:  # type: ignore[no-untyped-def]
    """A CertID hashed with SHA-2 is recognised and echoed with its algorithm (§4.1.1)."""
    ca, signer, table, person = world
    table.rows[person.serial_number] = StatusAnswer.good()
    resp = _load(respond(_request(person, ca.certificate, algorithm=algorithm), signer=signer,
                         source=table, at=AT))
    assert resp.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert resp.hash_algorithm.name == algorithm.name


def test_other_issuer_is_unauthorized(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A CertID of an issuer this responder does not serve → unauthorized (RFC 6960 §2.3)."""
    _, signer, table, _ = world
    other, _ = _ca(tmp_path / "other", name="Other CA")
    stranger = _person(other)
    table.rows[stranger.serial_number] = StatusAnswer.good()  # same serial must not matter
    a = answer(_request(stranger, other.certificate), signer=signer, source=table, at=AT)
    assert a.outcome == "unauthorized"
    assert _load(a.der).response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED


@pytest.mark.parametrize("raw", [b"", b"\x00", b"hello", b"\x30\x03\x02\x01\x01",
                                 b"\x30\x82\xff\xff" + b"\x00" * 10])
def test_garbage_is_malformed_request(world, raw: bytes) -> None:  # type: ignore[no-untyped-def]
    """Bytes that are not an OCSPRequest → malformedRequest, no exception (RFC 6960 §2.3)."""
    _, signer, table, _ = world
    a = answer(raw, signer=signer, source=table, at=AT)
    assert a.outcome == "malformedRequest"
    assert _load(a.der).response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_oversized_request_is_malformed(world) -> None:  # type: ignore[no-untyped-def]
    """A request over the limit is refused before parsing."""
    ca, signer, table, person = world
    raw = _request(person, ca.certificate)
    a = answer(raw, signer=signer, source=table, at=AT, limits=OcspLimits(max_request=len(raw) - 1))
    assert a.outcome == "malformedRequest"


def test_several_certificates_are_malformed(world) -> None:  # type: ignore[no-untyped-def]
    """A requestList with two CertIDs is refused: one certificate per request (spec §2 step 1)."""
    ca, signer, table, person = world
    one = asn1_ocsp.OCSPRequest.load(_request(person, ca.certificate))
    single = one["tbs_request"]["request_list"][0]
    two = asn1_ocsp.OCSPRequest({"tbs_request": {"request_list": [single, single]}})
    a = answer(two.dump(), signer=signer, source=table, at=AT)
    assert a.outcome == "malformedRequest"


def test_unknown_critical_extension_is_malformed(world) -> None:  # type: ignore[no-untyped-def]
    """A critical request extension we do not understand → malformedRequest (RFC 5280 §4.2)."""
    ca, signer, table, person = world
    b = ocsp.OCSPRequestBuilder().add_certificate(person, ca.certificate, hashes.SHA256())
    b = b.add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.2.3.4"), b"\x05\x00"),
                        critical=True)
    raw = b.build().public_bytes(serialization.Encoding.DER)
    assert answer(raw, signer=signer, source=table, at=AT).outcome == "malformedRequest"


def test_failing_source_is_internal_error(world) -> None:  # type: ignore[no-untyped-def]
    """A store that fails gives internalError, never a crash or a guess (RFC 6960 §2.3)."""
    ca, signer, _, person = world
    a = answer(_request(person, ca.certificate), signer=signer, source=Broken(), at=AT)
    assert a.outcome == "internalError"
    assert _load(a.der).response_status is ocsp.OCSPResponseStatus.INTERNAL_ERROR


@given(data=st.binary(max_size=300))
def test_any_bytes_get_an_answer(data: bytes) -> None:
    """Whatever bytes arrive, the responder answers with a parseable OCSPResponse."""
    a = answer(data, signer=_SIGNER, source=Table(), at=AT)
    assert _load(a.der).response_status in set(ocsp.OCSPResponseStatus)


@given(pos=st.integers(min_value=0), value=st.integers(min_value=1, max_value=255))
def test_flipped_request_never_crashes(pos: int, value: int) -> None:
    """A valid request with any byte changed is answered (malformed, unauthorized or a status)."""
    raw = bytearray(_REQ)
    raw[pos % len(raw)] ^= value
    a = answer(bytes(raw), signer=_SIGNER, source=Table(), at=AT)
    assert a.outcome in {"malformedRequest", "unauthorized", "unknown", "good"}


def _module_world() -> tuple[OcspSigner, bytes]:
    import tempfile

    folder = Path(tempfile.mkdtemp()) / "ca"
    ca, key = _ca(folder)
    return (OcspSigner(issuer=ca.certificate, certificate=ca.certificate, key=key),
            _request(_person(ca), ca.certificate, nonce=b"n" * 16))


_SIGNER, _REQ = _module_world()


# --- delegated responders (RFC 6960 §4.2.2.2) -----------------------------------------


def test_delegated_responder_signs_and_ships_its_certificate(tmp_path: Path) -> None:
    """A delegated responder signs with its own key and includes its certificate (§4.2.2.2)."""
    ca, ca_key = _ca(tmp_path / "ca")
    rkey = ec.generate_private_key(ec.SECP256R1())
    rcert = issue_responder_certificate(issuer=ca.certificate, issuer_key=ca_key,
                                        public_key=rkey.public_key(), at=AT)
    signer = OcspSigner(issuer=ca.certificate, certificate=rcert, key=rkey)
    assert signer.delegated
    person = _person(ca)
    resp = _load(respond(_request(person, ca.certificate), signer=signer, source=Table(), at=AT))
    assert resp.certificates == [rcert]
    _signed_by(resp, rcert)
    eku = rcert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [x509.oid.ExtendedKeyUsageOID.OCSP_SIGNING]
    assert rcert.extensions.get_extension_for_class(x509.OCSPNoCheck)


def test_responder_without_ocsp_signing_is_refused(tmp_path: Path) -> None:
    """A certificate without id-kp-OCSPSigning cannot be a delegated responder."""
    ca, _ = _ca(tmp_path / "ca")
    key = generate_key(KeyType.P256)
    cert = ca.issue(build_csr(key, "x"), purpose=CertPurpose.SIGN, identity="x", at=AT)
    with pytest.raises(ConfigurationError, match="OCSPSigning"):
        OcspSigner(issuer=ca.certificate, certificate=cert, key=key)  # type: ignore[arg-type]


def test_responder_from_another_ca_is_refused(tmp_path: Path) -> None:
    """A responder certificate must be issued directly by the issuer it answers for."""
    ca, _ = _ca(tmp_path / "ca")
    other, other_key = _ca(tmp_path / "other", name="Other CA")
    rkey = ec.generate_private_key(ec.SECP256R1())
    rcert = issue_responder_certificate(issuer=other.certificate, issuer_key=other_key,
                                        public_key=rkey.public_key(), at=AT)
    with pytest.raises(ConfigurationError, match="not issued by"):
        OcspSigner(issuer=ca.certificate, certificate=rcert, key=rkey)


def test_key_must_match_certificate(tmp_path: Path) -> None:
    """A signing key that is not the certificate's is refused at start-up."""
    ca, _ = _ca(tmp_path / "ca")
    with pytest.raises(ConfigurationError, match="does not match"):
        OcspSigner(issuer=ca.certificate, certificate=ca.certificate,
                   key=ec.generate_private_key(ec.SECP256R1()))


def test_ed25519_ca_signs_answers(tmp_path: Path) -> None:
    """An Ed25519 CA key signs answers too (RFC 8410 algorithm, no separate hash)."""
    ca, key = _ca(tmp_path / "ca", key_type=KeyType.ED25519)
    signer = OcspSigner(issuer=ca.certificate, certificate=ca.certificate, key=key)
    person = _person(ca)
    resp = _load(respond(_request(person, ca.certificate), signer=signer, source=Table(), at=AT))
    assert resp.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    ca.certificate.public_key().verify(resp.signature, resp.tbs_response_bytes)  # type: ignore[call-arg]


def test_negative_serial_is_malformed(world) -> None:  # type: ignore[no-untyped-def]
    """A CertID with a negative serial (RFC 5280 §4.1.2.2 forbids it) → malformedRequest."""
    ca, signer, table, person = world
    req = asn1_ocsp.OCSPRequest.load(_request(person, ca.certificate))
    req["tbs_request"]["request_list"][0]["req_cert"]["serial_number"] = -5
    assert answer(req.dump(force=True), signer=signer, source=table,
                  at=AT).outcome == "malformedRequest"
