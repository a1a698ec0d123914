"""Logging in to the portal through Sild's OpenID Connect provider (docs/spec/portal.md
§4): the code flow with PKCE against the real provider app on loopback; the provider's
own demo login page stands in for passkey / certificate login (tested with the provider)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from sild.portal.app import create_portal_app
from sild.portal.config import OidcSettings
from sild.portal.demo import config_of
from sild.testing.portal_country import Country, oidc_provider, serve_on_port
from sild.testing.servers import free_port

NONCE = re.compile(r'name="nonce" value="([^"]+)"')


@dataclass
class Site:
    portal: str
    provider: str


@pytest.fixture
def site(tmp_path: Path, country: Country) -> Iterator[Site]:
    port = free_port()
    with oidc_provider(tmp_path, f"http://127.0.0.1:{port}/login/callback") as (issuer,
                                                                                secret):
        config = config_of(country, listen=f"127.0.0.1:{port}",
                           oidc=OidcSettings(issuer, "portal", secret))
        with serve_on_port(create_portal_app(config), port) as url:
            yield Site(url, issuer)


def _login(site: Site, code: str) -> tuple[requests.Session, requests.Response]:
    http = requests.Session()
    page = http.get(f"{site.portal}/login/oidc", timeout=30)  # → the provider's page
    assert page.url.startswith(site.provider), page.url
    nonce = NONCE.search(page.text)
    assert nonce, page.text[:400]
    done = http.post(f"{site.provider}/login/demo", data={
        "nonce": nonce.group(1), "personal_code": code, "given_name": "Oidc",
        "family_name": "Person"}, timeout=30)
    return http, done


def test_oidc_login_lands_on_my_data(site: Site, country: Country) -> None:
    """/login/oidc → provider → code + PKCE → ID token checked → /data of that person."""
    code = country.patient()
    _http, done = _login(site, code)
    assert done.status_code == 200, done.text[:400]
    assert done.url == f"{site.portal}/data"
    assert "Oidc Person" in done.text
    assert country.person(code)["address"].split(",")[0] in done.text


def test_a_callback_with_another_state_is_403(site: Site) -> None:
    """A callback whose state is not the session's → 403, not logged in."""
    http = requests.Session()
    http.get(f"{site.portal}/login/oidc", allow_redirects=False, timeout=30)
    r = http.get(f"{site.portal}/login/callback?code=abc&state=forged", timeout=30)
    assert r.status_code == 403
    assert http.get(f"{site.portal}/data", allow_redirects=False, timeout=30).status_code == 303


def test_a_callback_without_a_started_login_is_403(site: Site) -> None:
    """/login/callback in a fresh browser (no login started) → 403."""
    r = requests.get(f"{site.portal}/login/callback?code=abc&state=x", timeout=30)
    assert r.status_code == 403


def test_a_forged_code_is_refused(site: Site) -> None:
    """The right state but a code the provider never issued → 403 (token endpoint refuses)."""
    http = requests.Session()
    start = http.get(f"{site.portal}/login/oidc", allow_redirects=False, timeout=30)
    state = re.search(r"state=([^&]+)", start.headers["location"])
    assert state
    r = http.get(f"{site.portal}/login/callback?code=forged&state={state.group(1)}",
                 timeout=30)
    assert r.status_code == 403
    assert "could not be verified" in r.text
