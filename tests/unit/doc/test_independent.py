"""Independent check: Debian's ``xmlsec1`` (libxmlsec1, another implementation of
XML-DSig and its canonicalisation than Sild's lxml-based signer) accepts Sild's XAdES
signatures and rejects them after a data file changes. signxml's verifier is the
second opinion (pure Python over lxml, also independent of how Sild signs)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from sild.doc.container import read_container
from sild.testing.documents import DocWorld

XMLSEC1 = shutil.which("xmlsec1")


def _extract(raw: bytes, folder: Path) -> Path:
    """Data files at the top (ASiC URIs are relative to the container root), the
    signature file beside them."""
    c = read_container(raw)
    for name, body in c.files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(body)
    sig = folder / "signatures0.xml"
    sig.write_bytes(c.signatures["META-INF/signatures0.xml"])
    return sig


def _xmlsec1(world: DocWorld, sig: Path) -> subprocess.CompletedProcess[str]:
    assert XMLSEC1 is not None
    root = sig.parent / "root.pem"
    inter = sig.parent / "inter.pem"
    root.write_bytes(world.root.certificate.public_bytes(Encoding.PEM))
    inter.write_bytes(world.person_ca.certificate.public_bytes(Encoding.PEM))
    return subprocess.run(
        [XMLSEC1, "--verify", "--id-attr:Id", "http://uri.etsi.org/01903/v1.3.2#:SignedProperties",
         "--trusted-pem", str(root), "--untrusted-pem", str(inter), str(sig)],
        capture_output=True, text=True, check=False, cwd=sig.parent)


@pytest.mark.skipif(XMLSEC1 is None, reason="xmlsec1 not installed (apt-get install xmlsec1)")
def test_xmlsec1_accepts_sild_signature(world: DocWorld, signed_zip: bytes,
                                        tmp_path: Path) -> None:
    """xmlsec1 --verify: OK, all three references (two files, SignedProperties) good."""
    out = _xmlsec1(world, _extract(signed_zip, tmp_path))
    assert out.returncode == 0, out.stderr
    assert "OK" in out.stderr + out.stdout
    assert "SignedInfo References (ok/all): 3/3" in out.stderr + out.stdout


@pytest.mark.skipif(XMLSEC1 is None, reason="xmlsec1 not installed (apt-get install xmlsec1)")
def test_xmlsec1_rejects_changed_file(world: DocWorld, signed_zip: bytes,
                                      tmp_path: Path) -> None:
    """The same check fails once a data file changes (the test can fail)."""
    sig = _extract(signed_zip, tmp_path)
    (tmp_path / "leping.txt").write_bytes(b"The parties disagree.\n")
    out = _xmlsec1(world, sig)
    assert out.returncode != 0
    assert "data and digest do not match" in out.stderr + out.stdout


def test_signxml_accepts_sild_signature(world: DocWorld, signed_zip: bytes) -> None:
    """signxml's XAdESVerifier: signature value, every reference (files through a URI
    resolver) and the SigningCertificateV2 digest."""
    from urllib.parse import unquote

    from lxml import etree
    from signxml import SignatureConfiguration
    from signxml.xades import XAdESVerifier

    c = read_container(signed_zip)
    root = etree.fromstring(c.signatures["META-INF/signatures0.xml"])
    sig = root.find("{http://www.w3.org/2000/09/xmldsig#}Signature")
    results = XAdESVerifier().verify(
        etree.tostring(sig), x509_cert=world.certificate.public_bytes(Encoding.PEM).decode(),
        uri_resolver=lambda uri: c.files[unquote(uri)],
        expect_config=SignatureConfiguration(expect_references=3))
    assert len(results) == 3
    assert [r.signed_data for r in results[:2]] == [c.files["leping.txt"], c.files["lisa 1.pdf"]]
