"""The CA: issuing profiles, refusing bad CSRs, checking usage on use."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sild.ca import CertificateAuthority
from sild.crypto.certs import (
    CertPurpose,
    build_csr,
    check_usage,
    find_issuer,
    identity_of,
    load_csr,
    serial_hex,
)
from sild.crypto.keys import KeyType, generate_key, load_private_key
from sild.errors import CertificateError, ConfigurationError, InvalidRequest, NotFound
from sild.testing.clock import FIXED_NOW as NOW


@pytest.fixture
def ca(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority.create(tmp_path / "ca", name="Test CA", at=NOW)


def _csr_with(
    key: object, *exts: tuple[x509.ExtensionType, bool]
) -> x509.CertificateSigningRequest:
    b = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
    for ext, critical in exts:
        b = b.add_extension(ext, critical=critical)
    return b.sign(key, hashes.SHA256())  # type: ignore[arg-type]


def _ku(**on: bool) -> x509.KeyUsage:
    names = ["digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
             "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"]
    return x509.KeyUsage(**{n: on.get(n, False) for n in names})


@pytest.mark.parametrize("key_type", list(KeyType))
def test_issue_auth_certificate(ca: CertificateAuthority, key_type: KeyType) -> None:
    """An auth certificate has TLS purposes, the address in SAN and the server id in subject."""
    key = generate_key(key_type)
    cert = ca.issue(build_csr(key, "gw"), purpose=CertPurpose.AUTH, identity="EE/GOV/1/gw1",
                    address="gw1.example.org:5500", at=NOW)
    check_usage(cert, CertPurpose.AUTH)
    assert identity_of(cert) == "EE/GOV/1/gw1"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["gw1.example.org"]
    assert find_issuer(cert, [ca.certificate], at=NOW) == ca.certificate
    with pytest.raises(CertificateError, match="not a sign certificate"):
        check_usage(cert, CertPurpose.SIGN)


def test_issue_sign_certificate(ca: CertificateAuthority) -> None:
    """A sign certificate has non-repudiation and is refused as an auth certificate."""
    key = generate_key(KeyType.ED25519)
    cert = ca.issue(build_csr(key, "m"), purpose=CertPurpose.SIGN, identity="EE/GOV/1", at=NOW)
    check_usage(cert, CertPurpose.SIGN)
    with pytest.raises(CertificateError, match="not an auth certificate"):
        check_usage(cert, CertPurpose.AUTH)
    assert ca.find_issued(serial_hex(cert)) == cert


def test_ip_address_goes_into_san(ca: CertificateAuthority) -> None:
    """An IP address becomes an IP SAN entry, without the port."""
    key = generate_key(KeyType.P256)
    cert = ca.issue(build_csr(key, "g"), purpose=CertPurpose.AUTH, identity="EE/GOV/1/gw",
                    address="127.0.0.1:5500", at=NOW)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]


def test_ca_key_is_0600_and_encrypted_with_passphrase(tmp_path: Path) -> None:
    """The CA key file is private and encrypted when a passphrase is given."""
    CertificateAuthority.create(tmp_path / "ca", name="X", at=NOW, passphrase=b"pw")
    path = tmp_path / "ca" / "ca.key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert b"ENCRYPTED" in path.read_bytes()
    load_private_key(path, passphrase=b"pw")
    with pytest.raises(ConfigurationError):
        CertificateAuthority.create(tmp_path / "ca", name="X", at=NOW)


@pytest.mark.parametrize(
    ("purpose", "ext", "message"),
    [
        (CertPurpose.SIGN, (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
         "TLS key purposes"),
        (CertPurpose.AUTH, (_ku(digital_signature=True, content_commitment=True), True),
         "non-repudiation"),
        (CertPurpose.AUTH, (_ku(digital_signature=True, key_cert_sign=True), True),
         "certificate signing"),
        (CertPurpose.SIGN, (_ku(digital_signature=True), True), "lacks non-repudiation"),
        (CertPurpose.AUTH, (x509.BasicConstraints(ca=True, path_length=None), True),
         "CA certificate"),
        (CertPurpose.AUTH, (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False),
         "lacks serverAuth"),
    ],
)
def test_csr_with_wrong_key_usage_is_refused(
    ca: CertificateAuthority, purpose: CertPurpose, ext: tuple[x509.ExtensionType, bool],
    message: str,
) -> None:
    """A CSR that asks for usages outside the profile is refused, nothing issued."""
    csr = _csr_with(ec.generate_private_key(ec.SECP256R1()), ext)
    with pytest.raises(InvalidRequest, match=message):
        ca.issue(csr, purpose=purpose, identity="EE/GOV/1/gw", address="127.0.0.1", at=NOW)
    assert CertificateAuthority.list_issued(ca.folder) == []


@pytest.mark.parametrize(
    "key",
    [rsa.generate_private_key(65537, 2048), ec.generate_private_key(ec.SECP384R1())],
    ids=["rsa2048", "p384"],
)
def test_csr_with_unknown_key_type_is_refused(ca: CertificateAuthority, key: object) -> None:
    """Only Ed25519 and P-256 keys are certified."""
    with pytest.raises(InvalidRequest, match="unsupported key type"):
        ca.issue(_csr_with(key), purpose=CertPurpose.SIGN, identity="EE/GOV/1", at=NOW)


def test_csr_with_bad_self_signature_is_refused(ca: CertificateAuthority) -> None:
    """A CSR whose signature does not verify proves no key possession."""
    der = bytearray(build_csr(generate_key(KeyType.P256), "x").public_bytes(
        serialization.Encoding.DER))
    der[-5] ^= 0x01  # inside the signature value
    with pytest.raises(InvalidRequest):
        ca.issue(load_csr(bytes(der)), purpose=CertPurpose.SIGN, identity="EE/GOV/1", at=NOW)


@pytest.mark.parametrize("data", [b"", b"garbage", b"-----BEGIN CERTIFICATE REQUEST-----\nxx"])
def test_garbage_csr(data: bytes) -> None:
    """Garbage CSR bytes give InvalidRequest, not a library exception."""
    with pytest.raises(InvalidRequest):
        load_csr(data)


def test_auth_needs_an_address(ca: CertificateAuthority) -> None:
    """An auth certificate without an address would not be usable for TLS."""
    with pytest.raises(InvalidRequest, match="address"):
        ca.issue(build_csr(generate_key(KeyType.P256), "g"), purpose=CertPurpose.AUTH,
                 identity="EE/GOV/1/gw", at=NOW)


@pytest.mark.parametrize("address", ["", "bad host:1", "-x_.example", "a" * 300])
def test_malformed_address_is_refused(ca: CertificateAuthority, address: str) -> None:
    """A SAN must be a host name or an IP address."""
    with pytest.raises(InvalidRequest):
        ca.issue(build_csr(generate_key(KeyType.P256), "g"), purpose=CertPurpose.AUTH,
                 identity="EE/GOV/1/gw", address=address, at=NOW)


def test_foreign_ca_and_expiry(ca: CertificateAuthority, tmp_path: Path) -> None:
    """find_issuer refuses another CA's certificate and an expired one."""
    other = CertificateAuthority.create(tmp_path / "other", name="Other", at=NOW)
    cert = other.issue(build_csr(generate_key(KeyType.P256), "m"), purpose=CertPurpose.SIGN,
                       identity="EE/GOV/1", at=NOW, days=1)
    with pytest.raises(CertificateError, match="not issued by an approved CA"):
        find_issuer(cert, [ca.certificate], at=NOW)
    with pytest.raises(CertificateError, match="not valid at"):
        find_issuer(cert, [other.certificate], at=NOW + timedelta(days=2))


def test_find_issued_rejects_bad_serial(ca: CertificateAuthority) -> None:
    """Serial lookups take hex only and say when nothing was issued."""
    with pytest.raises(InvalidRequest):
        ca.find_issued("../../etc/passwd")
    with pytest.raises(NotFound):
        ca.find_issued("abc")
