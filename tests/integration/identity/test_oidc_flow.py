"""The OIDC provider on a real loopback server, driven by Authlib's own OAuth 2 client
(docs/spec/oidc.md). Each test runs on SQLite and PostgreSQL (the ``service`` fixture)."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import sqlalchemy as sa
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session as OAuth2Client
from authlib.integrations.requests_client import OAuthError
from authlib.oidc.core import CodeIDToken
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from sild.ca import CertificateAuthority
from sild.crypto.keys import load_private_key
from sild.identity.lookup import StoreStatusSource
from sild.identity.oidc.app import create_oidc_app
from sild.identity.oidc.provider import Provider, ProviderConfig
from sild.identity.oidc.store import OidcStore
from sild.identity.oidc.webeid import challenge_data
from sild.identity.person_ca import PersonCA
from sild.identity.population import parse_citizen_row
from sild.identity.service import IdentityService, Issued
from sild.identity.token import Pins, SoftToken
from sild.store import make_engine
from sild.store.identity_tables import oidc_codes
from sild.testing.clock import SettableClock
from sild.testing.servers import serve_asgi

REDIRECT = "http://127.0.0.1:9/callback"
PINS = Pins("1234", "12345", "12345678")
JAAK = parse_citizen_row({"country": "EE", "code": "38001085718", "given_name": "Jaak",
                          "surname": "Jõeorg"})


@dataclass
class World:
    url: str
    provider: Provider
    secret: str
    jaak: Issued
    clock: SettableClock
    service: IdentityService

    def client(self, secret: str | None = None) -> OAuth2Client:
        return OAuth2Client(client_id="portal", client_secret=secret or self.secret,
                            redirect_uri=REDIRECT, scope="openid",
                            code_challenge_method="S256")

    def codes(self) -> int:
        with self.service.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(oidc_codes))
                       .scalar_one())


def _serve(service: IdentityService, person_ca: PersonCA, clock: SettableClock,
           demo: bool = False) -> Iterator[World]:
    key = ECKey.generate_key("P-256", private=True,
                             parameters={"kid": "k1", "use": "sig", "alg": "ES256"})
    store = OidcStore(service.engine, clock)
    provider = Provider(ProviderConfig(issuer="http://placeholder", demo=demo), key=key,
                        store=store, person_ca=person_ca.certificate,
                        status=service.status_source(), clock=clock)
    _, secret = store.add_client("portal", name="Portal", redirect_uris=[REDIRECT])
    jaak = service.issue_citizen(JAAK, PINS, actor="clerk")
    with serve_asgi(create_oidc_app(provider)) as url:
        provider.config = replace(provider.config, issuer=url)
        yield World(url, provider, secret, jaak, clock, service)


@pytest.fixture
def w(service: IdentityService, person_ca: PersonCA, clock: SettableClock) -> Iterator[World]:
    yield from _serve(service, person_ca, clock)


@pytest.fixture
def demo(service: IdentityService, person_ca: PersonCA,
         clock: SettableClock) -> Iterator[World]:
    yield from _serve(service, person_ca, clock, demo=True)


def _get(url: str, **kw: object) -> requests.Response:
    return requests.get(url, allow_redirects=False, timeout=10, **kw)  # type: ignore[arg-type]


def _post_raw(url: str, **kw: object) -> requests.Response:
    return requests.post(url, allow_redirects=False, timeout=10, **kw)  # type: ignore[arg-type]


def _start(w: World, client: OAuth2Client, **extra: str) -> tuple[str, str, str]:
    """(authorization URL, code_verifier, OIDC nonce) as the relying party makes them."""
    verifier, nonce = generate_token(48), generate_token(20)
    uri, _state = client.create_authorization_url(f"{w.url}/authorize",
                                                  code_verifier=verifier, nonce=nonce,
                                                  **extra)
    return uri, verifier, nonce


def _challenge(uri: str) -> dict[str, str]:
    r = _get(uri, headers={"Accept": "application/json"})
    assert r.status_code == 200, r.text
    body: dict[str, str] = r.json()
    return body


def _signed(token: Path, origin: str, nonce: str) -> dict[str, str]:
    tok = SoftToken.open(token)
    sig = tok.authenticate(pin1=PINS.pin1, data=challenge_data(origin, nonce))
    der = tok.certificate("auth").public_bytes(serialization.Encoding.DER)
    return {"nonce": nonce, "certificate": base64.b64encode(der).decode(),
            "signature": base64.b64encode(sig).decode()}


def _post(w: World, form: dict[str, str], path: str = "/login/certificate") -> requests.Response:
    return _post_raw(f"{w.url}{path}", data=form)


def _login(w: World, client: OAuth2Client) -> tuple[str, str, str]:
    """A whole certificate login; (redirect back with the code, verifier, nonce)."""
    uri, verifier, nonce = _start(w, client)
    ch = _challenge(uri)
    r = _post(w, _signed(w.jaak.token_path, ch["origin"], ch["nonce"]))
    assert r.status_code == 303, r.text
    return r.headers["location"], verifier, nonce


def _query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def test_authlib_client_logs_in_and_verifies_the_id_token(w: World) -> None:
    """OIDC Core §3.1.2-§3.1.3.7: code flow with PKCE; the ID token verifies with the JWKS."""
    client = w.client()
    meta = _get(f"{w.url}/.well-known/openid-configuration").json()
    location, verifier, nonce = _login(w, client)
    token = client.fetch_token(meta["token_endpoint"], authorization_response=location,
                               code_verifier=verifier)
    keys = KeySet.import_key_set(_get(meta["jwks_uri"]).json())
    decoded = jwt.decode(token["id_token"], keys, algorithms=["ES256"])
    assert decoded.header["kid"] == "k1"
    claims = CodeIDToken(decoded.claims, decoded.header,
                         options={"iss": {"essential": True, "value": w.url},
                                  "aud": {"essential": True, "value": "portal"}},
                         params={"nonce": nonce, "client_id": "portal"})
    claims.validate(now=int(w.clock().timestamp()))
    assert claims["sub"] == "EE38001085718"
    assert (claims["given_name"], claims["family_name"]) == ("JAAK", "JÕEORG")
    assert claims["amr"] == ["idcard"]
    assert claims["acr"] == "high"
    assert claims["profile_attributes"] == {"given_name": "JAAK", "family_name": "JÕEORG",
                                            "date_of_birth": "1980-01-08"}
    assert claims["auth_time"] == claims["iat"] == int(w.clock().timestamp())
    info = client.get(meta["userinfo_endpoint"]).json()
    assert info == {"sub": "EE38001085718", "given_name": "JAAK", "family_name": "JÕEORG"}


def test_discovery_names_code_flow_s256_and_the_key(w: World) -> None:
    """OpenID Connect Discovery 1.0 §3: issuer, endpoints, code only, S256 only."""
    meta = _get(f"{w.url}/.well-known/openid-configuration").json()
    assert meta["issuer"] == w.url
    assert meta["response_types_supported"] == ["code"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["id_token_signing_alg_values_supported"] == ["ES256"]
    assert {"sub", "given_name", "family_name"} <= set(meta["claims_supported"])
    jwks = _get(meta["jwks_uri"]).json()
    assert [k["kid"] for k in jwks["keys"]] == ["k1"]
    assert "d" not in jwks["keys"][0]


def test_wrong_redirect_uri_is_not_redirected_to(w: World) -> None:
    """RFC 6749 §4.1.2.1: an unregistered redirect_uri gets an error page, never a redirect."""
    client = OAuth2Client(client_id="portal", redirect_uri="http://127.0.0.1:9/evil",
                          scope="openid", code_challenge_method="S256")
    uri, _, _ = _start(w, client)
    r = _get(uri)
    assert r.status_code == 400
    assert "location" not in r.headers
    assert r.json()["error"] == "invalid_request"


def test_unknown_client_is_refused(w: World) -> None:
    """RFC 6749 §4.1.2.1: an unknown client_id gets an error page, never a redirect."""
    r = _get(f"{w.url}/authorize", params={"client_id": "nobody", "redirect_uri": REDIRECT,
                                                "response_type": "code", "scope": "openid"})
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_request"


def test_missing_pkce_is_refused(w: World) -> None:
    """RFC 7636 §4.4.1: no code_challenge → invalid_request, redirected with the state."""
    client = OAuth2Client(client_id="portal", redirect_uri=REDIRECT, scope="openid")
    uri, state = client.create_authorization_url(f"{w.url}/authorize")
    r = _get(uri)
    assert r.status_code == 303
    q = _query(r.headers["location"])
    assert q["error"] == "invalid_request"
    assert "code_challenge" in q["error_description"]
    assert q["state"] == state


def test_plain_pkce_is_refused(w: World) -> None:
    """RFC 7636 §4.2, §4.4.1: plain is not supported here; only S256."""
    client = OAuth2Client(client_id="portal", redirect_uri=REDIRECT, scope="openid")
    verifier = generate_token(48)
    uri, _ = client.create_authorization_url(f"{w.url}/authorize", code_challenge=verifier,
                                             code_challenge_method="plain")
    r = _get(uri)
    q = _query(r.headers["location"])
    assert q["error"] == "invalid_request"
    assert "S256" in q["error_description"]


def test_scope_without_openid_is_refused(w: World) -> None:
    """OIDC Core §3.1.2.1: scope must contain openid."""
    client = OAuth2Client(client_id="portal", redirect_uri=REDIRECT, scope="profile",
                          code_challenge_method="S256")
    uri, _, _ = _start(w, client)
    assert _query(_get(uri).headers["location"])["error"] == "invalid_scope"


def test_parameter_given_twice_is_refused(w: World) -> None:
    """RFC 6749 §3.1: request parameters must not be included more than once."""
    r = _get(f"{w.url}/authorize?client_id=portal&client_id=other")
    assert r.status_code == 400
    assert "more than once" in r.json()["error_description"]


def test_reused_code_is_refused(w: World) -> None:
    """RFC 6749 §4.1.2: a code is used once; the second try is invalid_grant (§5.2)."""
    client = w.client()
    location, verifier, _ = _login(w, client)
    client.fetch_token(f"{w.url}/token", authorization_response=location,
                       code_verifier=verifier)
    with pytest.raises(OAuthError) as e:
        w.client().fetch_token(f"{w.url}/token", authorization_response=location,
                               code_verifier=verifier)
    assert e.value.error == "invalid_grant"
    assert "already used" in e.value.description


def test_expired_code_is_refused(w: World) -> None:
    """RFC 6749 §4.1.2: codes are short-lived (60 s here); a late one is invalid_grant."""
    client = w.client()
    location, verifier, _ = _login(w, client)
    w.clock.advance(61)
    with pytest.raises(OAuthError) as e:
        client.fetch_token(f"{w.url}/token", authorization_response=location,
                           code_verifier=verifier)
    assert e.value.error == "invalid_grant"
    assert "expired" in e.value.description


def test_wrong_client_secret_is_refused_and_spends_nothing(w: World) -> None:
    """RFC 6749 §5.2: failed client authentication is invalid_client, HTTP 401."""
    location, verifier, _ = _login(w, w.client())
    r = _post_raw(f"{w.url}/token", auth=("portal", "wrong"),
                   data={"grant_type": "authorization_code", "code": _query(location)["code"],
                         "redirect_uri": REDIRECT, "code_verifier": verifier})
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_client"
    assert "Basic" in r.headers["www-authenticate"]
    token = w.client().fetch_token(f"{w.url}/token", authorization_response=location,
                                   code_verifier=verifier)
    assert "id_token" in token


def test_wrong_code_verifier_is_refused(w: World) -> None:
    """RFC 7636 §4.6: a verifier that does not hash to the challenge is invalid_grant."""
    location, _, _ = _login(w, w.client())
    with pytest.raises(OAuthError) as e:
        w.client().fetch_token(f"{w.url}/token", authorization_response=location,
                               code_verifier=generate_token(48))
    assert e.value.error == "invalid_grant"


def test_token_request_without_verifier_is_refused(w: World) -> None:
    """RFC 7636 §4.5: the token request must carry code_verifier."""
    location, _, _ = _login(w, w.client())
    r = _post_raw(f"{w.url}/token", auth=("portal", w.secret),
                   data={"grant_type": "authorization_code", "code": _query(location)["code"],
                         "redirect_uri": REDIRECT})
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_request"


def test_replayed_challenge_is_refused(w: World) -> None:
    """Web eID: the nonce is single-use; a replayed signed challenge makes no second code."""
    uri, _, _ = _start(w, w.client())
    ch = _challenge(uri)
    form = _signed(w.jaak.token_path, ch["origin"], ch["nonce"])
    assert _post(w, form).status_code == 303
    r = _post(w, form)
    assert r.status_code == 400
    assert r.json() == {
        "error": "invalid_request", "error_description": "login challenge already used"}
    assert w.codes() == 1


def test_expired_challenge_is_refused(w: World) -> None:
    """Web eID: a challenge lives 5 minutes; after that it is refused and makes no code."""
    uri, _, _ = _start(w, w.client())
    ch = _challenge(uri)
    form = _signed(w.jaak.token_path, ch["origin"], ch["nonce"])
    w.clock.advance(301)
    r = _post(w, form)
    assert r.status_code == 400
    assert r.json()["error_description"] == "login challenge expired"
    assert w.codes() == 0


def test_unknown_challenge_is_refused(w: World) -> None:
    """A nonce the provider never issued is refused."""
    r = _post(w, {"nonce": "made-up", "certificate": "", "signature": ""})
    assert r.status_code == 400
    assert "unknown" in r.json()["error_description"]


def test_signature_for_another_origin_is_denied(w: World) -> None:
    """Web eID: the signature covers the origin; one made for another site is access_denied
    (RFC 6749 §4.1.2.1), and the challenge is spent."""
    uri, _, _ = _start(w, w.client())
    ch = _challenge(uri)
    form = _signed(w.jaak.token_path, "https://evil.example", ch["nonce"])
    r = _post(w, form)
    q = _query(r.headers["location"])
    assert q["error"] == "access_denied"
    assert "origin" in q["error_description"]
    assert w.codes() == 0
    assert _post(w, _signed(w.jaak.token_path, ch["origin"], ch["nonce"])).status_code == 400


def test_revoked_certificate_is_denied(w: World) -> None:
    """A revoked person's certificate is access_denied (the status OCSP would give)."""
    w.service.revoke(w.jaak.identity.id, actor="clerk",
                     reason=x509.ReasonFlags.key_compromise, note="lost")
    uri, _, _ = _start(w, w.client())
    ch = _challenge(uri)
    r = _post(w, _signed(w.jaak.token_path, ch["origin"], ch["nonce"]))
    q = _query(r.headers["location"])
    assert q["error"] == "access_denied"
    assert q["error_description"] == \
        "the certificate is revoked"
    assert w.codes() == 0


