"""Person certificate profiles and the person CA (docs/spec/identity.md §2)."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from sild.ca import CertificateAuthority
from sild.core import personal_code as pc
from sild.crypto.certs import cert_pem
from sild.crypto.keys import KeyType, generate_key, load_private_key
from sild.errors import CertificateError, ConfigurationError, InvalidRequest
from sild.identity.person_ca import PersonCA
from sild.identity.profiles import (
    CertRole,
    PersonName,
    check_person_certificate,
    person_of,
)
from sild.testing.clock import FIXED_NOW

CODE = pc.parse("EE", "38001085718")
NAME = PersonName.parse("Jaak-Kristjan", "Jõeorg")


def issue(ca: PersonCA, role: CertRole, key_type: KeyType = KeyType.P256) -> x509.Certificate:
    return ca.issue(role=role, code=CODE, name=NAME, public_key=generate_key(key_type).public_key(),
                    at=FIXED_NOW)


def test_subject_is_as_on_an_estonian_id_card(person_ca: PersonCA) -> None:
    """C, CN "SURNAME,GIVEN,CODE", SN, GN and serialNumber PNOEE-<code> (§2.1)."""
    cert = issue(person_ca, CertRole.AUTH)
    s = cert.subject
    def one(oid: x509.ObjectIdentifier) -> object:
        return s.get_attributes_for_oid(oid)[0].value
    assert one(NameOID.COUNTRY_NAME) == "EE"
    assert one(NameOID.COMMON_NAME) == "JÕEORG,JAAK-KRISTJAN,38001085718"
    assert one(NameOID.SURNAME) == "JÕEORG"
    assert one(NameOID.GIVEN_NAME) == "JAAK-KRISTJAN"
    assert one(NameOID.SERIAL_NUMBER) == "PNOEE-38001085718"
    assert person_of(cert) == CODE


def test_auth_profile(person_ca: PersonCA) -> None:
    """Authentication: digitalSignature, EKU clientAuth, no nonRepudiation (§2.2)."""
    cert = issue(person_ca, CertRole.AUTH)
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical
    assert ku.value.digital_signature
    assert not ku.value.content_commitment
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH]
    assert check_person_certificate(cert, CertRole.AUTH) == CODE
    with pytest.raises(CertificateError, match="signing"):
        check_person_certificate(cert, CertRole.SIGN)


def test_sign_profile(person_ca: PersonCA) -> None:
    """Signing: nonRepudiation only, no EKU (§2.3)."""
    cert = issue(person_ca, CertRole.SIGN)
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.content_commitment
    assert not ku.digital_signature
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert check_person_certificate(cert, CertRole.SIGN) == CODE
    with pytest.raises(CertificateError, match="authentication"):
        check_person_certificate(cert, CertRole.AUTH)


def test_ocsp_url_in_aia(person_ca: PersonCA) -> None:
    """The person CA's OCSP URL is in each leaf's AuthorityInformationAccess (§2.4)."""
    aia = issue(person_ca, CertRole.SIGN).extensions.get_extension_for_class(
        x509.AuthorityInformationAccess).value
    assert [(d.access_method, d.access_location.value) for d in aia] == [
        (AuthorityInformationAccessOID.OCSP, "http://127.0.0.1:4100/ocsp")]


def test_chain_verifies_with_openssl(person_ca: PersonCA, tmp_path: Path) -> None:
    """openssl verify accepts leaf → person CA → root, for both roles (§2)."""
    root = tmp_path / "root.pem"
    root.write_text(cert_pem(person_ca.root))
    inter = tmp_path / "inter.pem"
    inter.write_text(cert_pem(person_ca.certificate))
    for role, purpose in ((CertRole.AUTH, "sslclient"), (CertRole.SIGN, "any")):
        leaf = tmp_path / f"{role}.pem"
        leaf.write_text(cert_pem(issue(person_ca, role)))
        out = subprocess.run(
            ["openssl", "verify", "-attime", str(int(FIXED_NOW.timestamp())), "-purpose",
             purpose, "-CAfile", str(root), "-untrusted", str(inter), str(leaf)],
            capture_output=True, text=True, check=False)
        assert out.returncode == 0, out.stderr + out.stdout


def test_leaf_validity_capped_by_the_ca(person_ca: PersonCA) -> None:
    """A leaf never outlives its CA, whatever lifetime is asked."""
    cert = person_ca.issue(role=CertRole.AUTH, code=CODE, name=NAME, days=3650,
                           public_key=generate_key().public_key(),
                           at=person_ca.certificate.not_valid_after_utc - timedelta(days=10))
    assert cert.not_valid_after_utc == person_ca.certificate.not_valid_after_utc


def test_ed25519_keys_are_accepted(person_ca: PersonCA) -> None:
    """Persons may hold Ed25519 keys as well as P-256."""
    cert = issue(person_ca, CertRole.AUTH, KeyType.ED25519)
    assert cert.public_key().public_bytes_raw()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("given", "surname", "why"),
    [("", "Tamm", "empty"), ("Mari", "  ", "empty"), ("Mari,Liis", "Tamm", "comma"),
     ("Mari\n", "Tamm\x00", "control"), ("M" * 41, "Tamm", "longer than 40"),
     (None, "Tamm", "text")],
)
def test_bad_names_are_refused(given: object, surname: object, why: str) -> None:
    """Empty names, commas (they separate CN fields), controls and non-text are refused."""
    with pytest.raises(InvalidRequest, match=why):
        PersonName.parse(given, surname)


def test_cn_longer_than_64_is_refused(person_ca: PersonCA) -> None:
    """X.520 caps CN at 64 characters; long names get a clear error, not a crash."""
    with pytest.raises(InvalidRequest, match="64"):
        person_ca.issue(role=CertRole.AUTH, code=CODE,
                        name=PersonName.parse("A" * 30, "B" * 30),
                        public_key=generate_key().public_key(), at=FIXED_NOW)


def test_person_ca_is_an_intermediate_of_the_root(person_ca: PersonCA,
                                                   root: CertificateAuthority) -> None:
    """The person CA is signed by the instance root and may issue only leaves (pathLen 0)."""
    person_ca.certificate.verify_directly_issued_by(root.certificate)
    bc = person_ca.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert (bc.ca, bc.path_length) == (True, 0)
    assert person_ca.certificate.subject != root.certificate.subject


def test_person_ca_load_round_trip(person_ca: PersonCA) -> None:
    """A saved person CA loads back with the same certificate and a working key."""
    again = PersonCA.load(person_ca.folder)
    assert again.certificate == person_ca.certificate
    assert again.root == person_ca.root
    issue(again, CertRole.SIGN).verify_directly_issued_by(person_ca.certificate)


def test_second_person_ca_in_one_folder_is_refused(person_ca: PersonCA, tmp_path: Path,
                                                   root: CertificateAuthority) -> None:
    """Creating a person CA over an existing one is refused."""
    with pytest.raises(ConfigurationError, match="already exists"):
        PersonCA.create(person_ca.folder, root_certificate=root.certificate,
                        root_key=load_private_key(tmp_path / "root" / "ca.key"),
                        name="x", at=FIXED_NOW)


def test_missing_person_ca_is_a_clear_error(tmp_path: Path) -> None:
    """Loading from a folder without a person CA says to run identity init."""
    with pytest.raises(ConfigurationError, match="identity init"):
        PersonCA.load(tmp_path / "nothing")


def test_binary_chain_file_is_a_clear_error(tmp_path: Path) -> None:
    """A chain.pem of random bytes is a ConfigurationError, not a traceback."""
    (tmp_path / "chain.pem").write_bytes(b"\x00\xff" * 50)
    with pytest.raises(ConfigurationError, match="not a PEM chain"):
        PersonCA.load_certificates(tmp_path)


def test_root_without_room_for_an_intermediate_is_refused(tmp_path: Path) -> None:
    """A root with pathLen 0 (older instances) cannot certify a person CA; nothing is written."""
    from cryptography.hazmat.primitives import hashes

    key = generate_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Old root")])
    old_root = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(1)
                .not_valid_before(FIXED_NOW).not_valid_after(FIXED_NOW + timedelta(days=9))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .sign(key, hashes.SHA256()))
    with pytest.raises(ConfigurationError, match="pathLenConstraint 0"):
        PersonCA.create(tmp_path / "pca", root_certificate=old_root, root_key=key, name="x",
                        at=FIXED_NOW)
    assert not (tmp_path / "pca").exists()


def test_instance_root_allows_one_intermediate(root: CertificateAuthority) -> None:
    """sild init's root carries pathLen 1: room for the person CA, no deeper."""
    bc = root.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert (bc.ca, bc.path_length) == (True, 1)
