"""XAdES baseline signatures in ASiC-E (ETSI EN 319 132-1 §4-5; BDOC 2.1 §4-5).

docs/spec/documents.md §3. Builds the XML of one ``signatures{N}.xml``
(``asic:XAdESSignatures`` root, EN 319 162-1 §A.5) in three steps, one per level:

* **B** (:func:`build_signed`): ``ds:SignedInfo`` with one ``ds:Reference`` per data file
  (SHA-256 of the file's bytes, URI = its name percent-encoded, RFC 3986) and one to
  ``#S{n}-SignedProperties`` (Type ``http://uri.etsi.org/01903#SignedProperties``);
  ``xades:SignedProperties`` with SigningTime, SigningCertificateV2 (digest and
  IssuerSerialV2, RFC 5035) and a DataObjectFormat/MimeType per file (EN 319 132-1
  §5.2.2, §5.2.4); then the value over the canonical SignedInfo (:func:`signed_info_c14n`).
* **T** (:func:`add_timestamp`): ``xades:SignatureTimeStamp`` over the canonical
  ``ds:SignatureValue`` element (EN 319 132-1 §5.3).
* **LT** (:func:`add_validation_data`): ``xades:CertificateValues`` and
  ``xades:RevocationValues/OCSPValues`` (EN 319 132-1 §5.4.1-5.4.2).

Canonicalisation is libxml2's, through lxml (exclusive XML-C14N, the method DigiDoc
software writes); no canonicaliser is written here. ECDSA values are r||s as XML-DSig
wants (RFC 4051 §3.3), converted from cryptography's DER with its own helpers.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import quote

from asn1crypto import cms as asn1_cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from lxml import etree

from sild.errors import InvalidRequest

__all__ = [
    "C14N_EXC",
    "DS",
    "XADES",
    "add_timestamp",
    "add_validation_data",
    "build_signed",
    "c14n",
    "file_uri",
    "set_signature_value",
    "signature_value_c14n",
    "signed_info_c14n",
    "xml_signature_value",
]

ASIC = "http://uri.etsi.org/02918/v1.2.1#"
DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"
NSMAP = {"asic": ASIC, "ds": DS, "xades": XADES}

C14N_EXC = "http://www.w3.org/2001/10/xml-exc-c14n#"
C14N_EXC_COMMENTS = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"
C14N_10 = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
C14N_10_COMMENTS = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments"
C14N_11 = "http://www.w3.org/2006/12/xml-c14n11"
C14N_11_COMMENTS = "http://www.w3.org/2006/12/xml-c14n11#WithComments"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
SIGNED_PROPERTIES_TYPE = "http://uri.etsi.org/01903#SignedProperties"

DIGESTS: dict[str, str] = {
    "http://www.w3.org/2000/09/xmldsig#sha1": "sha1",
    "http://www.w3.org/2001/04/xmldsig-more#sha224": "sha224",
    SHA256: "sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384": "sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512": "sha512",
}
SIGNATURES: dict[str, tuple[str, str]] = {  # URI → (key kind, hash)
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256": ("ecdsa", "sha256"),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384": ("ecdsa", "sha384"),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512": ("ecdsa", "sha512"),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha224": ("rsa", "sha224"),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256": ("rsa", "sha256"),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384": ("rsa", "sha384"),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512": ("rsa", "sha512"),
    "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1": ("rsa-pss", "sha256"),
    "http://www.w3.org/2007/05/xmldsig-more#sha384-rsa-MGF1": ("rsa-pss", "sha384"),
    "http://www.w3.org/2007/05/xmldsig-more#sha512-rsa-MGF1": ("rsa-pss", "sha512"),
}
# (exclusive, with comments). C14N 1.1 differs from 1.0 only in how xml:id and xml:base
# are inherited by a document subset; the signatures here carry neither (and the
# verifier refuses xml:* attributes on the ancestors of what it canonicalises), so
# libxml2's C14N 1.0 gives C14N 1.1's bytes, as signxml also does.
C14N_METHODS: dict[str, tuple[bool, bool]] = {
    C14N_EXC: (True, False), C14N_EXC_COMMENTS: (True, True),
    C14N_10: (False, False), C14N_10_COMMENTS: (False, True),
    C14N_11: (False, False), C14N_11_COMMENTS: (False, True),
}


def ds(tag: str) -> str:
    return f"{{{DS}}}{tag}"


def xa(tag: str) -> str:
    return f"{{{XADES}}}{tag}"


def file_uri(name: str) -> str:
    """A data file's Reference URI: its name percent-encoded (RFC 3986 §2.1; BDOC 2.1 §5)."""
    return quote(name, safe="/")