def test_suspended_certificate_is_denied(w: World) -> None:
    """A suspended identity (certificateHold) cannot log in until resumed."""
    w.service.suspend(w.jaak.identity.id, actor="clerk", reason="lost card")
    uri, _, _ = _start(w, w.client())
    ch = _challenge(uri)
    r = _post(w, _signed(w.jaak.token_path, ch["origin"], ch["nonce"]))
    assert _query(r.headers["location"])["error_description"] == "the certificate is suspended"


def test_certificate_of_another_ca_is_denied(w: World, tmp_path: Path) -> None:
    """A person certificate from another person CA does not chain: access_denied."""
    root = CertificateAuthority.create(tmp_path / "other", name="Other Root", at=w.clock())
    other = PersonCA.create(tmp_path / "other-pca", root_certificate=root.certificate,
                            root_key=load_private_key(tmp_path / "other" / "ca.key"),
                            name="Other Person CA", at=w.clock())
    svc = IdentityService(w.service.engine, issuer=other.certificate, ca=other,
                          tokens_dir=tmp_path / "t2", clock=w.clock, kdf=w.service.kdf)
    mari = svc.issue_citizen(parse_citizen_row({"country": "EE", "code": "49403136526",
                                                "given_name": "Mari", "surname": "Maasikas"}),
                             PINS, actor="clerk")
    uri, _, _ = _start(w, w.client())
    ch = _challenge(uri)
    r = _post(w, _signed(mari.token_path, ch["origin"], ch["nonce"]))
    assert "person CA" in _query(r.headers["location"])["error_description"]


