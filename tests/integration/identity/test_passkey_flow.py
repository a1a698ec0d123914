"""Passkeys at the OIDC provider on a real loopback server, driven by a software
authenticator (sild.testing.passkey) and Authlib's client (docs/spec/identity.md §7).
Each test runs on SQLite and PostgreSQL (the ``service`` fixture)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import sqlalchemy as sa
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session as OAuth2Client
from cryptography.hazmat.primitives import serialization
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from sild.errors import InvalidSubjectAssertion
from sild.identity.assertion import verify_subject_assertion
from sild.identity.oidc.app import SESSION_COOKIE, create_oidc_app
from sild.identity.oidc.provider import Provider, ProviderConfig
from sild.identity.oidc.store import OidcStore
from sild.identity.oidc.webeid import challenge_data
from sild.identity.person_ca import PersonCA
from sild.identity.population import parse_citizen_row
from sild.identity.service import IdentityService, Issued
from sild.identity.token import Pins, SoftToken
from sild.store.identity_tables import oidc_codes, oidc_sessions, passkeys
from sild.testing.clock import SettableClock
from sild.testing.passkey import SoftAuthenticator
from sild.testing.servers import serve_asgi

REDIRECT = "http://127.0.0.1:9/callback"
PINS = Pins("1234", "12345", "12345678")
JAAK = parse_citizen_row({"country": "EE", "code": "38001085718", "given_name": "Jaak",
                          "surname": "Jõeorg"})


def _rget(url: str, **kw: Any) -> requests.Response:
    return requests.get(url, timeout=10, **kw)


def _rpost(url: str, **kw: Any) -> requests.Response:
    return requests.post(url, timeout=10, **kw)


@dataclass
class World:
    url: str
    provider: Provider
    secret: str
    jaak: Issued
    clock: SettableClock
    service: IdentityService

    @property
    def rp_id(self) -> str:
        return self.provider.config.relying_party.rp_id

    def client(self) -> OAuth2Client:
        return OAuth2Client(client_id="portal", client_secret=self.secret,
                            redirect_uri=REDIRECT, scope="openid",
                            code_challenge_method="S256")

    def count(self, table: sa.Table) -> int:
        with self.service.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(table))
                       .scalar_one())

    def sign_count(self) -> int:
        with self.service.engine.connect() as conn:
            return int(conn.execute(sa.select(passkeys.c.sign_count)).scalar_one())


@pytest.fixture
def w(service: IdentityService, person_ca: PersonCA, clock: SettableClock) -> Iterator[World]:
    key = ECKey.generate_key("P-256", private=True,
                             parameters={"kid": "k1", "use": "sig", "alg": "ES256"})
    store = OidcStore(service.engine, clock)
    provider = Provider(ProviderConfig(issuer="http://placeholder"), key=key, store=store,
                        person_ca=person_ca.certificate, status=service.status_source(),
                        clock=clock)
    _, secret = store.add_client("portal", name="Portal", redirect_uris=[REDIRECT])
    jaak = service.issue_citizen(JAAK, PINS, actor="clerk")
    with serve_asgi(create_oidc_app(provider)) as url:
        provider.config = replace(provider.config, issuer=url)
        yield World(url, provider, secret, jaak, clock, service)


def _start(w: World, client: OAuth2Client) -> tuple[str, str]:
    verifier = generate_token(48)
    uri, _ = client.create_authorization_url(f"{w.url}/authorize", code_verifier=verifier,
                                             nonce=generate_token(20))
    return uri, verifier


def _nonce(http: requests.Session, uri: str) -> str:
    r = http.get(uri, headers={"Accept": "application/json"}, allow_redirects=False)
    assert r.status_code == 200, r.text
    nonce: str = r.json()["nonce"]
    return nonce


def _cert_login(w: World, http: requests.Session) -> requests.Response:
    """A certificate login in ``http`` (which keeps the session cookie); the response
    carries the PKCE verifier as ``response.verifier``."""
    uri, verifier = _start(w, w.client())
    nonce = _nonce(http, uri)
    tok = SoftToken.open(w.jaak.token_path)
    sig = tok.authenticate(pin1=PINS.pin1, data=challenge_data(w.provider.config.origin,
                                                               nonce))
    der = tok.certificate("auth").public_bytes(serialization.Encoding.DER)
    r = http.post(f"{w.url}/login/certificate", allow_redirects=False,
                  data={"nonce": nonce, "certificate": base64.b64encode(der).decode(),
                        "signature": base64.b64encode(sig).decode()})
    assert r.status_code == 303, r.text
    r.verifier = verifier  # type: ignore[attr-defined]
    return r


def _register(w: World, http: requests.Session, auth: SoftAuthenticator,
              origin: str | None = None) -> requests.Response:
    opts = http.post(f"{w.url}/passkeys/register/options", json={})
    assert opts.status_code == 200, opts.text
    cred = auth.create(opts.json(), origin=origin or w.provider.config.origin)
    return http.post(f"{w.url}/passkeys/register", json=cred)


def _registered(w: World) -> SoftAuthenticator:
    http = requests.Session()
    _cert_login(w, http)
    auth = SoftAuthenticator()
    r = _register(w, http, auth)
    assert r.status_code == 200, r.text
    return auth


def _passkey_attempt(w: World, auth: SoftAuthenticator, *, origin: str | None = None,
                     advance: int = 1) -> tuple[dict[str, Any], str]:
    """(the JSON body a browser would post, the verifier), for a fresh authorization."""
    uri, verifier = _start(w, w.client())
    nonce = _nonce(requests.Session(), uri)
    opts = _rpost(f"{w.url}/login/passkey/options", json={"nonce": nonce})
    assert opts.status_code == 200, opts.text
    assert opts.json()["challenge"] == nonce
    cred = auth.get(opts.json(), origin=origin or w.provider.config.origin, advance=advance)
    return {"nonce": nonce, "credential": cred}, verifier


def _post(w: World, body: Any) -> requests.Response:
    return _rpost(f"{w.url}/login/passkey", json=body)


def _query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def test_passkey_registered_after_certificate_login_logs_in_alone(w: World) -> None:
    """Issue 9: register after a certificate login; later the passkey alone logs in and
    the relying party gets an ID token with the personal code (amr passkey)."""
    http = requests.Session()
    r = _cert_login(w, http)
    assert SESSION_COOKIE in r.cookies
    assert "httponly" in r.headers["set-cookie"].lower()
    auth = SoftAuthenticator()
    reg = _register(w, http, auth)
    assert reg.status_code == 200, reg.text
    assert reg.json()["registered"] is True
    page = http.get(f"{w.url}/passkeys")
    assert reg.json()["credential_id"][:16] in page.text
    assert http.post(f"{w.url}/logout", allow_redirects=False).status_code == 303
    assert http.post(f"{w.url}/passkeys/register/options", json={}).status_code == 401

    body, verifier = _passkey_attempt(w, auth)
    r = _post(w, body)
    assert r.status_code == 200, r.text
    client = w.client()
    token = client.fetch_token(f"{w.url}/token", authorization_response=r.json()["location"],
                               code_verifier=verifier)
    keys = KeySet.import_key_set(_rget(f"{w.url}/jwks").json())
    claims = jwt.decode(token["id_token"], keys, algorithms=["ES256"]).claims
    assert claims["sub"] == "EE38001085718"
    assert claims["amr"] == ["passkey"]
    assert claims["acr"] == "substantial"
    assert (claims["given_name"], claims["family_name"]) == ("JAAK", "JÕEORG")
    assert claims["profile_attributes"]["date_of_birth"] == "1980-01-08"
    assert w.sign_count() == 1
    stored = w.provider.passkeys.passkeys("EE38001085718")
    assert stored[0].last_used_at == w.clock()
    assert stored[0].transports == ("internal",)


def test_registration_without_certificate_login_is_refused(w: World) -> None:
    """Issue 9: no session → login_required (401); nothing stored."""
    r = _rpost(f"{w.url}/passkeys/register/options", json={})
    assert r.status_code == 401
    assert r.json()["error"] == "login_required"
    auth = SoftAuthenticator()
    fake = auth.create({"user": {"id": "AAAA"}, "rp": {"id": w.rp_id},
                        "challenge": "A" * 43}, origin=w.provider.config.origin)
    r = _rpost(f"{w.url}/passkeys/register", json=fake,
                      cookies={SESSION_COOKIE: "x" * 43})
    assert r.status_code == 401
    assert w.count(passkeys) == 0


def test_registration_long_after_the_certificate_login_is_refused(w: World) -> None:
    """A session older than the registration window cannot add a passkey."""
    http = requests.Session()
    _cert_login(w, http)
    w.clock.advance(11 * 60)
    r = http.post(f"{w.url}/passkeys/register/options", json={})
    assert r.status_code == 403
    assert "too old" in r.json()["error_description"]


def test_registration_for_another_origin_is_refused(w: World) -> None:
    """WebAuthn §7.1 step 9: clientDataJSON.origin must be the provider's; nothing stored,
    and the challenge is spent (the same response again: already used)."""
    http = requests.Session()
    _cert_login(w, http)
    auth = SoftAuthenticator()
    opts = http.post(f"{w.url}/passkeys/register/options", json={}).json()
    cred = auth.create(opts, origin="https://evil.example")
    r = http.post(f"{w.url}/passkeys/register", json=cred)
    assert r.status_code == 400
    assert r.json()["error"] == "access_denied"
    assert "origin" in r.json()["error_description"]
    good = auth.create(opts, origin=w.provider.config.origin)
    r = http.post(f"{w.url}/passkeys/register", json=good)
    assert "already used" in r.json()["error_description"]
    assert w.count(passkeys) == 0


def test_registration_challenge_expires(w: World) -> None:
    """A registration challenge lives 2 minutes."""
    http = requests.Session()
    _cert_login(w, http)
    auth = SoftAuthenticator()
    opts = http.post(f"{w.url}/passkeys/register/options", json={}).json()
    w.clock.advance(121)
    r = http.post(f"{w.url}/passkeys/register",
                  json=auth.create(opts, origin=w.provider.config.origin))
    assert r.status_code == 400
    assert "expired" in r.json()["error_description"]
    assert w.count(passkeys) == 0


def test_registration_for_another_rp_id_is_refused(w: World) -> None:
    """WebAuthn §7.1 step 13: the authenticator data's RP ID hash must match."""
    http = requests.Session()
    _cert_login(w, http)
    auth = SoftAuthenticator()
    opts = http.post(f"{w.url}/passkeys/register/options", json={}).json()
    r = http.post(f"{w.url}/passkeys/register",
                  json=auth.create(opts, origin=w.provider.config.origin,
                                   rp_id="evil.example"))
    assert r.json()["error"] == "access_denied"
    assert "RP ID" in r.json()["error_description"]


