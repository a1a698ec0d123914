"""Attacks on the inter-gateway port (mutual TLS + signed frames; docs/spec/exchange.md).

Forged certificates (a foreign CA's, an unregistered one from the instance CA), a
replayed envelope, an envelope re-signed with a foreign key, a tampered body.
"""

from __future__ import annotations

import asyncio
import ssl
import tempfile
import uuid
from dataclasses import replace
from pathlib import Path

import aiohttp

from sild.ca import CertificateAuthority
from sild.clock import utc_now
from sild.core.envelope import RequestHeader, body_digest
from sild.core.frame import CONTENT_TYPE as FRAME_TYPE
from sild.core.frame import encode_frame
from sild.crypto.certs import CertPurpose, build_csr, cert_pem
from sild.crypto.keys import KeyType, generate_key, save_private_key, sign
from sild.crypto.tls import client_context
from sild.exercise.model import Attack, Outcome, Result, error_code, error_text
from sild.exercise.target import Target
from sild.gateway.exchange.transports import MESSAGE_PATH
from sild.gateway.signer import SignKeys

__all__ = ["ATTACKS"]

Parts = tuple[bytes, bytes, bytes]  # header, signature, certificate


def _header(t: Target, **changes: object) -> RequestHeader:
    h = RequestHeader(
        protocol="rest", client=t.client, service=t.service, consumer=t.consumer.server,
        message_id=f"exercise-{uuid.uuid4()}", request_id=str(uuid.uuid4()), time=utc_now(),
        method="GET", path="/38001085718", query="", headers=(),
        body_digest=body_digest(b""), body_length=0)
    return replace(h, **changes)  # type: ignore[arg-type]


def _signed(t: Target, header: RequestHeader) -> Parts:
    signer = SignKeys.load(t.consumer.sign_dir).for_member(t.member)
    if signer is None:
        raise RuntimeError(f"no sign key of {t.member} in {t.consumer.sign_dir}")
    enc = header.encode()
    return enc, signer.sign(RequestHeader.signed_bytes(enc)), signer.certificate_der


