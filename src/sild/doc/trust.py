"""Trust anchors and certificate paths for signed documents (docs/spec/documents.md §5.2).

A :class:`TrustList` holds the certificates the verifier was told to trust — roots and,
as in an EU trusted list, issuing CAs — read from PEM (or DER) files and folders. A path
is built from the signer upward through the anchors and any intermediates (given
alongside, or carried in the signature's CertificateValues) until it reaches an anchor;
each link is checked with cryptography (signature, validity at the time asked, the
issuer is a CA). No path → the signature is INDETERMINATE (EN 319 102-1 §5.2.6:
NO_CERTIFICATE_CHAIN_FOUND), not INVALID: another trust list may know the CA.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.utils import CryptographyDeprecationWarning

from sild.errors import CertificateError, InvalidRequest

__all__ = ["TrustList", "load_certificates", "path_to_anchor"]

_MAX_PATH = 8  # EE chains are 3 long (signer, ESTEID2018, EE-GovCA2018)
_MAX_TRUST_FILE = 16 * 1024 * 1024


def _parse(data: bytes, what: str) -> list[x509.Certificate]:
    with warnings.catch_warnings():  # old SK certificates have negative serials
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        try:
            if b"-----BEGIN" in data:
                return list(x509.load_pem_x509_certificates(data))
            return [x509.load_der_x509_certificate(data)]
        except ValueError as e:
            raise InvalidRequest(f"{what} holds no readable certificate: {e}") from e


def load_certificates(path: Path) -> list[x509.Certificate]:
    """Every certificate in a PEM/DER file, or in the files of a folder (not recursive:
    *.pem, *.crt, *.cer, *.der)."""
    if path.is_dir():
        out: list[x509.Certificate] = []
        for p in sorted(path.iterdir()):
            if p.is_file() and p.suffix.lower() in (".pem", ".crt", ".cer", ".der"):
                out.extend(load_certificates(p))
        if not out:
            raise InvalidRequest(f"trust folder {path} holds no certificate files")
        return out
    try:
        with path.open("rb") as f:
            data = f.read(_MAX_TRUST_FILE + 1)
    except OSError as e:
        raise InvalidRequest(f"cannot read trust file {path}: {e.strerror}") from e
    if len(data) > _MAX_TRUST_FILE:
        raise InvalidRequest(f"trust file {path} is too large")
    return _parse(data, f"trust file {path}")


@dataclass(frozen=True, slots=True)
class TrustList:
    """Trusted certificates (anchors). An empty list trusts nothing."""

    anchors: tuple[x509.Certificate, ...] = ()

    @classmethod
    def from_paths(cls, paths: Iterable[Path]) -> TrustList:
        certs: list[x509.Certificate] = []
        for p in paths:
            certs.extend(load_certificates(p))
        return cls(tuple(certs))

    def is_anchor(self, cert: x509.Certificate) -> bool:
        return any(a == cert for a in self.anchors)


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    if ca.subject != cert.issuer:
        return False
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return cert.version == x509.Version.v1  # a v1 root (old SK roots) has no extensions
    except ValueError:
        return False


def path_to_anchor(cert: x509.Certificate, trust: TrustList, *,
                   intermediates: Sequence[x509.Certificate] = (),
                   at: datetime | None) -> list[x509.Certificate]:
    """``[cert, …, anchor]``; raises :class:`~sild.errors.CertificateError` when no path
    reaches an anchor, or (with ``at``) a certificate on it is not valid at ``at``."""
    chain = [cert]
    current = cert
    pool = [*trust.anchors, *intermediates]
    for _ in range(_MAX_PATH):
        if trust.is_anchor(current):
            break
        issuer = next((c for c in pool if c != current and _issued_by(current, c)), None)
        if issuer is None:
            raise CertificateError(
                f"no path from {current.subject.rfc4514_string()} to a trusted certificate "
                f"(issuer {current.issuer.rfc4514_string()} unknown)")
        if not _is_ca(issuer):
            raise CertificateError(f"{issuer.subject.rfc4514_string()} is not a CA")
        chain.append(issuer)
        current = issuer
    else:
        raise CertificateError("certificate path is longer than 8")
    for c in chain:
        if at is not None and not c.not_valid_before_utc <= at <= c.not_valid_after_utc:
            raise CertificateError(f"{c.subject.rfc4514_string()} is not valid at "
                                   f"{at:%Y-%m-%dT%H:%M:%SZ}")
    return chain