def test_cross_site_registration_is_refused(w: World) -> None:
    """A request whose Origin is another site is refused before anything happens."""
    http = requests.Session()
    _cert_login(w, http)
    r = http.post(f"{w.url}/passkeys/register/options", json={},
                  headers={"Origin": "https://evil.example"})
    assert r.status_code == 403


def test_passkey_login_for_another_origin_is_refused(w: World) -> None:
    """WebAuthn §7.2 step 13 (origin): access_denied; no code; the challenge is spent."""
    auth = _registered(w)
    body, _ = _passkey_attempt(w, auth, origin="https://evil.example")
    r = _post(w, body)
    assert r.status_code == 400
    assert r.json()["error"] == "access_denied"
    assert "origin" in r.json()["error_description"]
    assert w.count(oidc_codes) == 1  # only the certificate login's
    r = _post(w, body)
    assert r.json() == {"error": "invalid_request",
                        "error_description": "login challenge already used"}


def test_replayed_passkey_response_is_refused(w: World) -> None:
    """The login challenge is single use: the same response twice → already used."""
    auth = _registered(w)
    body, _ = _passkey_attempt(w, auth)
    assert _post(w, body).status_code == 200
    r = _post(w, body)
    assert r.status_code == 400
    assert "already used" in r.json()["error_description"]
    assert w.count(oidc_codes) == 2


