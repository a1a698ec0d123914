"""Passkeys in a real browser: Debian's Chromium driven by Playwright, with a CDP
virtual authenticator (WebAuthn.addVirtualAuthenticator: CTAP2, internal transport,
resident keys, user verification) — issue 9's browser test and its "done when".

The provider is served on loopback and browsed as ``http://localhost:PORT``: WebAuthn
needs a secure context (localhost is one) and an RP ID that is a domain, not an IP.
The relying party is Authlib's OAuth 2 client; its redirect URI is answered inside the
browser by a Playwright route, which hands the code back to the test.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session as OAuth2Client
from authlib.oidc.core import CodeIDToken
from cryptography.hazmat.primitives import serialization
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from sild.identity.eresidency import EResidency
from sild.identity.oidc.app import create_oidc_app
from sild.identity.oidc.provider import Provider, ProviderConfig
from sild.identity.oidc.store import OidcStore
from sild.identity.oidc.webeid import challenge_data
from sild.identity.person_ca import PersonCA
from sild.identity.population import parse_citizen_row
from sild.identity.service import IdentityService
from sild.identity.token import Pins, SoftToken
from sild.testing.clock import SettableClock
from sild.testing.servers import serve_asgi

CHROMIUM = "/usr/bin/chromium"
REDIRECT = "http://127.0.0.1:9/callback"
PINS = Pins("1234", "12345", "12345678")

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):  # .ci/run installs it: missing there is a failure
        raise RuntimeError(f"{CHROMIUM} missing (apt-get install -y chromium)")
    pytest.skip(f"{CHROMIUM} missing (apt-get install -y chromium)", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only: the browser adds nothing store-specific (test_passkey_flow covers
    PostgreSQL)."""
    return f"sqlite:///{tmp_path}/test.db"


@dataclass
class Site:
    url: str  # http://localhost:PORT
    provider: Provider
    secret: str
    clock: SettableClock

    def client(self) -> OAuth2Client:
        return OAuth2Client(client_id="portal", client_secret=self.secret,
                            redirect_uri=REDIRECT, scope="openid",
                            code_challenge_method="S256")


@pytest.fixture
def site(service: IdentityService, person_ca: PersonCA,
         clock: SettableClock) -> Iterator[Site]:
    key = ECKey.generate_key("P-256", private=True,
                             parameters={"kid": "k1", "use": "sig", "alg": "ES256"})
    store = OidcStore(service.engine, clock)
    provider = Provider(ProviderConfig(issuer="http://placeholder"), key=key, store=store,
                        person_ca=person_ca.certificate, status=service.status_source(),
                        clock=clock)
    _, secret = store.add_client("portal", name="Portal", redirect_uris=[REDIRECT])
    with serve_asgi(create_oidc_app(provider)) as url:
        url = url.replace("127.0.0.1", "localhost")
        provider.config = replace(provider.config, issuer=url)
        yield Site(url, provider, secret, clock)


@dataclass
class Browser:
    page: Any
    cdp: Any
    authenticator: str
    callbacks: list[str]


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = b.new_context().new_page()
            page.set_default_timeout(15_000)
            callbacks: list[str] = []

            def relying_party(route: Any) -> None:  # the client's redirect URI
                callbacks.append(route.request.url)
                route.fulfill(status=200, content_type="text/html",
                              body="<p id='rp'>back at the relying party</p>")

            page.route("http://127.0.0.1:9/**", relying_party)
            cdp = page.context.new_cdp_session(page)
            cdp.send("WebAuthn.enable", {"enableUI": False})
            added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
                "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
                "hasUserVerification": True, "isUserVerified": True,
                "automaticPresenceSimulation": True}})
            yield Browser(page, cdp, added["authenticatorId"], callbacks)
        finally:
            b.close()


def _authorize(site: Site) -> tuple[OAuth2Client, str, str, str]:
    client = site.client()
    verifier, nonce = generate_token(48), generate_token(20)
    uri, _ = client.create_authorization_url(f"{site.url}/authorize",
                                             code_verifier=verifier, nonce=nonce)
    return client, uri, verifier, nonce


def _id_token(site: Site, client: OAuth2Client, callback: str, verifier: str,
              nonce: str) -> dict[str, Any]:
    """The relying party redeems the code and checks the ID token (OIDC Core §3.1.3.7)."""
    token = client.fetch_token(f"{site.url}/token", authorization_response=callback,
                               code_verifier=verifier)
    keys = KeySet.import_key_set(requests.get(f"{site.url}/jwks", timeout=10).json())
    decoded = jwt.decode(token["id_token"], keys, algorithms=["ES256"])
    claims = CodeIDToken(decoded.claims, decoded.header,
                         options={"iss": {"essential": True, "value": site.url},
                                  "aud": {"essential": True, "value": "portal"}},
                         params={"nonce": nonce, "client_id": "portal"})
    claims.validate(now=int(site.clock().timestamp()))
    return dict(claims)


