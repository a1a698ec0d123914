"""An in-memory signing world for signed-document tests and the benchmark.

A root CA, a person CA under it (as ``sild identity init`` makes), one signer with a
P-256 signing certificate, a TSA certificate under the root, and
:class:`~sild.doc.sign.Services` doubles that answer with Sild's own TSA
(:func:`sild.identity.tsa.issue_token`) and OCSP responder
(:func:`sild.identity.ocsp.respond`) functions, without HTTP. Integration tests use
the real servers instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from asn1crypto import tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from sild.ca import CertificateAuthority
from sild.core.personal_code import parse
from sild.crypto.keys import load_private_key
from sild.doc.sign import Services
from sild.doc.trust import TrustList
from sild.identity.ocsp import OcspSigner, respond
from sild.identity.person_ca import PersonCA
from sild.identity.profiles import CertRole, PersonName
from sild.identity.status import StatusAnswer
from sild.identity.tsa import TsaSigner, issue_token, issue_tsa_certificate, parse_request

__all__ = ["DocWorld"]


@dataclass
class _Statuses:
    answers: dict[int, StatusAnswer] = field(default_factory=dict)

    def status(self, serial: int) -> StatusAnswer:
        return self.answers.get(serial, StatusAnswer.good())


class DocWorld:
    """Everything a signer and a verifier need, in one temporary folder."""

    def __init__(self, folder: Path, *, at: datetime | None = None) -> None:
        self.at = at or datetime.now(UTC).replace(microsecond=0)
        start = self.at - timedelta(days=1)
        self.root = CertificateAuthority.create(folder / "root", name="EE Sild Root CA", at=start)
        root_key = load_private_key(folder / "root" / "ca.key")
        self.person_ca = PersonCA.create(
            folder / "person-ca", root_certificate=self.root.certificate, root_key=root_key,
            name="EE Sild Person CA", at=start, ocsp_url="http://127.0.0.1:9/ocsp")
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.certificate = self.person_ca.issue(
            role=CertRole.SIGN, code=parse("EE", "38001085718"),
            name=PersonName.parse("Jaak-Kristjan", "Jõeorg"),
            public_key=self.key.public_key(), at=start)
        tsa_key = ec.generate_private_key(ec.SECP256R1())
        self.tsa = TsaSigner(certificate=issue_tsa_certificate(
            issuer=self.root.certificate, issuer_key=root_key,
            public_key=tsa_key.public_key(), name="Sild Test TSA", at=start), key=tsa_key)
        self.ocsp_signer = OcspSigner(issuer=self.person_ca.certificate,
                                      certificate=self.person_ca.certificate,
                                      key=self.person_ca.key)
        self.statuses = _Statuses()
        self.chain = [self.person_ca.certificate, self.root.certificate]
        self.trust = TrustList((self.root.certificate,))
        self.serial = 0

    def sign(self, data: bytes) -> bytes:
        return self.key.sign(data, ec.ECDSA(hashes.SHA256()))

    def timestamp(self, digest: bytes, *, at: datetime | None = None) -> bytes:
        """A token from Sild's TSA code over ``digest`` (no ledger receipt)."""
        req = tsp.TimeStampReq({
            "version": "v1", "cert_req": True,
            "nonce": int.from_bytes(os.urandom(8), "big"),
            "message_imprint": {"hash_algorithm": {"algorithm": "sha256"},
                                "hashed_message": digest}}).dump()
        self.serial += 1
        token = issue_token(parse_request(req), signer=self.tsa, gen_time=at or self.at,
                            serial=self.serial, accuracy=timedelta(seconds=1), receipt=None)
        return bytes(tsp.TimeStampResp.load(token)["time_stamp_token"].dump())

    def ocsp(self, certificate: x509.Certificate, issuer: x509.Certificate, *,
             at: datetime | None = None) -> bytes:
        """An answer from Sild's responder code about ``certificate``."""
        req = ocsp.OCSPRequestBuilder().add_certificate(certificate, issuer, hashes.SHA256())
        der = req.build().public_bytes(serialization.Encoding.DER)
        return respond(der, signer=self.ocsp_signer, source=self.statuses,
                       at=at or self.at + timedelta(seconds=1))

    def services(self, *, ocsp_at: datetime | None = None,
                 ts_at: datetime | None = None) -> Services:
        return Services(timestamp=lambda d: self.timestamp(d, at=ts_at),
                        ocsp=lambda c, i: self.ocsp(c, i, at=ocsp_at))

    def revoke(self, at: datetime, reason: str = "keyCompromise") -> None:
        self.statuses.answers[self.certificate.serial_number] = StatusAnswer.revoked(at, reason)
