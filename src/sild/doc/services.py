"""The signer's two online services: an RFC 3161 TSA and an RFC 6960 OCSP responder,
reached by URL over HTTP as DigiDoc clients reach SK's (docs/spec/documents.md §4).

Blocking, bounded (timeout, answer size). Network failures raise
:class:`~sild.errors.PeerUnreachable` (exit 3); an answer that is not what was asked
(wrong imprint or nonce, not granted, not signed) raises
:class:`~sild.errors.SignatureError` / :class:`~sild.errors.InvalidRequest` (exit 2).
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from dataclasses import dataclass

from asn1crypto import tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from sild.errors import InvalidRequest, PeerUnreachable, SignatureError
from sild.identity.tsa import load_token

__all__ = ["ServiceLimits", "fetch_ocsp", "fetch_timestamp"]


@dataclass(frozen=True, slots=True)
class ServiceLimits:
    # A TSA waits for its ledger round (~1 s); 30 s covers a slow round and a busy host.
    timeout: float = 30.0
    # A token with a ledger receipt and a certificate chain is a few KB; an OCSP answer
    # with a responder certificate ~2 KB. Anything near 1 MiB is not an answer.
    max_answer: int = 1024 * 1024


def _post(url: str, body: bytes, content_type: str, limits: ServiceLimits) -> bytes:
    if not url.startswith(("http://", "https://")):
        raise InvalidRequest(f"{url!r} is not an http(s) URL")
    req = urllib.request.Request(url, data=body, method="POST",  # noqa: S310 (checked above)
                                 headers={"content-type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=limits.timeout) as r:  # noqa: S310 (checked above)
            data: bytes = r.read(limits.max_answer + 1)
    except urllib.error.HTTPError as e:
        data = e.read(limits.max_answer + 1)
        if not data:
            raise PeerUnreachable(f"{url} answered HTTP {e.code}") from e
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise PeerUnreachable(f"cannot reach {url}: {getattr(e, 'reason', e)}") from e
    if len(data) > limits.max_answer:
        raise InvalidRequest(f"{url} answered more than {limits.max_answer} bytes")
    return data


def fetch_timestamp(url: str, digest: bytes, *, limits: ServiceLimits = ServiceLimits()) -> bytes:
    """An RFC 3161 token over the SHA-256 ``digest`` (RFC 3161 §2.4), nonce checked."""
    nonce = int.from_bytes(os.urandom(8), "big")
    req = tsp.TimeStampReq({
        "version": "v1",
        "message_imprint": {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": digest},
        "nonce": nonce,
        "cert_req": True,
    })
    raw = _post(url, req.dump(), "application/timestamp-query", limits)
    try:
        resp = tsp.TimeStampResp.load(raw, strict=True)
        status = resp["status"]["status"].native
        text = resp["status"]["status_string"].native
        if status not in ("granted", "granted_with_mods"):
            raise SignatureError(f"the TSA refused: {status} {' '.join(text or [])}".strip())
        token = resp["time_stamp_token"]
        tst = token["content"]["encap_content_info"]["content"].parsed
        got_digest = bytes(tst["message_imprint"]["hashed_message"].native)
        got_nonce = tst["nonce"].native
        der = bytes(token.dump())
    except SignatureError:
        raise
    except Exception as e:  # asn1crypto raises many types on malformed input
        raise InvalidRequest(f"the TSA's answer is not a TimeStampResp: {e}") from e
    if got_digest != digest or got_nonce != nonce:
        raise SignatureError("the TSA's token is not for our request (imprint or nonce)")
    load_token(der)
    return der


def fetch_ocsp(url: str, certificate: x509.Certificate, issuer: x509.Certificate, *,
               limits: ServiceLimits = ServiceLimits()) -> tuple[bytes, ocsp.OCSPResponse]:
    """A successful, signed OCSP answer for ``certificate`` (RFC 6960 §4.1, nonce RFC 8954)."""
    nonce = os.urandom(16)
    req = (ocsp.OCSPRequestBuilder().add_certificate(certificate, issuer, hashes.SHA256())
           .add_extension(x509.OCSPNonce(nonce), critical=False).build())
    raw = _post(url, req.public_bytes(serialization.Encoding.DER),
                "application/ocsp-request", limits)
    try:
        resp = ocsp.load_der_ocsp_response(raw)
    except ValueError as e:
        raise InvalidRequest(f"the OCSP answer is malformed: {e}") from e
    if resp.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise SignatureError(f"the OCSP responder answered {resp.response_status.name}")
    try:
        echoed = resp.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        echoed = None
    if echoed != nonce:
        raise SignatureError("the OCSP answer does not echo our nonce (a replay?)")
    if resp.serial_number != certificate.serial_number:
        raise SignatureError("the OCSP answer is for another certificate")
    return raw, resp