def test_expired_passkey_challenge_is_refused(w: World) -> None:
    """The login challenge lives 5 minutes."""
    auth = _registered(w)
    body, _ = _passkey_attempt(w, auth)
    w.clock.advance(301)
    r = _post(w, body)
    assert r.status_code == 400
    assert "expired" in r.json()["error_description"]
    assert w.sign_count() == 0


def test_bad_signature_is_refused(w: World) -> None:
    """WebAuthn §7.2 step 20: the assertion signature must verify; counter unchanged."""
    auth = _registered(w)
    body, _ = _passkey_attempt(w, auth)
    body["credential"] = SoftAuthenticator.damage_signature(body["credential"])
    r = _post(w, body)
    assert r.status_code == 400
    assert r.json()["error"] == "access_denied"
    assert w.sign_count() == 0
    assert w.count(oidc_codes) == 1


@pytest.mark.parametrize("advance", [0, -1])
def test_sign_counter_going_backwards_is_refused(w: World, advance: int) -> None:
    """WebAuthn §7.2 step 21: a counter not above the stored one (a cloned passkey)."""
    auth = _registered(w)
    body, _ = _passkey_attempt(w, auth)
    assert _post(w, body).status_code == 200
    body, _ = _passkey_attempt(w, auth, advance=advance)
    r = _post(w, body)
    assert r.status_code == 400
    assert r.json()["error"] == "access_denied"
    assert "sign counter" in r.json()["error_description"]
    assert w.sign_count() == 1