def test_malformed_login_form_is_denied(w: World) -> None:
    """A certificate or signature that is not base64 is access_denied, not a crash."""
    uri, _, _ = _start(w, w.client())
    ch = _challenge(uri)
    r = _post(w, {"nonce": ch["nonce"], "certificate": "%%%", "signature": "AAAA"})
    assert _query(r.headers["location"])["error"] == "access_denied"
    r = _post_raw(f"{w.url}/login/certificate", data=b"\xff\xfe",
                   headers={"content-type": "text/plain"})
    assert r.status_code == 400


def test_userinfo_refuses_a_bad_token(w: World) -> None:
    """RFC 6750 §3.1: a token that does not verify is invalid_token, HTTP 401."""
    r = _get(f"{w.url}/userinfo", headers={"Authorization": "Bearer abc.def.ghi"})
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in r.headers["www-authenticate"]


def test_demo_login_is_absent_outside_demo_mode(w: World) -> None:
    """The demo login exists only when the provider runs in demo mode."""
    assert _post(w, {"nonce": "x"}, "/login/demo").status_code in (404, 405)


def test_demo_login_works_and_warns(demo: World, caplog: pytest.LogCaptureFixture) -> None:
    """Demo mode: a named person logs in without authentication; every use is a WARNING."""
    client = demo.client()
    uri, verifier, _ = _start(demo, client)
    ch = _challenge(uri)
    assert ch["demo"]
    with caplog.at_level(logging.WARNING, logger="sild.identity.oidc"):
        r = _post(demo, {"nonce": ch["nonce"], "personal_code": "EE38001085718"}, "/login/demo")
    assert r.status_code == 303
    assert any("DEMO LOGIN" in m for m in caplog.messages)
    token = client.fetch_token(f"{demo.url}/token", authorization_response=r.headers["location"],
                               code_verifier=verifier)
    claims = jwt.decode(token["id_token"], KeySet.import_key_set(
        _get(f"{demo.url}/jwks").json())).claims
    assert claims["amr"] == ["demo"]
    assert claims["acr"] == "low"