def c14n(element: etree._Element, method: str) -> bytes:
    """``element`` canonicalised by ``method`` (libxml2 through lxml)."""
    try:
        exclusive, comments = C14N_METHODS[method]
    except KeyError:
        raise InvalidRequest(f"canonicalisation method {method} is not supported") from None
    return etree.tostring(element, method="c14n", exclusive=exclusive, with_comments=comments)


def _digest_value(parent: etree._Element, data: bytes) -> None:
    etree.SubElement(parent, ds("DigestMethod"), Algorithm=SHA256)
    etree.SubElement(parent, ds("DigestValue")).text = base64.b64encode(
        hashlib.sha256(data).digest()).decode()


def signature_method(certificate: x509.Certificate) -> str:
    """The XML-DSig SignatureMethod for the signer's key. Sild's tokens sign with ECDSA
    over SHA-256 (sild.crypto.keys.sign), so only a P-256 key can make a signature here;
    the verifier accepts more (``SIGNATURES``)."""
    key = certificate.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1":
        return "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
    raise InvalidRequest("XAdES signing needs an ECDSA P-256 signing key; this one is "
                         f"{type(key).__name__} (issue the identity with a P-256 key)")


def issuer_serial_v2(certificate: x509.Certificate) -> bytes:
    """DER IssuerSerial (RFC 5035 §4): the issuer as a directoryName and the serial."""
    issuer = asn1_x509.Name.load(certificate.issuer.public_bytes())
    return bytes(asn1_cms.IssuerSerial({
        "issuer": [asn1_x509.GeneralName(name="directory_name", value=issuer)],
        "serial": certificate.serial_number,
    }).dump())


def build_signed(*, files: Mapping[str, bytes], mimetypes: Mapping[str, str],
                 certificate: x509.Certificate, signing_time: datetime,
                 signature_id: str) -> etree._Element:
    """The ``asic:XAdESSignatures`` tree of a B-level signature with an empty
    SignatureValue (sign :func:`signed_info_c14n`, then :func:`set_signature_value`)."""
    root = etree.Element(f"{{{ASIC}}}XAdESSignatures", nsmap=NSMAP)
    sig = etree.SubElement(root, ds("Signature"), Id=signature_id)
    info = etree.SubElement(sig, ds("SignedInfo"))
    etree.SubElement(info, ds("CanonicalizationMethod"), Algorithm=C14N_EXC)
    etree.SubElement(info, ds("SignatureMethod"), Algorithm=signature_method(certificate))
    for i, (name, data) in enumerate(files.items()):
        ref = etree.SubElement(info, ds("Reference"), Id=f"{signature_id}-RefId{i}",
                               URI=file_uri(name))
        _digest_value(ref, data)
    props_id = f"{signature_id}-SignedProperties"
    props_ref = etree.SubElement(info, ds("Reference"), Id=f"{signature_id}-RefId{len(files)}",
                                 Type=SIGNED_PROPERTIES_TYPE, URI=f"#{props_id}")
    transforms = etree.SubElement(props_ref, ds("Transforms"))
    etree.SubElement(transforms, ds("Transform"), Algorithm=C14N_EXC)
    etree.SubElement(sig, ds("SignatureValue"), Id=f"{signature_id}-SIG")
    key_info = etree.SubElement(sig, ds("KeyInfo"))
    x509_data = etree.SubElement(key_info, ds("X509Data"))
    cert_der = certificate.public_bytes(serialization.Encoding.DER)
    etree.SubElement(x509_data, ds("X509Certificate")).text = base64.b64encode(cert_der).decode()
    obj = etree.SubElement(sig, ds("Object"))
    qp = etree.SubElement(obj, xa("QualifyingProperties"), Target=f"#{signature_id}")
    props = etree.SubElement(qp, xa("SignedProperties"), Id=props_id)
    ssp = etree.SubElement(props, xa("SignedSignatureProperties"))
    etree.SubElement(ssp, xa("SigningTime")).text = signing_time.strftime("%Y-%m-%dT%H:%M:%SZ")
    scv2 = etree.SubElement(ssp, xa("SigningCertificateV2"))
    cert_el = etree.SubElement(scv2, xa("Cert"))
    _digest_value(etree.SubElement(cert_el, xa("CertDigest")), cert_der)
    etree.SubElement(cert_el, xa("IssuerSerialV2")).text = base64.b64encode(
        issuer_serial_v2(certificate)).decode()
    sdop = etree.SubElement(props, xa("SignedDataObjectProperties"))
    for i, name in enumerate(files):
        dof = etree.SubElement(sdop, xa("DataObjectFormat"),
                               ObjectReference=f"#{signature_id}-RefId{i}")
        etree.SubElement(dof, xa("MimeType")).text = mimetypes.get(
            name, "application/octet-stream")
    # The SignedProperties digest, over the element in its final place.
    digest = hashlib.sha256(c14n(props, C14N_EXC)).digest()
    etree.SubElement(props_ref, ds("DigestMethod"), Algorithm=SHA256)
    etree.SubElement(props_ref, ds("DigestValue")).text = base64.b64encode(digest).decode()
    return root