def test_unknown_passkey_is_refused(w: World) -> None:
    """A credential the provider never registered → access_denied."""
    _registered(w)
    body, _ = _passkey_attempt(w, SoftAuthenticator(user_handle="x"))
    r = _post(w, body)
    assert r.json() == {"error": "access_denied", "error_description": "unknown passkey"}


def test_suspended_person_cannot_log_in_with_a_passkey(w: World) -> None:
    """A passkey stands on the identity: suspended certificates stop it too."""
    auth = _registered(w)
    w.service.suspend(w.jaak.identity.id, actor="police", reason="lost card")
    body, _ = _passkey_attempt(w, auth)
    r = _post(w, body)
    assert r.json()["error"] == "access_denied"
    assert "no active identity" in r.json()["error_description"]


@pytest.mark.parametrize(("data", "ctype"), [
    (b"{", "application/json"),
    (b"[1, 2]", "application/json"),
    (b'{"nonce": 5}', "application/json"),
    (b"\xff\xfe", "application/json"),
    (b'{"nonce": "x"}', "text/plain"),
])
def test_malformed_passkey_login_bodies_are_refused(w: World, data: bytes,
                                                    ctype: str) -> None:
    """Malformed JSON → 400 invalid_request as OAuth errors are; nothing written."""
    for path in ("/login/passkey", "/login/passkey/options"):
        r = _rpost(f"{w.url}{path}", data=data, headers={"Content-Type": ctype})
        assert r.status_code == 400, (path, r.text)
        assert r.json()["error"] == "invalid_request"
    assert w.count(oidc_codes) == 0


@pytest.mark.parametrize("credential", [
    None, "x", {}, {"id": "abc"}, {"id": "abc", "response": []},
])
def test_malformed_credentials_are_refused(w: World, credential: Any) -> None:
    """A credential that is not PublicKeyCredential JSON → access_denied, no code."""
    auth = _registered(w)
    body, _ = _passkey_attempt(w, auth)
    if isinstance(credential, dict) and "id" in credential:
        credential["id"] = body["credential"]["id"]
    r = _post(w, {"nonce": body["nonce"], "credential": credential})
    assert r.status_code == 400
    assert r.json()["error"] == "access_denied"
    assert w.count(oidc_codes) == 1


@pytest.mark.parametrize("credential", [
    "x", {}, {"response": {"clientDataJSON": "!!"}}, {"response": {"clientDataJSON": "e30"}},
])
def test_malformed_registration_is_refused(w: World, credential: Any) -> None:
    """A registration body that is not a credential → invalid_request; nothing stored."""
    http = requests.Session()
    _cert_login(w, http)
    r = http.post(f"{w.url}/passkeys/register", json=credential)
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_request"
    assert w.count(passkeys) == 0


def test_logout_ends_the_session(w: World) -> None:
    """POST /logout ends the stored session and clears the cookie."""
    http = requests.Session()
    _cert_login(w, http)
    cookie = http.cookies[SESSION_COOKIE]
    http.post(f"{w.url}/logout", allow_redirects=False)
    with w.service.engine.connect() as conn:
        assert conn.execute(sa.select(oidc_sessions.c.ended_at)).scalar_one() is not None
    r = _rpost(f"{w.url}/passkeys/register/options", json={},
                      cookies={SESSION_COOKIE: cookie})
    assert r.status_code == 401
    assert "no-session" in _rget(f"{w.url}/passkeys",
                                        cookies={SESSION_COOKIE: cookie}).text


def test_portal_obtains_a_subject_assertion(w: World) -> None:
    """POST /assertion with the portal's access token → a Sild-Subject-Assertion that
    verify_subject_assertion accepts with the provider's JWKS."""
    auth = _registered(w)
    body, verifier = _passkey_attempt(w, auth)
    client = w.client()
    token = client.fetch_token(f"{w.url}/token",
                               authorization_response=_post(w, body).json()["location"],
                               code_verifier=verifier)
    r = _rpost(f"{w.url}/assertion",
                      headers={"Authorization": f"Bearer {token['access_token']}"})
    assert r.status_code == 200, r.text
    assert r.json()["expires_in"] == 300
    jwks = _rget(f"{w.url}/jwks").json()
    a = verify_subject_assertion(r.json()["assertion"], keys=jwks, issuer=w.url,
                                 now=w.clock())
    assert a.subject == "PNOEE-38001085718"
    assert a.amr == ("passkey",)
    assert a.acr == "substantial"
    assert a.authorized_party == "portal"
    r = _rpost(f"{w.url}/assertion", data={"audience": "EE/GOV/70000562/rr"},
                      headers={"Authorization": f"Bearer {token['access_token']}"})
    with pytest.raises(InvalidSubjectAssertion, match="audience"):
        verify_subject_assertion(r.json()["assertion"], keys=jwks, issuer=w.url,
                                 now=w.clock())


