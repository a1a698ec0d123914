"""Hypothesis against the OpenID Connect provider (docs/spec/oidc.md; no OpenAPI):
authorization requests, demo logins, token and userinfo requests with any parameters —
numbers of any size where numbers could go (``max_age``, ``nonce``, codes), any text
elsewhere. Issue 12: no traceback, no hang, no 5xx (OAuth errors are 4xx JSON)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc.jwk import ECKey

from sild.ca import CertificateAuthority
from sild.crypto.keys import load_private_key
from sild.identity.oidc.app import create_oidc_app
from sild.identity.oidc.provider import Provider, ProviderConfig
from sild.identity.oidc.store import OidcStore
from sild.identity.person_ca import PersonCA
from sild.identity.service import IdentityService
from sild.identity.token import KdfParams
from sild.store import make_engine, migrate
from sild.testing.clock import FIXED_NOW, SettableClock
from sild.testing.fuzz import EXAMPLES, TIMEOUT, check_answer
from sild.testing.servers import serve_asgi

REDIRECT = "http://127.0.0.1:9/callback"
_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                     suppress_health_check=list(HealthCheck))
numbers = st.one_of(st.sampled_from([0, -1, 2**31, 2**63, 2**64, 10**30]),
                    st.integers()).map(str)
values = st.one_of(numbers, st.text(max_size=40), st.sampled_from(
    ["openid", "code", "S256", "plain", "portal", REDIRECT, "authorization_code", ""]))
NAMES = ["client_id", "redirect_uri", "response_type", "scope", "state", "nonce",
         "code_challenge", "code_challenge_method", "max_age", "prompt", "code",
         "code_verifier", "grant_type", "client_secret", "request_id", "id"]
forms = st.dictionaries(st.one_of(st.sampled_from(NAMES), st.text(max_size=10)), values,
                        max_size=10)


@pytest.fixture(scope="module")
def oidc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder: Path = tmp_path_factory.mktemp("oidc")
    clock = SettableClock(FIXED_NOW)
    root = CertificateAuthority.create(folder / "root", name="Fuzz Root", at=FIXED_NOW)
    person_ca = PersonCA.create(folder / "person-ca", root_certificate=root.certificate,
                                root_key=load_private_key(folder / "root" / "ca.key"),
                                name="Fuzz Person CA", at=FIXED_NOW)
    engine = make_engine(f"sqlite:///{folder}/identity.db")
    migrate(engine, "identity")
    service = IdentityService(engine, issuer=person_ca.certificate, ca=person_ca,
                              tokens_dir=folder / "tokens", clock=clock,
                              kdf=KdfParams(n=2**10), rng=random.Random(1))
    key = ECKey.generate_key("P-256", private=True,
                             parameters={"kid": "k1", "use": "sig", "alg": "ES256"})
    store = OidcStore(engine, clock)
    provider = Provider(ProviderConfig(issuer="http://placeholder", demo=True), key=key,
                        store=store, person_ca=person_ca.certificate,
                        status=service.status_source(), clock=clock)
    store.add_client("portal", name="Portal", redirect_uris=[REDIRECT])
    with serve_asgi(create_oidc_app(provider)) as url:
        provider.config = replace(provider.config, issuer=url)
        yield url
    engine.dispose()


def _check(resp: requests.Response, what: str) -> None:
    check_answer(resp.status_code, resp.content, what)
    assert resp.status_code < 500 or resp.status_code == 503, (what, resp.text[:300])


def _raw(text: str) -> str:
    """A header value as raw UTF-8 bytes on the wire (http.client sends latin-1); line
    breaks, which no HTTP client can send in a header, become spaces."""
    text = " ".join(text.splitlines()).strip()
    return text.encode("utf-8").decode("latin-1")


def _call(method: str, url: str, what: str, **kw: object) -> None:
    headers = kw.pop("headers", {})
    kw["headers"] = {k: _raw(v) for k, v in headers.items()}  # type: ignore[attr-defined]
    try:
        resp = requests.request(method, url, timeout=TIMEOUT, allow_redirects=False,
                                **kw)  # type: ignore[arg-type]
    except requests.Timeout as e:
        raise AssertionError(f"hang: {what}") from e
    _check(resp, what)


@_SETTINGS
@given(params=forms, json_page=st.booleans())
def test_authorize(oidc: str, params: dict[str, str], json_page: bool) -> None:
    """``GET /authorize`` with any parameters: a login page or an OAuth error."""
    headers = {"accept": "application/json"} if json_page else {}
    _call("GET", oidc + "/authorize", f"authorize {params}", params=params, headers=headers)


@_SETTINGS
@given(form=forms, path=st.sampled_from(["/token", "/login/demo", "/login/certificate"]),
       auth=st.one_of(st.none(), values.map(lambda v: f"Basic {v}"),
                      values.map(lambda v: f"Bearer {v}")))
def test_forms(oidc: str, form: dict[str, str], path: str, auth: str | None) -> None:
    """Token requests and logins with any form: an answer or an OAuth error."""
    headers = {"authorization": auth} if auth is not None else {}
    _call("POST", oidc + path, f"{path} {form}", data=form, headers=headers)


@_SETTINGS
@given(token=values, method=st.sampled_from(["GET", "POST"]))
def test_userinfo(oidc: str, token: str, method: str) -> None:
    """``/userinfo`` with any bearer token: 401 or the claims, never a crash."""
    _call(method, oidc + "/userinfo", f"userinfo {token!r}",
          headers={"authorization": f"Bearer {token}"})