def test_store_failure_is_503_not_a_traceback(person_ca: PersonCA, clock: SettableClock,
                                              tmp_path: Path) -> None:
    """A store that fails (here: no tables) answers 503 temporarily_unavailable (RFC 6749
    §4.1.2.1) as JSON, at the authorization and the token endpoint."""
    engine = make_engine(f"sqlite:///{tmp_path}/empty.db")
    key = ECKey.generate_key("P-256", private=True, parameters={"kid": "k"})
    provider = Provider(ProviderConfig(issuer="http://x"), key=key,
                        store=OidcStore(engine, clock), person_ca=person_ca.certificate,
                        status=StoreStatusSource(engine, person_ca.certificate), clock=clock)
    try:
        with serve_asgi(create_oidc_app(provider)) as url:
            r = _get(f"{url}/authorize?client_id=portal")
            assert r.status_code == 503
            assert r.json()["error"] == "temporarily_unavailable"
            r = _post_raw(f"{url}/token", data={"client_id": "a", "client_secret": "b"})
            assert r.status_code == 503
    finally:
        engine.dispose()


def test_racing_logins_with_one_challenge_make_one_code(w: World) -> None:
    """Web eID single use under concurrency: of 8 threads spending one nonce, one wins."""
    from concurrent.futures import ThreadPoolExecutor

    from sild.identity.oidc.store import CodeGrant, SpendError

    ch = w.provider.store.new_challenge(origin="http://o", request={}, ttl=timedelta(minutes=5))
    grant = CodeGrant("portal", REDIRECT, "c" * 43, {})

    def spend(_: int) -> bool:
        try:
            w.provider.store.spend_challenge_for_code(ch.nonce, grant, ttl=timedelta(seconds=60))
        except SpendError:
            return False
        return True

    with ThreadPoolExecutor(8) as pool:
        assert sorted(pool.map(spend, range(8))) == [False] * 7 + [True]
    assert w.codes() == 1


