"""The OCSP responder on real loopback HTTP, checked by the real ``openssl ocsp`` client
and by cryptography's parser (docs/spec/ocsp.md; RFC 6960 Appendix A.1)."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from sild.ca import CertificateAuthority
from sild.crypto.certs import CertPurpose, build_csr, cert_pem
from sild.crypto.keys import KeyType, generate_key, load_private_key
from sild.embedded import free_port
from sild.identity.ocsp import OcspLimits, OcspSigner, issue_responder_certificate
from sild.identity.ocsp_http import create_ocsp_app, serve_ocsp
from sild.identity.ocsp_index import IndexFileSource
from sild.testing.servers import serve_asgi

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


@dataclass
class World:
    folder: Path
    ca: CertificateAuthority
    ca_key: ec.EllipticCurvePrivateKey
    person: x509.Certificate
    stranger: x509.Certificate  # issued by the CA, never entered in the index
    index: Path

    def write_index(self, line: str) -> None:
        self.index.write_text(line)
        st = os.stat(self.index)
        os.utime(self.index, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


def _index_line(cert: x509.Certificate, state: str = "V", revoked: str = "") -> str:
    return f"{state}\t301206120000Z\t{revoked}\t{cert.serial_number:X}\tunknown\t/CN=x\n"


@pytest.fixture
def world(tmp_path: Path) -> World:
    now = datetime.now(UTC)
    ca = CertificateAuthority.create(tmp_path / "ca", name="Person CA", at=now)
    key = load_private_key(tmp_path / "ca" / "ca.key")
    assert isinstance(key, ec.EllipticCurvePrivateKey)

    def person(code: str) -> x509.Certificate:
        k = generate_key(KeyType.P256)
        return ca.issue(build_csr(k, code), purpose=CertPurpose.SIGN, identity=code, at=now)

    w = World(tmp_path, ca, key, person("PNOEE-38001085718"), person("PNOEE-60001017869"),
              tmp_path / "index.txt")
    (tmp_path / "person.pem").write_text(cert_pem(w.person))
    (tmp_path / "stranger.pem").write_text(cert_pem(w.stranger))
    w.write_index(_index_line(w.person))
    return w


def _delegated(w: World) -> OcspSigner:
    rkey = ec.generate_private_key(ec.SECP256R1())
    rcert = issue_responder_certificate(issuer=w.ca.certificate, issuer_key=w.ca_key,
                                        public_key=rkey.public_key(), at=datetime.now(UTC))
    return OcspSigner(issuer=w.ca.certificate, certificate=rcert, key=rkey)


@pytest.fixture(params=["delegated", "ca"])
def served(request: pytest.FixtureRequest, world: World) -> Iterator[tuple[World, str, OcspSigner]]:
    """A responder on loopback, signing with a delegated certificate or the CA key."""
    if request.param == "delegated":
        signer = _delegated(world)
    else:
        signer = OcspSigner(issuer=world.ca.certificate, certificate=world.ca.certificate,
                            key=world.ca_key)
    app = create_ocsp_app(signer=signer, source=IndexFileSource(world.index))
    with serve_asgi(app) as url:
        yield world, url, signer


def _openssl(w: World, url: str, cert: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", "ocsp", "-issuer", str(w.folder / "ca" / "ca.pem"),
         "-cert", str(w.folder / cert), "-url", url + "/", "-resp_text",
         "-CAfile", str(w.folder / "ca" / "ca.pem"), *extra],
        capture_output=True, text=True, timeout=30, check=False)


def test_openssl_good_then_revoked(served: tuple[World, str, OcspSigner]) -> None:
    """openssl verifies "good"; after revocation the very next answer is "revoked" (issue 9)."""
    w, url, _ = served
    out = _openssl(w, url, "person.pem")
    assert out.returncode == 0, out.stderr
    assert "Response verify OK" in out.stderr
    assert "person.pem: good" in out.stdout
    assert "WARNING" not in out.stdout + out.stderr  # nonce echoed: no nonce warning
    w.write_index(_index_line(w.person, "R", "261201093000Z,keyCompromise"))
    out = _openssl(w, url, "person.pem")
    assert out.returncode == 0, out.stderr
    assert "Response verify OK" in out.stderr
    assert "person.pem: revoked" in out.stdout
    assert "Reason: keyCompromise" in out.stdout
    assert "Revocation Time: Dec  1 09:30:00 2026 GMT" in out.stdout


def test_openssl_unknown(served: tuple[World, str, OcspSigner]) -> None:
    """A certificate of this CA that the store does not list is "unknown", verified."""
    w, url, _ = served
    out = _openssl(w, url, "stranger.pem")
    assert out.returncode == 0, out.stderr
    assert "Response verify OK" in out.stderr
    assert "stranger.pem: unknown" in out.stdout


def test_openssl_without_nonce(served: tuple[World, str, OcspSigner]) -> None:
    """With -no_nonce the answer carries no nonce and still verifies (RFC 8954 §2.1)."""
    w, url, _ = served
    out = _openssl(w, url, "person.pem", "-no_nonce")
    assert out.returncode == 0, out.stderr
    assert "Response verify OK" in out.stderr
    assert "person.pem: good" in out.stdout
    assert "OCSP Nonce" not in out.stdout


def test_openssl_nonce_is_echoed(served: tuple[World, str, OcspSigner]) -> None:
    """The nonce openssl sends is the nonce in the answer's text dump."""
    w, url, _ = served
    out = _openssl(w, url, "person.pem", "-req_text")
    lines = out.stdout.splitlines()
    nonces = [lines[i + 1].strip() for i, line in enumerate(lines) if "OCSP Nonce" in line]
    assert len(nonces) == 2  # in the request dump and in the answer
    assert nonces[0] == nonces[1]
    assert len(nonces[0]) == 2 * (2 + 16)  # 04 10 + openssl's 16 random octets, in hex