def _certificate_login(site: Site, b: Browser, token: Path) -> dict[str, Any]:
    """Log in on the provider's page with the certificate challenge (the Web eID app's
    part — signing with PIN1 — done by the test, as the webeid tests do)."""
    client, uri, verifier, nonce = _authorize(site)
    b.page.goto(uri)
    challenge = b.page.locator("#nonce").inner_text()
    tok = SoftToken.open(token)
    sig = tok.authenticate(pin1=PINS.pin1, data=challenge_data(site.url, challenge))
    der = tok.certificate("auth").public_bytes(serialization.Encoding.DER)
    b.page.fill("textarea[name=certificate]", base64.b64encode(der).decode())
    b.page.fill("textarea[name=signature]", base64.b64encode(sig).decode())
    b.page.click("#certificate-submit")
    b.page.wait_for_selector("#rp")
    return _id_token(site, client, b.callbacks[-1], verifier, nonce)


def _register_passkey(site: Site, b: Browser) -> None:
    b.page.goto(f"{site.url}/passkeys")
    b.page.click("#passkey-register")
    status = b.page.locator("#passkey-status")
    sync_api.expect(status).to_have_text("Passkey registered.")
    creds = b.cdp.send("WebAuthn.getCredentials", {"authenticatorId": b.authenticator})
    assert len(creds["credentials"]) == 1
    assert creds["credentials"][0]["isResidentCredential"] is True
    assert creds["credentials"][0]["rpId"] == "localhost"


def _logout(site: Site, b: Browser) -> None:
    b.page.goto(f"{site.url}/passkeys")
    b.page.click("#logout")
    b.page.wait_for_selector("#no-session")
    assert b.page.context.cookies(site.url) == []


def _passkey_login(site: Site, b: Browser) -> dict[str, Any]:
    client, uri, verifier, nonce = _authorize(site)
    before = len(b.callbacks)
    b.page.goto(uri)
    b.page.click("#passkey-login")
    b.page.wait_for_selector("#rp")
    assert len(b.callbacks) == before + 1
    return _id_token(site, client, b.callbacks[-1], verifier, nonce)


def test_citizen_registers_a_passkey_in_chromium_and_logs_in_with_it(
        site: Site, browser: Browser, service: IdentityService) -> None:
    """Issue 9 browser test: certificate login → register a passkey → log out → the
    passkey alone logs in; the relying party's ID token carries the personal code."""
    jaak = service.issue_citizen(parse_citizen_row({
        "country": "EE", "code": "38001085718", "given_name": "Jaak",
        "surname": "Jõeorg"}), PINS, actor="clerk")
    first = _certificate_login(site, browser, jaak.token_path)
    assert (first["sub"], first["amr"]) == ("EE38001085718", ["idcard"])
    _register_passkey(site, browser)
    _logout(site, browser)
    claims = _passkey_login(site, browser)
    assert claims["sub"] == "EE38001085718"
    assert claims["amr"] == ["passkey"]
    assert (claims["given_name"], claims["family_name"]) == ("JAAK", "JÕEORG")
    stored = site.provider.passkeys.passkeys("EE38001085718")
    assert len(stored) == 1
    assert stored[0].sign_count >= 1  # Chromium's virtual authenticator counts
    assert stored[0].last_used_at is not None


def test_registration_without_certificate_login_fails_in_chromium(
        site: Site, browser: Browser) -> None:
    """Without a certificate login the page offers no registration, and a script that
    asks anyway gets login_required."""
    browser.page.goto(f"{site.url}/passkeys")
    assert browser.page.locator("#passkey-register").count() == 0
    answer = browser.page.evaluate("""async () => {
        const r = await fetch("/passkeys/register/options", {method: "POST",
            headers: {"Content-Type": "application/json"}, body: "{}"});
        return [r.status, (await r.json()).error];
    }""")
    assert answer == [401, "login_required"]


def test_e_resident_applies_is_approved_and_logs_in_with_a_passkey(
        site: Site, browser: Browser, eres: EResidency, tmp_path: Path) -> None:
    """Issue 9 "done when": an e-resident applies, is approved, picks up the token, and
    logs in to a relying party through the OIDC provider with a passkey in Chromium."""
    import datetime as dt
    import hashlib

    from sild.core.personal_code import Sex
    from sild.identity.records import CheckResult

    photo = hashlib.sha256(b"passport photo page").hexdigest()
    app = eres.apply(citizenship="JP", given_name="Haruki", surname="Tanaka",
                     birth_date=dt.date(1985, 4, 2), sex=Sex.MALE,
                     document_photo_sha256=photo, reason="run a company in the EU")
    eres.check(app.id, officer="Peeter Politsei", result=CheckResult.CLEAR, note="none")
    eres.decide(app.id, officer="Rita Registrar", approve=True, reason="business plan ok")
    issued = eres.issue(app.id, PINS, actor="clerk")
    token = tmp_path / "haruki.token"
    eres.pickup(app.id, token, document_photo_sha256=photo, actor="clerk")
    code = issued.identity.person.code
    sub = f"{code.country}{code.code}"

    assert _certificate_login(site, browser, token)["sub"] == sub
    _register_passkey(site, browser)
    _logout(site, browser)
    claims = _passkey_login(site, browser)
    assert claims["sub"] == sub
    assert claims["amr"] == ["passkey"]
    assert (claims["given_name"], claims["family_name"]) == ("HARUKI", "TANAKA")
    assert claims["profile_attributes"]["date_of_birth"] == "1985-04-02"

