"""Sign with Sild's code, verify every step (docs/spec/documents.md §4-§5): each attack
of issue #9 ends INVALID with its reason, each unsupported case INDETERMINATE."""

from __future__ import annotations

import base64
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from sild.doc.container import Container, read_container, write_container
from sild.doc.sign import add_signature, new_container
from sild.doc.trust import TrustList
from sild.doc.verify import Indication, verify_container
from sild.doc.xades import XADES
from sild.errors import CertificateRevoked
from sild.testing.documents import DocWorld

from .conftest import DATA, TYPES, signed


def _verify(world: DocWorld, c: Container | bytes, **kw: object) -> tuple[Indication, str]:
    r = verify_container(c, trust=kw.pop("trust", world.trust), at=world.at)  # type: ignore[arg-type]
    assert len(r.signatures) >= 1
    bad = [s for s in r.signatures if s.indication is not Indication.VALID]
    return r.indication, (bad[0].reason if bad else "")


def test_sild_signature_is_valid(world: DocWorld, signed_zip: bytes) -> None:
    """A fresh XAdES-LT signature: every step OK, VALID."""
    r = verify_container(signed_zip, trust=world.trust, at=world.at)
    assert r.indication is Indication.VALID
    steps = {s.name: s.status.value for s in r.signatures[0].steps}
    assert steps == {n: "OK" for n in ("format", "profile", "references", "data",
                                       "signing-certificate", "signed-properties",
                                       "signature-value", "timestamp", "chain", "revocation")}
    assert r.signatures[0].signer_serial == "PNOEE-38001085718"


def test_structure_follows_the_profile(signed_zip: bytes) -> None:
    """References per file (percent-encoded URI), SignedProperties ref with its Type,
    SigningCertificateV2, MimeType per file, timestamp, CertificateValues, OCSPValues."""
    xml = read_container(signed_zip).signatures["META-INF/signatures0.xml"]
    root = etree.fromstring(xml)
    assert root.tag == "{http://uri.etsi.org/02918/v1.2.1#}XAdESSignatures"
    uris = [r.get("URI") for r in root.iter("{http://www.w3.org/2000/09/xmldsig#}Reference")]
    assert uris == ["leping.txt", "lisa%201.pdf", "#S0-SignedProperties"]
    x = f"{{{XADES}}}"
    for tag in ("SigningTime", "SigningCertificateV2", "IssuerSerialV2", "SignatureTimeStamp",
                "CertificateValues", "EncapsulatedOCSPValue"):
        assert root.find(f".//{x}{tag}") is not None, tag
    assert [m.text for m in root.iter(f"{x}MimeType")] == ["text/plain", "application/pdf"]


def test_tampered_data_file_is_invalid(world: DocWorld) -> None:
    """One changed byte in a data file → INVALID, naming the file."""
    c = signed(world)
    c = replace(c, files={**c.files, "leping.txt": b"The parties disagree.\n"})
    assert _verify(world, write_container(c)) == (
        Indication.INVALID, "data: data file leping.txt does not match its digest "
                            "(changed after signing)")


def test_swapped_files_are_invalid(world: DocWorld) -> None:
    """Two files' contents swapped under their names → INVALID."""
    c = signed(world)
    a, b = c.files["leping.txt"], c.files["lisa 1.pdf"]
    c = replace(c, files={"leping.txt": b, "lisa 1.pdf": a})
    ind, reason = _verify(world, write_container(c))
    assert ind is Indication.INVALID
    assert reason.startswith("data: data file")


def test_added_file_is_invalid(world: DocWorld) -> None:
    """A file added (and put into the manifest) after signing is not covered → INVALID."""
    c = signed(world)
    c = replace(c, files={**c.files, "virus.exe": b"MZ"},
                mimetypes={**c.mimetypes, "virus.exe": "application/octet-stream"})
    assert _verify(world, write_container(c)) == (
        Indication.INVALID, "references: file(s) not covered by this signature: virus.exe")


def test_removed_file_is_invalid(world: DocWorld) -> None:
    """A signed file taken out → INVALID."""
    c = signed(world)
    c = replace(c, files={"leping.txt": c.files["leping.txt"]},
                mimetypes={"leping.txt": "text/plain"})
    ind, reason = _verify(world, write_container(c))
    assert ind is Indication.INVALID
    assert "lisa 1.pdf" in reason


def test_signature_moved_to_another_container_is_invalid(world: DocWorld) -> None:
    """signatures0.xml of container A put into container B (other files) → INVALID."""
    a = signed(world)
    b = new_container({"other.txt": b"something else"}, {"other.txt": "text/plain"})
    b = replace(b, signatures=dict(a.signatures))
    ind, reason = _verify(world, write_container(b))
    assert ind is Indication.INVALID
    assert "does not hold: leping.txt, lisa 1.pdf" in reason


def test_signature_moved_to_same_named_files_is_invalid(world: DocWorld) -> None:
    """…and into a container with the same names but other contents → INVALID."""
    a = signed(world)
    b = new_container({k: v + b"!" for k, v in DATA.items()}, TYPES)
    b = replace(b, signatures=dict(a.signatures))
    assert _verify(world, write_container(b))[0] is Indication.INVALID