def _tls(t: Target, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    ca = (t.instance.ca_dir / "ca.pem").read_text()
    return client_context(cert or t.consumer.auth_cert_path, key or t.consumer.auth_key_path,
                          password=None, ca_pems=[ca])


async def _post(t: Target, parts: Parts, body: bytes = b"",
                tls: ssl.SSLContext | None = None) -> tuple[int, bytes]:
    url = f"https://{t.provider.peer_listen}{MESSAGE_PATH}"
    async with aiohttp.ClientSession() as session, session.post(
            url, data=encode_frame(*parts, body), headers={"Content-Type": FRAME_TYPE},
            ssl=tls or _tls(t), timeout=aiohttp.ClientTimeout(total=15)) as resp:
        return resp.status, await resp.read()


def _refused(a: Attack, status: int, body: bytes, by: str) -> Result:
    code = error_code(body)
    if status >= 400 and code:
        return a.result(Outcome.STOPPED, by, error_text(status, body))
    return a.result(Outcome.UNDETECTED, "nothing", f"HTTP {status} {body[:120]!r}")


def _cert_files(folder: Path, ca: CertificateAuthority, identity: str,
                purpose: CertPurpose) -> tuple[Path, Path]:
    key = generate_key(KeyType.P256)
    cert = ca.issue(build_csr(key, identity), purpose=purpose, identity=identity,
                    address="127.0.0.1", at=utc_now())
    save_private_key(folder / "forged.key", key)
    (folder / "forged.pem").write_text(cert_pem(cert))
    return folder / "forged.pem", folder / "forged.key"


async def forged_ca(t: Target) -> Result:
    """A client certificate from a CA the global configuration does not approve."""
    a = FORGED_CA
    with tempfile.TemporaryDirectory() as tmp:
        rogue = CertificateAuthority.create(Path(tmp) / "rogue", name="Rogue CA", at=utc_now())
        cert, key = _cert_files(Path(tmp), rogue, str(t.consumer.server), CertPurpose.AUTH)
        try:
            status, body = await _post(t, _signed(t, _header(t)), tls=_tls(t, cert, key))
        except (aiohttp.ClientError, ssl.SSLError, ConnectionError) as e:
            return a.result(Outcome.STOPPED, "TLS handshake (client certificate not from an "
                            "approved CA)", type(e).__name__)
    return _refused(a, status, body, "peer port")


async def unregistered_cert(t: Target) -> Result:
    """A certificate from the instance's own CA that is no registered gateway's."""
    a = UNREGISTERED
    with tempfile.TemporaryDirectory() as tmp:
        ca = CertificateAuthority.load(t.instance.ca_dir)
        cert, key = _cert_files(Path(tmp), ca, f"{t.member}/gwX", CertPurpose.AUTH)
        try:
            status, body = await _post(t, _signed(t, _header(t)), tls=_tls(t, cert, key))
        except (aiohttp.ClientError, ssl.SSLError, ConnectionError) as e:
            return a.result(Outcome.STOPPED, "TLS handshake", type(e).__name__)
    return _refused(a, status, body, "peer port: the certificate is no registered gateway's "
                    "(global configuration)")


async def replay(t: Target) -> Result:
    """A signed request frame sent once (served), then again (must be refused)."""
    a = REPLAY
    parts = _signed(t, _header(t))
    first, answer = await _post(t, parts)
    if first != 200:
        return a.result(Outcome.SKIPPED, "—", f"the genuine request was not served: HTTP "
                        f"{first} {error_code(answer)}")
    status, body = await _post(t, parts)
    return _refused(a, status, body, "replay cache (message id seen within the freshness "
                    "window)")


async def foreign_key(t: Target) -> Result:
    """A genuine header re-signed with a key and sign certificate of a foreign CA."""
    a = FOREIGN_KEY
    with tempfile.TemporaryDirectory() as tmp:
        rogue = CertificateAuthority.create(Path(tmp) / "rogue", name="Rogue CA", at=utc_now())
        key = generate_key(KeyType.P256)
        cert = rogue.issue(build_csr(key, str(t.member)), purpose=CertPurpose.SIGN,
                           identity=str(t.member), at=utc_now())
    from cryptography.hazmat.primitives.serialization import Encoding

    enc = _header(t).encode()
    sig = sign(key=key, data=RequestHeader.signed_bytes(enc))
    status, body = await _post(t, (enc, sig, cert.public_bytes(Encoding.DER)))
    return _refused(a, status, body, "signature check (sign certificate not from an "
                    "approved CA)")


async def expired_sign_cert(t: Target) -> Result:
    """A header signed with a key whose sign certificate, from the instance's own CA and
    for the right member, expired yesterday (a leaked old key)."""
    from datetime import timedelta

    a = EXPIRED
    ca = CertificateAuthority.load(t.instance.ca_dir)
    key = generate_key(KeyType.P256)
    cert = ca.issue(build_csr(key, str(t.member)), purpose=CertPurpose.SIGN,
                    identity=str(t.member), at=utc_now() - timedelta(days=2), days=1)
    from cryptography.hazmat.primitives.serialization import Encoding

    enc = _header(t).encode()
    sig = sign(key=key, data=RequestHeader.signed_bytes(enc))
    status, body = await _post(t, (enc, sig, cert.public_bytes(Encoding.DER)))
    return _refused(a, status, body, "signer certificate validity")


REVOCATION_WAIT = 150.0  # seconds: gateways learn revocations with their next refresh


async def revoked_sign_cert(t: Target) -> Result:
    """A stolen member key: first served (the control), then revoked by the operator;
    once the revocation reaches the provider's global configuration, it is refused.

    Leaves a revoked throwaway certificate in the CA's list and the registry.
    """
    import time

    from cryptography.hazmat.primitives.serialization import Encoding

    from sild.crypto.certs import fingerprint, serial_hex
    from sild.registry.service import Registry
    from sild.store import make_engine

    a = REVOKED
    ca = CertificateAuthority.load(t.instance.ca_dir)
    key = generate_key(KeyType.P256)
    cert = ca.issue(build_csr(key, str(t.member)), purpose=CertPurpose.SIGN,
                    identity=str(t.member), at=utc_now())
    der = cert.public_bytes(Encoding.DER)

    async def send() -> tuple[int, bytes]:
        enc = _header(t).encode()
        return await _post(t, (enc, sign(key=key, data=RequestHeader.signed_bytes(enc)), der))

    status, body = await send()
    if status != 200:
        return a.result(Outcome.SKIPPED, "—", "a valid stolen-key certificate was not "
                        f"served before its revocation either: {error_text(status, body)}")
    engine = make_engine(t.instance.database_url)
    try:
        Registry(engine, t.instance.instance_id).revoke(
            fingerprint(ca.certificate), serial_hex(cert), reason="sild exercise")
    finally:
        engine.dispose()
    revoked_at = time.monotonic()
    while time.monotonic() - revoked_at < REVOCATION_WAIT:
        await asyncio.sleep(2)
        status, body = await send()
        if status != 200:
            waited = time.monotonic() - revoked_at
            result = _refused(a, status, body, "revocation list in the global configuration")
            if result.outcome is Outcome.STOPPED:
                return a.result(Outcome.STOPPED, result.by,
                                f"served before, refused {waited:.0f} s after the revocation: "
                                + result.evidence)
            return result
    return a.result(Outcome.UNDETECTED, "nothing", f"still served {REVOCATION_WAIT:.0f} s "
                    "after its certificate was revoked")


async def tampered_body(t: Target) -> Result:
    """A correctly signed header with a body that does not match its signed digest."""
    a = TAMPERED
    status, body = await _post(t, _signed(t, _header(t)), body=b'{"evil": true}')
    return _refused(a, status, body, "body digest check")


FORGED_CA = Attack("peer.forged-certificate", "certificates",
                   "TLS client certificate from a foreign CA on the peer port", forged_ca)
UNREGISTERED = Attack("peer.unregistered-certificate", "certificates",
                      "instance-CA certificate of no registered gateway", unregistered_cert)
REPLAY = Attack("peer.replayed-envelope", "envelopes",
                "a captured signed request frame sent again", replay)
FOREIGN_KEY = Attack("peer.re-signed-foreign-key", "envelopes",
                     "header re-signed with a foreign member key", foreign_key)
EXPIRED = Attack("peer.expired-sign-certificate", "certificates",
                 "header signed with an expired sign certificate of the right member",
                 expired_sign_cert)
REVOKED = Attack("peer.revoked-sign-certificate", "certificates",
                 "a stolen member key, served until its certificate is revoked",
                 revoked_sign_cert)
TAMPERED = Attack("peer.tampered-body", "envelopes",
                  "signed header, body changed in transit", tampered_body)
ATTACKS = (FORGED_CA, UNREGISTERED, EXPIRED, REPLAY, FOREIGN_KEY, TAMPERED, REVOKED)