def _request(w: World, nonce: bytes | None = b"0123456789abcdef") -> bytes:
    b = ocsp.OCSPRequestBuilder().add_certificate(w.person, w.ca.certificate,
                                                  hashes.SHA1())  # noqa: S303  # RFC 5019
    if nonce is not None:
        b = b.add_extension(x509.OCSPNonce(nonce), critical=False)
    return b.build().public_bytes(serialization.Encoding.DER)


def _http(url: str, data: bytes | None = None, ctype: str = "application/ocsp-request",
          method: str | None = None) -> tuple[int, str, bytes]:
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"content-type": ctype} if data is not None else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers["content-type"], r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["content-type"], e.read()


def test_post_checked_by_cryptography(served: tuple[World, str, OcspSigner]) -> None:
    """POST answers parse with cryptography and verify with the signer's key (RFC 6960 A.1)."""
    w, url, signer = served
    status, ctype, body = _http(url + "/", _request(w))
    assert (status, ctype) == (200, "application/ocsp-response")
    resp = ocsp.load_der_ocsp_response(body)
    assert resp.certificate_status is ocsp.OCSPCertStatus.GOOD
    nonce = resp.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    assert nonce == b"0123456789abcdef"
    pub = signer.certificate.public_key()
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    pub.verify(resp.signature, resp.tbs_response_bytes, ec.ECDSA(hashes.SHA256()))
    assert abs(resp.this_update_utc - datetime.now(UTC)) < timedelta(minutes=1)


def test_get_with_base64_path(served: tuple[World, str, OcspSigner]) -> None:
    """GET /<url-encoded base64 DER> is answered like POST (RFC 6960 A.1)."""
    w, url, _ = served
    b64 = base64.b64encode(_request(w, nonce=None)).decode()
    status, ctype, body = _http(url + "/" + urllib.parse.quote(b64, safe=""))
    assert (status, ctype) == (200, "application/ocsp-response")
    assert ocsp.load_der_ocsp_response(body).certificate_status is ocsp.OCSPCertStatus.GOOD


@pytest.mark.parametrize("path", ["/not-base64!", "/aGVsbG8=", "/%FF%FE"])
def test_get_garbage_is_malformed(served: tuple[World, str, OcspSigner], path: str) -> None:
    """A GET path that is not a base64 OCSPRequest → 200 malformedRequest."""
    _, url, _ = served
    status, _, body = _http(url + path)
    assert status == 200
    assert ocsp.load_der_ocsp_response(body).response_status is \
        ocsp.OCSPResponseStatus.MALFORMED_REQUEST


@pytest.mark.parametrize(("data", "ctype", "want"), [
    (b"garbage", "application/ocsp-request", 200),
    (b"", "application/ocsp-request", 200),
    (b"x" * 20_000, "application/ocsp-request", 413),
    (b"x", "text/plain", 415),
])
def test_bad_posts(served: tuple[World, str, OcspSigner], data: bytes, ctype: str,
                   want: int) -> None:
    """Garbage, empty, oversized and mistyped bodies get a DER malformedRequest, no crash."""
    _, url, _ = served
    status, rtype, body = _http(url + "/", data, ctype)
    assert (status, rtype) == (want, "application/ocsp-response")
    assert ocsp.load_der_ocsp_response(body).response_status is \
        ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_other_method_is_405(served: tuple[World, str, OcspSigner]) -> None:
    """PUT is not OCSP over HTTP: 405 with a malformedRequest body."""
    _, url, _ = served
    status, _, body = _http(url + "/", b"x", method="PUT")
    assert status == 405
    assert ocsp.load_der_ocsp_response(body).response_status is \
        ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_serve_ocsp_runs_until_cancelled(world: World) -> None:
    """serve_ocsp listens, answers, and stops cleanly when its task is cancelled."""
    signer = _delegated(world)
    port = free_port()
    got: list[int] = []

    async def go() -> None:
        ready = asyncio.Event()
        task = asyncio.create_task(serve_ocsp(
            issuer=world.ca.certificate, certificate=signer.certificate, key=signer.key,
            source=IndexFileSource(world.index), port=port, limits=OcspLimits(),
            started=lambda url: ready.set()))
        await asyncio.wait_for(ready.wait(), 10)
        status, _, _ = await asyncio.to_thread(_http, f"http://127.0.0.1:{port}/", _request(world))
        got.append(status)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go())
    assert got == [200]


def test_inline_source_answers_the_same(world: World) -> None:
    """With blocking_source=False (an in-memory source) answers are the same, minus the thread."""
    signer = _delegated(world)
    app = create_ocsp_app(signer=signer, source=IndexFileSource(world.index),
                          blocking_source=False)
    with serve_asgi(app) as url:
        status, _, body = _http(url + "/", _request(world))
    assert status == 200
    assert ocsp.load_der_ocsp_response(body).certificate_status is ocsp.OCSPCertStatus.GOOD