def test_token_request_that_is_not_a_form_is_refused(w: World) -> None:
    """RFC 6749 §4.1.3: the token request is form-encoded; JSON or a huge body is refused."""
    r = _post_raw(f"{w.url}/token", json={"grant_type": "authorization_code"})
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_request"
    r = _post_raw(f"{w.url}/token", data={"code": "x" * 70_000})
    assert r.status_code == 413


def test_unsupported_grant_type_is_refused(w: World) -> None:
    """RFC 6749 §5.2: a grant type other than authorization_code is unsupported_grant_type."""
    r = _post_raw(f"{w.url}/token", auth=("portal", w.secret),
                  data={"grant_type": "password", "username": "u", "password": "p"})
    assert r.status_code == 400
    assert r.json()["error"] == "unsupported_grant_type"


def test_userinfo_without_token_is_refused(w: World) -> None:
    """RFC 6750 §3.1: no bearer token → 401 with a Bearer challenge."""
    r = _get(f"{w.url}/userinfo")
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_id_token_is_not_an_access_token(w: World) -> None:
    """An ID token presented at /userinfo is refused (typ at+jwt only; RFC 9068 §2.1)."""
    client = w.client()
    location, verifier, _ = _login(w, client)
    token = client.fetch_token(f"{w.url}/token", authorization_response=location,
                               code_verifier=verifier)
    r = _get(f"{w.url}/userinfo", headers={"Authorization": f"Bearer {token['id_token']}"})
    assert r.status_code == 401


