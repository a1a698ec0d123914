"""Signing a document in the portal (docs/spec/portal.md §5; documents.md §3): the
person's own signing key in their soft token, opened with the PIN2 they type — the way
Mobile-ID signs on the person's behalf with a PIN only they know. The portal holds the
token files (``<tokens_dir>/<CC code>.token``), never the PIN. The container is an
ASiC-E with one XAdES-LT signature (timestamp and OCSP answer embedded)."""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from cryptography import x509

from sild.doc.container import write_container
from sild.doc.sign import Services, add_signature, new_container
from sild.doc.trust import load_certificates
from sild.errors import KeyFileError

__all__ = ["PersonSigner", "SignerKit", "TokenSigner", "sign_files"]


@dataclass(frozen=True)
class SignerKit:
    """What one signature needs: the certificate, its chain, the signing operation."""

    certificate: x509.Certificate
    chain: list[x509.Certificate]
    sign: Callable[[bytes], bytes]
    services: Services


class PersonSigner(Protocol):
    def kit(self, code: str, pin2: str) -> SignerKit:
        """The person's signer; :class:`~sild.errors.PinError` or KeyFileError if not."""
        ...


class TokenSigner:
    """Soft tokens in a folder, one per person, named by the person's code."""

    def __init__(self, tokens_dir: Path, *, tsa_url: str, ocsp_url: str,
                 ca_files: list[Path]) -> None:
        self.tokens_dir = tokens_dir
        self.services = Services.http(tsa_url=tsa_url, ocsp_url=ocsp_url)
        self.chain = [c for p in ca_files for c in load_certificates(p)]

    def kit(self, code: str, pin2: str) -> SignerKit:
        from sild.identity.token import SoftToken

        path = self.tokens_dir / f"{code}.token"
        if not path.is_file():
            raise KeyFileError("no signing token for this person here")
        token = SoftToken.open(path)
        token.signing_key(pin2=pin2)  # a wrong PIN2 fails here, before any service is asked
        return SignerKit(token.certificate("sign"), self.chain,
                         lambda data: token.sign(pin2=pin2, data=data), self.services)


def sign_files(kit: SignerKit, files: dict[str, bytes]) -> bytes:
    """A new ASiC-E container of ``files`` with one signature (blocking: a thread)."""
    types = {n: mimetypes.guess_type(n)[0] or "application/octet-stream" for n in files}
    signed = add_signature(new_container(files, types), certificate=kit.certificate,
                           chain=kit.chain, sign=kit.sign, services=kit.services,
                           at=datetime.now(UTC).replace(microsecond=0))
    return write_container(signed)