def _edit_xml(c: Container, edit: object) -> Container:
    name = "META-INF/signatures0.xml"
    root = etree.fromstring(c.signatures[name])
    edit(root)  # type: ignore[operator]
    return replace(c, signatures={**c.signatures, name: etree.tostring(root)})


def test_changed_signing_time_is_invalid(world: DocWorld) -> None:
    """SignedProperties edited (SigningTime) → the SignedProperties digest fails."""
    def edit(root: etree._Element) -> None:
        root.find(f".//{{{XADES}}}SigningTime").text = "2000-01-01T00:00:00Z"
    ind, reason = _verify(world, write_container(_edit_xml(signed(world), edit)))
    assert (ind, reason) == (Indication.INVALID, "signed-properties: SignedProperties do not "
                                                 "match their digest (changed after signing)")


def test_changed_signature_value_is_invalid(world: DocWorld) -> None:
    """A flipped bit in SignatureValue → signature and timestamp imprint both fail."""
    def edit(root: etree._Element) -> None:
        el = root.find(".//{http://www.w3.org/2000/09/xmldsig#}SignatureValue")
        raw = bytearray(base64.b64decode(el.text))
        raw[5] ^= 1
        el.text = base64.b64encode(bytes(raw)).decode()
    r = verify_container(write_container(_edit_xml(signed(world), edit)), trust=world.trust,
                         at=world.at)
    steps = {s.name: s.status.value for s in r.signatures[0].steps}
    assert steps["signature-value"] == "FAIL"
    assert steps["timestamp"] == "FAIL"


def test_other_signer_certificate_is_invalid(world: DocWorld, tmp_path_factory:
                                             pytest.TempPathFactory) -> None:
    """KeyInfo swapped for another person's certificate → SigningCertificateV2 mismatch."""
    other = DocWorld(tmp_path_factory.mktemp("other"))
    der = other.certificate.public_bytes(Encoding.DER)

    def edit(root: etree._Element) -> None:
        root.find(".//{http://www.w3.org/2000/09/xmldsig#}X509Certificate").text = \
            base64.b64encode(der).decode()
    ind, reason = _verify(world, write_container(_edit_xml(signed(world), edit)))
    assert ind is Indication.INVALID
    assert reason.startswith("signing-certificate:")


