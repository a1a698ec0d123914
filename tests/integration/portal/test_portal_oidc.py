"""Logging in to the portal through Sild's OpenID Connect provider (docs/spec/portal.md
§4): the code flow with PKCE against the real provider app on loopback; the provider's
own demo login page stands in for passkey / certificate login (tested with the provider)."""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import requests
import uvicorn
from joserfc.jwk import ECKey

from sild.ca import CertificateAuthority
from sild.clock import utc_now
from sild.crypto.keys import load_private_key
from sild.identity.oidc.app import create_oidc_app
from sild.identity.oidc.provider import Provider, ProviderConfig
from sild.identity.oidc.store import OidcStore
from sild.identity.person_ca import PersonCA
from sild.identity.status import StatusAnswer
from sild.portal.app import create_portal_app
from sild.portal.config import OidcSettings
from sild.portal.demo import config_of
from sild.store import make_engine, migrate
from sild.testing.portal_country import Country
from sild.testing.servers import free_port, serve_asgi

NONCE = re.compile(r'name="nonce" value="([^"]+)"')


class _Good:
    def status(self, serial: int) -> StatusAnswer:
        raise AssertionError("no certificate login here")


@dataclass
class Site:
    portal: str
    provider: str


@contextlib.contextmanager
def _serve_on(app: Any, port: int) -> Iterator[str]:
    """Serve ``app`` (lifespan on) on a port chosen beforehand: the redirect URI names it."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the portal did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def site(tmp_path: Path, country: Country) -> Iterator[Site]:
    root = CertificateAuthority.create(tmp_path / "root", name="EE Root", at=utc_now())
    person_ca = PersonCA.create(tmp_path / "pca", root_certificate=root.certificate,
                                root_key=load_private_key(tmp_path / "root" / "ca.key"),
                                name="EE Person CA", at=utc_now())
    engine = make_engine(f"sqlite:///{tmp_path}/identity.db")
    migrate(engine, "identity")
    key = ECKey.generate_key("P-256", private=True,
                             parameters={"kid": "k1", "use": "sig", "alg": "ES256"})
    store = OidcStore(engine, utc_now)
    provider = Provider(ProviderConfig(issuer="http://placeholder", demo=True), key=key,
                        store=store, person_ca=person_ca.certificate, status=_Good(),
                        clock=utc_now)
    port = free_port()
    portal_url = f"http://127.0.0.1:{port}"
    try:
        with serve_asgi(create_oidc_app(provider)) as issuer:
            provider.config = replace(provider.config, issuer=issuer)
            _, secret = store.add_client("portal", name="Citizen portal",
                                         redirect_uris=[f"{portal_url}/login/callback"])
            config = config_of(country, listen=f"127.0.0.1:{port}",
                               oidc=OidcSettings(issuer, "portal", secret))
            with _serve_on(create_portal_app(config), port):
                yield Site(portal_url, issuer)
    finally:
        engine.dispose()


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