def _signature(root: etree._Element) -> etree._Element:
    sig = root.find(ds("Signature"))
    if sig is None:
        raise InvalidRequest("no ds:Signature")
    return sig


def signed_info_c14n(root: etree._Element) -> bytes:
    """The bytes the signature value is computed over (XML-DSig §3.1.2)."""
    sig = _signature(root)
    info = sig.find(ds("SignedInfo"))
    method = info.find(ds("CanonicalizationMethod")) if info is not None else None
    if info is None or method is None:
        raise InvalidRequest("ds:SignedInfo or its CanonicalizationMethod is missing")
    return c14n(info, method.get("Algorithm", ""))


def xml_signature_value(certificate: x509.Certificate, der_or_raw: bytes) -> bytes:
    """ECDSA: cryptography's DER → XML-DSig's r||s (RFC 4051 §3.3); RSA unchanged."""
    key = certificate.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        r, s = decode_dss_signature(der_or_raw)
        size = (key.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    return der_or_raw


def set_signature_value(root: etree._Element, value: bytes) -> None:
    sig = _signature(root)
    el = sig.find(ds("SignatureValue"))
    if el is None:
        raise InvalidRequest("no ds:SignatureValue")
    el.text = base64.b64encode(value).decode()


def signature_value_c14n(root: etree._Element, method: str = C14N_EXC) -> bytes:
    """The bytes a SignatureTimeStamp covers: the canonical ds:SignatureValue element
    (EN 319 132-1 §5.3)."""
    el = _signature(root).find(ds("SignatureValue"))
    if el is None:
        raise InvalidRequest("no ds:SignatureValue")
    return c14n(el, method)


def _unsigned(root: etree._Element) -> etree._Element:
    qp = _signature(root).find(f"{ds('Object')}/{xa('QualifyingProperties')}")
    if qp is None:
        raise InvalidRequest("no xades:QualifyingProperties")
    up = qp.find(xa("UnsignedProperties"))
    if up is None:
        up = etree.SubElement(qp, xa("UnsignedProperties"))
    usp = up.find(xa("UnsignedSignatureProperties"))
    if usp is None:
        usp = etree.SubElement(up, xa("UnsignedSignatureProperties"))
    return usp


def add_timestamp(root: etree._Element, token: bytes, *, signature_id: str,
                  method: str = C14N_EXC) -> None:
    """XAdES-T: the RFC 3161 token over :func:`signature_value_c14n` (EN 319 132-1 §5.3)."""
    usp = _unsigned(root)
    ts = etree.SubElement(usp, xa("SignatureTimeStamp"), Id=f"{signature_id}-T0")
    etree.SubElement(ts, ds("CanonicalizationMethod"), Algorithm=method)
    etree.SubElement(ts, xa("EncapsulatedTimeStamp")).text = base64.b64encode(token).decode()


def add_validation_data(root: etree._Element, *, certificates: list[x509.Certificate],
                        ocsp_responses: list[bytes]) -> None:
    """XAdES-LT: the CA certificates and the OCSP answers a verifier needs later
    (EN 319 132-1 §5.4.1 CertificateValues, §5.4.2 RevocationValues)."""
    usp = _unsigned(root)
    values = etree.SubElement(usp, xa("CertificateValues"))
    for cert in certificates:
        etree.SubElement(values, xa("EncapsulatedX509Certificate")).text = base64.b64encode(
            cert.public_bytes(serialization.Encoding.DER)).decode()
    rev = etree.SubElement(usp, xa("RevocationValues"))
    ocsp_values = etree.SubElement(rev, xa("OCSPValues"))
    for der in ocsp_responses:
        etree.SubElement(ocsp_values, xa("EncapsulatedOCSPValue")).text = base64.b64encode(
            der).decode()


def hash_name(algorithm: str) -> hashes.HashAlgorithm:
    return {"sha1": hashes.SHA1(), "sha224": hashes.SHA224(), "sha256": hashes.SHA256(),  # noqa: S303
            "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}[algorithm]
