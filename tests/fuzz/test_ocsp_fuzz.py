"""Hypothesis against the OCSP responder (RFC 6960; docs/spec/ocsp.md; no OpenAPI):
serial numbers of any size (0, negative, 2^63, 2^64, 160 bits and beyond), any issuer
hashes, any bytes as a POST body or a GET path, from both status sources (an
``index.txt`` and the identity store on SQLite). Issue 12: no traceback, no hang, no
5xx, and no OCSP ``internalError`` (the responder's answer for an exception)."""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sild.ca import CertificateAuthority
from sild.crypto.keys import load_private_key
from sild.identity.lookup import StoreStatusSource
from sild.identity.ocsp import OcspSigner
from sild.identity.ocsp_http import create_ocsp_app
from sild.identity.ocsp_index import IndexFileSource
from sild.store import make_engine, migrate
from sild.testing.fuzz import EXAMPLES, TIMEOUT, check_answer
from sild.testing.servers import serve_asgi

_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                     suppress_health_check=list(HealthCheck))
serials = st.one_of(st.sampled_from([0, 1, 2**63 - 1, 2**63, 2**64, 2**159, 2**160, 2**200]),
                    st.integers(min_value=0, max_value=2**170))


@pytest.fixture(scope="module", params=["index", "store"])
def responder(request: pytest.FixtureRequest,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, bytes, bytes]]:
    """A responder URL and its issuer's name and key hashes (SHA-1, as clients send)."""
    folder: Path = tmp_path_factory.mktemp("ocsp")
    ca = CertificateAuthority.create(folder / "ca", name="Person CA", at=datetime.now(UTC))
    key = load_private_key(folder / "ca" / "ca.key")
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    signer = OcspSigner(issuer=ca.certificate, certificate=ca.certificate, key=key)
    engine = None
    if request.param == "index":
        (folder / "index.txt").write_text("")
        source: object = IndexFileSource(folder / "index.txt")
    else:
        engine = make_engine(f"sqlite:///{folder}/identity.db")
        migrate(engine, "identity")
        source = StoreStatusSource(engine, ca.certificate)
    # a real request, to learn the issuer hashes the responder expects
    probe = (ocsp.OCSPRequestBuilder().add_certificate(ca.certificate, ca.certificate,
                                                        hashes.SHA1()).build())  # noqa: S303  # OCSP clients send SHA-1 (RFC 6960)
    with serve_asgi(create_ocsp_app(signer=signer, source=source)) as url:  # type: ignore[arg-type]
        yield url, probe.issuer_name_hash, probe.issuer_key_hash
    if engine is not None:
        engine.dispose()


def _check(resp: requests.Response, what: str) -> None:
    check_answer(resp.status_code, resp.content, what)
    assert resp.status_code < 500, what
    if resp.status_code == 200:
        parsed = ocsp.load_der_ocsp_response(resp.content)
        assert parsed.response_status != ocsp.OCSPResponseStatus.INTERNAL_ERROR, what


def _post(url: str, body: bytes, what: str) -> None:
    try:
        resp = requests.post(url + "/", data=body, timeout=TIMEOUT,
                             headers={"content-type": "application/ocsp-request"})
    except requests.Timeout as e:
        raise AssertionError(f"hang: {what}") from e
    _check(resp, what)


@_SETTINGS
@given(serial=serials, known_issuer=st.booleans())
@example(serial=2**63, known_issuer=True)
def test_any_serial(responder: tuple[str, bytes, bytes], serial: int,
                    known_issuer: bool) -> None:
    """A request for any serial number: good, revoked or unknown, never an error."""
    url, name_hash, key_hash = responder
    if not known_issuer:
        name_hash, key_hash = b"\x01" * 20, b"\x02" * 20
    req = (ocsp.OCSPRequestBuilder()
           .add_certificate_by_hash(name_hash, key_hash, serial, hashes.SHA1()).build())  # noqa: S303  # OCSP clients send SHA-1 (RFC 6960)
    _post(url, req.public_bytes(serialization.Encoding.DER), f"serial {serial}")


@_SETTINGS
@given(body=st.binary(max_size=400))
def test_any_bytes(responder: tuple[str, bytes, bytes], body: bytes) -> None:
    """Any POST body and the same bytes as a GET path: an OCSP answer, never a crash."""
    url, _, _ = responder
    _post(url, body, f"POST {body[:30]!r}")
    path = urllib.parse.quote(base64.b64encode(body).decode(), safe="")
    try:
        resp = requests.get(f"{url}/{path}", timeout=TIMEOUT)
    except requests.Timeout as e:
        raise AssertionError("hang: GET") from e
    _check(resp, f"GET {body[:30]!r}")