def test_demo_login_refuses_an_invalid_personal_code(demo: World) -> None:
    """Even the demo login takes only a valid code with its country prefix."""
    uri, _, _ = _start(demo, demo.client())
    ch = _challenge(uri)
    r = _post(demo, {"nonce": ch["nonce"], "personal_code": "EE38001085719"}, "/login/demo")
    assert r.status_code == 400
    assert "personal_code" in r.json()["error_description"]
    assert demo.codes() == 0


def test_login_page_is_html_escaped_and_not_frameable(w: World) -> None:
    """The browser's login page carries the nonce, escapes the client's name and forbids
    framing (RFC 6749 §10.13 clickjacking)."""
    w.provider.store.add_client("evil", name="<script>x</script>", redirect_uris=[REDIRECT])
    client = OAuth2Client(client_id="evil", redirect_uri=REDIRECT, scope="openid",
                          code_challenge_method="S256")
    uri, _, _ = _start(w, client)
    r = _get(uri)
    assert r.status_code == 200
    assert "<script>" not in r.text
    assert "&lt;script&gt;" in r.text
    assert 'action="/login/certificate"' in r.text
    assert "/login/demo" not in r.text
    assert r.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


def test_expired_certificate_is_denied(w: World) -> None:
    """A certificate past its notAfter cannot log in (issue 9: expired certificates)."""
    w.clock.advance(6 * 366 * 86400)
    uri, _, _ = _start(w, w.client())
    ch = _challenge(uri)
    r = _post(w, _signed(w.jaak.token_path, ch["origin"], ch["nonce"]))
    q = _query(r.headers["location"])
    assert q["error"] == "access_denied"
    assert "validity" in q["error_description"]
    assert w.codes() == 0


def test_sweep_deletes_only_long_expired_rows(w: World) -> None:
    """`sweep` removes challenges and codes expired over a day ago, nothing live."""
    _login(w, w.client())
    w.provider.store.new_challenge(origin="http://o", request={}, ttl=timedelta(minutes=5))
    assert w.provider.store.sweep() == 0
    w.clock.advance(86400 + 301)
    fresh = w.provider.store.new_challenge(origin="http://o", request={},
                                           ttl=timedelta(minutes=5))
    assert w.provider.store.sweep() == 3  # two challenges and one code
    assert w.provider.store.challenge(fresh.nonce).nonce == fresh.nonce
    assert w.codes() == 0


def test_client_secret_post_works_too(w: World) -> None:
    """RFC 6749 §2.3.1: credentials in the body (client_secret_post) are accepted."""
    client = OAuth2Client(client_id="portal", client_secret=w.secret, redirect_uri=REDIRECT,
                          scope="openid", code_challenge_method="S256",
                          token_endpoint_auth_method="client_secret_post")
    location, verifier, _ = _login(w, client)
    token = client.fetch_token(f"{w.url}/token", authorization_response=location,
                               code_verifier=verifier)
    assert "id_token" in token


def test_code_of_another_client_is_refused(w: World) -> None:
    """RFC 6749 §4.1.3: a code is redeemed only by the client it was issued to."""
    _, other_secret = w.provider.store.add_client("other", name="Other",
                                                  redirect_uris=[REDIRECT])
    location, verifier, _ = _login(w, w.client())
    other = OAuth2Client(client_id="other", client_secret=other_secret, redirect_uri=REDIRECT,
                         scope="openid", code_challenge_method="S256")
    with pytest.raises(OAuthError) as e:
        other.fetch_token(f"{w.url}/token", authorization_response=location,
                          code_verifier=verifier)
    assert e.value.error == "invalid_grant"
    assert "another client" in e.value.description
