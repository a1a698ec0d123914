"""Pure parts of the OIDC provider: the Web eID challenge, its checks, URIs, the parser."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from sild.core.personal_code import parse as parse_code
from sild.crypto.keys import KeyType, generate_key, sign
from sild.errors import (
    CertificateError,
    CertificateRevoked,
    ConfigurationError,
    InvalidRequest,
    SignatureError,
)
from sild.identity.oidc.home import check_issuer
from sild.identity.oidc.provider import OAuthError
from sild.identity.oidc.store import check_redirect_uri
from sild.identity.oidc.webeid import LoginSubject, challenge_data, verify_login
from sild.identity.person_ca import PersonCA
from sild.identity.profiles import CertRole, PersonName
from sild.identity.status import StatusAnswer

ORIGIN = "https://login.example.ee"
NONCE = "bm9uY2Utbm9uY2Utbm9uY2Utbm9uY2Utbm9uY2UtMTI"
AT = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


class Fixed:
    """A status source that gives one answer (a double for the identity store)."""

    def __init__(self, answer: StatusAnswer) -> None:
        self.answer = answer

    def status(self, serial: int) -> StatusAnswer:
        return self.answer


def test_challenge_data_is_origin_hash_then_nonce_hash() -> None:
    """Web eID: the signed value is SHA-256(origin) ‖ SHA-256(nonce)."""
    data = challenge_data(ORIGIN, NONCE)
    assert data == hashlib.sha256(ORIGIN.encode()).digest() + \
        hashlib.sha256(NONCE.encode()).digest()


def _login(person_ca: PersonCA, *, role: CertRole = CertRole.AUTH,
           answer: StatusAnswer | None = None, origin: str = ORIGIN,
           at: datetime = AT) -> LoginSubject:
    key = generate_key(KeyType.P256)
    cert = person_ca.issue(role=role, code=parse_code("EE", "38001085718"),
                           name=PersonName.parse("Jaak", "Jõeorg"),
                           public_key=key.public_key(), at=AT)
    from cryptography.hazmat.primitives import serialization

    return verify_login(
        certificate_der=cert.public_bytes(serialization.Encoding.DER),
        signature=sign(key=key, data=challenge_data(origin, NONCE)), origin=ORIGIN,
        nonce=NONCE, issuer=person_ca.certificate,
        status=Fixed(answer or StatusAnswer.good()), at=at)


def test_good_login_gives_tara_style_subject(person_ca: PersonCA) -> None:
    """The subject is country prefix + personal code, as TARA's ``sub``."""
    who = _login(person_ca)
    assert who.sub == "EE38001085718"
    assert who.given_name == "JAAK"


def test_signature_over_another_origin_fails(person_ca: PersonCA) -> None:
    """Web eID: the origin is inside the signature; another site's signature fails."""
    with pytest.raises(SignatureError, match="origin"):
        _login(person_ca, origin="https://evil.example")


def test_signing_certificate_cannot_log_in(person_ca: PersonCA) -> None:
    """Only the authentication certificate (digitalSignature, clientAuth) logs in."""
    with pytest.raises(CertificateError, match="authentication"):
        _login(person_ca, role=CertRole.SIGN)


def test_suspended_and_unknown_certificates_fail(person_ca: PersonCA) -> None:
    """certificateHold → suspended; a serial the CA does not know → refused."""
    with pytest.raises(CertificateRevoked, match="suspended"):
        _login(person_ca, answer=StatusAnswer.revoked(AT, "certificateHold"))
    with pytest.raises(CertificateError, match="does not know"):
        _login(person_ca, answer=StatusAnswer.unknown())


def test_expired_certificate_fails(person_ca: PersonCA) -> None:
    """A certificate outside its validity period does not log in."""
    with pytest.raises(CertificateError, match="validity"):
        _login(person_ca, at=AT + timedelta(days=6 * 366))


def test_garbage_certificate_fails(person_ca: PersonCA) -> None:
    """Bytes that are not a certificate are a CertificateError, not a crash."""
    with pytest.raises(CertificateError, match="DER"):
        verify_login(certificate_der=b"junk", signature=b"", origin=ORIGIN, nonce=NONCE,
                     issuer=person_ca.certificate, status=Fixed(StatusAnswer.good()), at=AT)


@pytest.mark.parametrize("uri", ["https://rp.example/cb", "http://127.0.0.1:9/cb?x=1"])
def test_redirect_uri_accepted(uri: str) -> None:
    """RFC 6749 §3.1.2: absolute http(s) URIs, a query allowed."""
    assert check_redirect_uri(uri) == uri


@pytest.mark.parametrize("uri", ["/cb", "javascript:alert(1)", "https://rp/cb#f",
                                 "https://rp/c b", "", 7, "https://\x00/"])
def test_redirect_uri_refused(uri: object) -> None:
    """RFC 6749 §3.1.2: relative, non-http, fragment, spaces, controls are refused."""
    with pytest.raises(InvalidRequest):
        check_redirect_uri(uri)


def test_issuer_checked_and_normalised() -> None:
    """OIDC Discovery §3: an http(s) URL without query; a trailing slash is dropped."""
    assert check_issuer("https://login.example/") == "https://login.example"
    for bad in ("ftp://x", "https://x/?q=1", "login.example"):
        with pytest.raises(ConfigurationError):
            check_issuer(bad)


def test_error_redirect_keeps_the_clients_query() -> None:
    """RFC 6749 §4.1.2.1: error and state are added to the redirect URI's query."""
    e = OAuthError("access_denied", "no", redirect_uri="https://rp/cb?x=1", state="s")
    assert e.location() == "https://rp/cb?x=1&error=access_denied&error_description=no&state=s"


def test_building_the_oidc_parser_imports_no_heavy_library() -> None:
    """`add_oidc_parser` loads no database, web, crypto, rich, logging or asyncio module."""
    probe = ("import argparse, json, sys\nfrom sild.cli.identity_oidc import add_oidc_parser\n"
             "add_oidc_parser(argparse.ArgumentParser().add_subparsers())\n"
             "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    loaded = set(json.loads(out.splitlines()[-1]))
    heavy = {"sqlalchemy", "fastapi", "uvicorn", "aiohttp", "cryptography", "asyncio", "rich",
             "logging", "starlette", "joserfc", "authlib"}
    assert loaded.isdisjoint(heavy), sorted(loaded & heavy)