def test_signer_revoked_before_signing_is_refused_when_signing(world: DocWorld,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """A revoked signer cannot add a signature: CertificateRevoked, nothing returned."""
    w = DocWorld(tmp_path_factory.mktemp("revoked"))
    w.revoke(w.at - timedelta(hours=1))
    with pytest.raises(CertificateRevoked, match=r"revoked.*refusing to sign"):
        add_signature(new_container(DATA, TYPES), certificate=w.certificate, chain=w.chain,
                      sign=w.sign, services=w.services(), at=w.at)


def test_signer_revoked_before_timestamp_is_invalid(tmp_path_factory:
                                                    pytest.TempPathFactory) -> None:
    """An embedded OCSP answer saying *revoked before the timestamp* → INVALID."""
    w = DocWorld(tmp_path_factory.mktemp("revoked2"))
    c = signed(w)
    w.revoke(w.at - timedelta(minutes=10))
    revoked = w.ocsp(w.certificate, w.person_ca.certificate)

    def edit(root: etree._Element) -> None:
        root.find(f".//{{{XADES}}}EncapsulatedOCSPValue").text = base64.b64encode(
            revoked).decode()
    ind, reason = _verify(w, write_container(_edit_xml(c, edit)))
    assert ind is Indication.INVALID
    assert re.match(r"revocation: the signer's certificate was revoked at .* \(key_compromise\), "
                    r"before the timestamp", reason)


def test_revoked_after_signing_stays_valid(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Revocation after the signature (OCSP good at signing time) does not undo it."""
    w = DocWorld(tmp_path_factory.mktemp("later"))
    raw = write_container(signed(w))
    w.revoke(w.at + timedelta(days=1))
    assert _verify(w, raw)[0] is Indication.VALID


def test_ocsp_before_timestamp_is_invalid(tmp_path_factory: pytest.TempPathFactory) -> None:
    """OCSP producedAt before the timestamp: it does not show the status at signing.
    (cryptography stamps producedAt with the real time, so the timestamp moves.)"""
    w = DocWorld(tmp_path_factory.mktemp("early"))
    raw = write_container(signed(w, ts_at=datetime.now(UTC) + timedelta(minutes=5)))
    assert _verify(w, raw) == (Indication.INVALID, "revocation: the OCSP answer was "
                                                   "produced before the timestamp")


def test_ocsp_long_after_timestamp_is_invalid(tmp_path_factory: pytest.TempPathFactory) -> None:
    """OCSP producedAt more than 24 h after the timestamp → INVALID."""
    w = DocWorld(tmp_path_factory.mktemp("late"), at=datetime.now(UTC) - timedelta(hours=25))
    raw = write_container(signed(w))
    ind, reason = _verify(w, raw)
    assert ind is Indication.INVALID
    assert "(> 24 h)" in reason


def test_untrusted_root_is_indeterminate(world: DocWorld, signed_zip: bytes) -> None:
    """Without the root in the trust list the answer is INDETERMINATE, not VALID."""
    ind, reason = _verify(world, signed_zip, trust=TrustList())
    assert ind is Indication.INDETERMINATE
    assert "not trusted" in reason


def test_two_signers_on_one_container(world: DocWorld,
                                      tmp_path_factory: pytest.TempPathFactory) -> None:
    """A second signer adds signatures1.xml; both VALID; the first is unchanged."""
    other = DocWorld(tmp_path_factory.mktemp("second"))
    first = signed(world)
    both = add_signature(first, certificate=other.certificate, chain=other.chain,
                         sign=other.sign, services=other.services(), at=other.at)
    assert sorted(both.signatures) == ["META-INF/signatures0.xml", "META-INF/signatures1.xml"]
    assert both.signatures["META-INF/signatures0.xml"] == \
        first.signatures["META-INF/signatures0.xml"]
    trust = TrustList((world.root.certificate, other.root.certificate))
    r = verify_container(write_container(both), trust=trust, at=world.at)
    assert [s.indication for s in r.signatures] == [Indication.VALID, Indication.VALID]
    # One bad signature makes the container INVALID, the other stays VALID.
    r = verify_container(write_container(both), trust=world.trust, at=world.at)
    assert [s.indication for s in r.signatures] == [Indication.VALID, Indication.INDETERMINATE]


def test_signature_file_that_is_not_xml_is_invalid(world: DocWorld) -> None:
    """Garbage in signatures0.xml → INVALID format, no traceback."""
    c = signed(world)
    c = replace(c, signatures={"META-INF/signatures0.xml": b"<not-xml"})
    ind, reason = _verify(world, write_container(c))
    assert ind is Indication.INVALID
    assert reason.startswith("format: not XML")


def test_signature_file_with_doctype_is_invalid(world: DocWorld) -> None:
    """A DOCTYPE (entity tricks) in a signature file is refused."""
    c = signed(world)
    xml = c.signatures["META-INF/signatures0.xml"]
    xml = xml.replace(b"?>", b"?><!DOCTYPE x [<!ENTITY e 'x'>]>", 1)
    c = replace(c, signatures={"META-INF/signatures0.xml": xml})
    assert _verify(world, write_container(c)) == (
        Indication.INVALID, "format: a DOCTYPE is not allowed in a signature file")


def test_no_signatures_is_indeterminate(world: DocWorld) -> None:
    """An unsigned container is not VALID."""
    r = verify_container(write_container(new_container(DATA, TYPES)), trust=world.trust)
    assert r.indication is Indication.INDETERMINATE
    assert r.signatures == ()


def test_ocsp_from_unauthorised_responder_is_invalid(tmp_path_factory:
                                                     pytest.TempPathFactory) -> None:
    """An OCSP answer signed by a certificate without id-kp-OCSPSigning (here the TSA's,
    issued by the same root) is not an authorised answer (RFC 6960 §4.2.2.2) → INVALID."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509 import ocsp

    w = DocWorld(tmp_path_factory.mktemp("unauth"))
    c = signed(w)
    forged = (ocsp.OCSPResponseBuilder()
              .add_response(cert=w.certificate, issuer=w.person_ca.certificate,
                            algorithm=hashes.SHA256(), cert_status=ocsp.OCSPCertStatus.GOOD,
                            this_update=w.at, next_update=w.at + timedelta(minutes=5),
                            revocation_time=None, revocation_reason=None)
              .responder_id(ocsp.OCSPResponderEncoding.HASH, w.tsa.certificate)
              .certificates([w.tsa.certificate])
              .sign(w.tsa.key, hashes.SHA256())  # type: ignore[arg-type]
              .public_bytes(Encoding.DER))

    def edit(root: etree._Element) -> None:
        root.find(f".//{{{XADES}}}EncapsulatedOCSPValue").text = base64.b64encode(
            forged).decode()
    assert _verify(w, write_container(_edit_xml(c, edit))) == (
        Indication.INVALID,
        "revocation: OCSP: the OCSP responder is not authorised (no OCSPSigning)")


def test_authentication_certificate_cannot_sign(tmp_path_factory:
                                                pytest.TempPathFactory) -> None:
    """A signature made with the PIN1 (authentication) certificate: no nonRepudiation
    → INVALID (the signing certificate must be the PIN2 one)."""
    from sild.core.personal_code import parse
    from sild.identity.profiles import CertRole, PersonName

    w = DocWorld(tmp_path_factory.mktemp("auth"))
    auth = w.person_ca.issue(role=CertRole.AUTH, code=parse("EE", "38001085718"),
                             name=PersonName.parse("Jaak", "Joeorg"),
                             public_key=w.key.public_key(), at=w.at - timedelta(hours=1))
    c = add_signature(new_container(DATA, TYPES), certificate=auth, chain=w.chain,
                      sign=w.sign, services=w.services(), at=w.at)
    assert _verify(w, write_container(c)) == (
        Indication.INVALID,
        "signing-certificate: the signing certificate is not for non-repudiation (KeyUsage)")
