"""Make a XAdES-LT signature and put it into a container (docs/spec/documents.md §4).

1. B: build SignedInfo and SignedProperties over the container's data files
   (:func:`sild.doc.xades.build_signed`), sign the canonical SignedInfo with the signing
   key (the soft token, PIN2);
2. T: ask the TSA for a token over SHA-256 of the canonical ds:SignatureValue;
3. LT: ask the OCSP responder about the signing certificate; a signer whose certificate
   is not *good* now is refused (nothing is written); embed the CA chain and the answer;
4. add ``META-INF/signatures{n}.xml`` (the first free n) to the container.

The container is written by the caller only after all of this succeeded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from cryptography import x509
from lxml import etree

from sild.doc.container import Container
from sild.doc.revocation import check_ocsp
from sild.doc.services import ServiceLimits, fetch_ocsp, fetch_timestamp
from sild.doc.trust import TrustList
from sild.doc.xades import (
    add_timestamp,
    add_validation_data,
    build_signed,
    set_signature_value,
    signature_value_c14n,
    signed_info_c14n,
    xml_signature_value,
)
from sild.errors import CertificateError, CertificateRevoked, InvalidRequest

__all__ = ["Services", "add_signature", "new_container", "signature_name"]

Signer = Callable[[bytes], bytes]  # SignedInfo bytes → signature (ECDSA: DER)


@dataclass(frozen=True, slots=True)
class Services:
    """Where the signer gets its timestamp (SHA-256 digest → RFC 3161 token DER) and its
    OCSP answer ((certificate, issuer) → OCSPResponse DER). :meth:`http` asks real
    servers by URL; tests may pass in-memory doubles."""

    timestamp: Callable[[bytes], bytes]
    ocsp: Callable[[x509.Certificate, x509.Certificate], bytes]

    @classmethod
    def http(cls, *, tsa_url: str, ocsp_url: str,
             limits: ServiceLimits | None = None) -> Services:
        limits = limits or ServiceLimits()
        return cls(timestamp=lambda d: fetch_timestamp(tsa_url, d, limits=limits),
                   ocsp=lambda c, i: fetch_ocsp(ocsp_url, c, i, limits=limits)[0])


def signature_name(container: Container) -> tuple[str, str]:
    """``(META-INF/signatures{n}.xml, S{n})`` for the first free ``n``."""
    n = 0
    while f"META-INF/signatures{n}.xml" in container.signatures:
        n += 1
    return f"META-INF/signatures{n}.xml", f"S{n}"


def new_container(files: dict[str, bytes], mimetypes: dict[str, str]) -> Container:
    if not files:
        raise InvalidRequest("a container needs at least one data file")
    for name in files:
        if name.startswith("META-INF/") or name == "mimetype":
            raise InvalidRequest(f"{name!r} is a reserved name in a container")
    return Container(files=dict(files), signatures={}, mimetypes=dict(mimetypes))


def _issuer_of(certificate: x509.Certificate,
               chain: Sequence[x509.Certificate]) -> x509.Certificate:
    for c in chain:
        if c.subject == certificate.issuer:
            try:
                certificate.verify_directly_issued_by(c)
            except Exception:  # noqa: S112  # wrong key: try the next one with this name
                continue
            return c
    raise CertificateError("the CA certificates given do not include the signer's issuer")


def add_signature(container: Container, *, certificate: x509.Certificate,
                  chain: Sequence[x509.Certificate], sign: Signer, services: Services,
                  at: datetime) -> Container:
    """``container`` with one more XAdES-LT signature (steps 1-4)."""
    if not container.files:
        raise InvalidRequest("the container has no data files to sign")
    issuer = _issuer_of(certificate, chain)
    name, sig_id = signature_name(container)
    # (1) B-level.
    root = build_signed(files=container.files, mimetypes=container.mimetypes,
                        certificate=certificate, signing_time=at, signature_id=sig_id)
    set_signature_value(root, xml_signature_value(certificate, sign(signed_info_c14n(root))))
    # (2) T-level.
    token = services.timestamp(hashlib.sha256(signature_value_c14n(root)).digest())
    add_timestamp(root, token, signature_id=sig_id)
    # (3) LT-level: the certificate must be good now.
    der = services.ocsp(certificate, issuer)
    result = check_ocsp(der, certificate=certificate, issuer=issuer,
                        trust=TrustList(tuple(chain)), intermediates=chain)
    if result.status == "revoked":
        raise CertificateRevoked(
            f"the signing certificate is revoked ({result.reason or 'unspecified'}, "
            f"{result.revoked_at:%Y-%m-%dT%H:%M:%SZ}); refusing to sign"
            if result.revoked_at else "the signing certificate is revoked; refusing to sign")
    if result.status != "good":
        raise CertificateError("the OCSP responder does not know the signing certificate")
    add_validation_data(root, certificates=[c for c in chain if c != certificate],
                        ocsp_responses=[der])
    xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=False)
    # (4) the new signature file.
    return replace(container, signatures={**container.signatures, name: xml})