def test_assertion_after_a_certificate_login_says_idcard(w: World) -> None:
    """The assertion carries the login's amr/acr; it never outlives the access token."""
    r = _cert_login(w, requests.Session())
    token = w.client().fetch_token(f"{w.url}/token",
                                   authorization_response=r.headers["location"],
                                   code_verifier=r.verifier)  # type: ignore[attr-defined]
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    w.clock.advance(8 * 60)  # the access token lives 10 minutes: 2 left
    answer = _rpost(f"{w.url}/assertion", headers=bearer).json()
    assert answer["expires_in"] == 120
    a = verify_subject_assertion(answer["assertion"], keys=_rget(f"{w.url}/jwks").json(),
                                 issuer=w.url, now=w.clock())
    assert (a.amr, a.acr) == (("idcard",), "high")
    assert a.expires_at.timestamp() == jwt.decode(
        token["access_token"], KeySet.import_key_set(_rget(f"{w.url}/jwks").json())
    ).claims["exp"]
    w.clock.advance(3 * 60)
    r2 = _rpost(f"{w.url}/assertion", headers=bearer)
    assert r2.status_code == 401
    assert r2.json()["error"] == "invalid_token"


def test_registering_the_same_passkey_twice_is_refused(w: World) -> None:
    """A credential id is registered once; the second attempt's challenge is spent."""
    http = requests.Session()
    _cert_login(w, http)
    auth = SoftAuthenticator()
    assert _register(w, http, auth).status_code == 200
    opts = http.post(f"{w.url}/passkeys/register/options", json={}).json()
    assert [c["id"] for c in opts["excludeCredentials"]] == [
        w.provider.passkeys.passkeys("EE38001085718")[0].credential_id]
    again = auth.create(opts, origin=w.provider.config.origin)  # ignores the exclusion
    r = http.post(f"{w.url}/passkeys/register", json=again)
    assert r.status_code == 400
    assert "registered already" in r.json()["error_description"]
    r = http.post(f"{w.url}/passkeys/register", json=again)
    assert "already used" in r.json()["error_description"]
    assert w.count(passkeys) == 1


@pytest.mark.parametrize("bearer", [None, "Bearer nope", "ID"])
def test_subject_assertion_needs_an_access_token(w: World, bearer: str | None) -> None:
    """No, a malformed, or an ID token as bearer → 401 invalid_request/invalid_token."""
    r = _cert_login(w, requests.Session())
    if bearer == "ID":
        token = w.client().fetch_token(f"{w.url}/token",
                                       authorization_response=r.headers["location"],
                                       code_verifier=r.verifier)  # type: ignore[attr-defined]
        bearer = f"Bearer {token['id_token']}"
    headers = {} if bearer is None else {"Authorization": bearer}
    r = _rpost(f"{w.url}/assertion", headers=headers)
    assert r.status_code == 401
    assert r.json()["error"] in ("invalid_request", "invalid_token")


def test_passkey_page_without_session_says_so(w: World) -> None:
    """GET /passkeys without a session offers no registration."""
    r = _rget(f"{w.url}/passkeys")
    assert r.status_code == 200
    assert "no-session" in r.text
    assert "passkey-register" not in r.text


def test_login_page_offers_the_passkey_and_loads_the_script(w: World) -> None:
    """The login page has the passkey button with the nonce; the script is served."""
    uri, _ = _start(w, w.client())
    page = _rget(uri)
    assert 'id="passkey-login"' in page.text
    assert '<script src="/static/passkey.js">' in page.text
    js = _rget(f"{w.url}/static/passkey.js")
    assert js.status_code == 200
    assert "navigator.credentials.get" in js.text


def test_sweep_keeps_passkeys(w: World) -> None:
    """Expired sessions and registration challenges go; registered passkeys stay."""
    _registered(w)
    assert w.provider.passkeys.sweep() == 0
    w.clock.advance(timedelta(days=2).total_seconds())
    assert w.provider.passkeys.sweep() == 2  # one session, one registration challenge
    assert w.count(passkeys) == 1
    assert w.count(oidc_sessions) == 0
