"""The portal's middleware: Secure cookies behind https, headers on every answer
(docs/spec/portal.md §4), checked on a served portal with no network behind it."""

from __future__ import annotations

import time
from dataclasses import replace

import requests

from sild.core.identifiers import SubsystemId
from sild.portal.app import create_portal_app
from sild.portal.config import OidcSettings, PortalConfig
from sild.portal.login import LOGIN_TTL
from sild.portal.session import SessionStore
from sild.testing.servers import serve_asgi


def _config(public_url: str) -> PortalConfig:
    return PortalConfig(gateway_url="http://127.0.0.1:9", public_url=public_url,
                        client=SubsystemId.parse("EE/GOV/70006317/portal"))


def test_https_public_url_sets_secure_cookies() -> None:
    """public_url https://… → the session cookie is Secure; http → not."""
    with serve_asgi(create_portal_app(_config("https://portal.example"))) as url:
        cookie = requests.get(url + "/", timeout=10).headers["set-cookie"]
    assert "; Secure" in cookie
    assert "HttpOnly" in cookie


def test_static_files_carry_the_csp_but_may_be_cached() -> None:
    """/static/portal.js: CSP and nosniff, and no Cache-Control: no-store."""
    with serve_asgi(create_portal_app(_config("http://127.0.0.1:8487"))) as url:
        r = requests.get(url + "/static/portal.js", timeout=10)
    assert r.status_code == 200
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "no-store" not in r.headers.get("cache-control", "")


def test_an_unknown_page_is_a_404_page() -> None:
    """/nowhere → 404 rendered as the portal's error page."""
    with serve_asgi(create_portal_app(_config("http://127.0.0.1:8487"))) as url:
        r = requests.get(url + "/nowhere", timeout=10)
    assert r.status_code == 404
    assert 'id="error-message"' in r.text


def test_oidc_login_without_a_provider_is_403() -> None:
    """No [oidc] configured → /login/oidc says so with 403."""
    with serve_asgi(create_portal_app(_config("http://127.0.0.1:8487"))) as url:
        r = requests.get(url + "/login/oidc", allow_redirects=False, timeout=10)
    assert r.status_code == 403
    assert "no login provider" in r.text


def test_the_callback_after_too_long_is_403() -> None:
    """A login started more than LOGIN_TTL seconds ago is refused at the callback."""
    sessions = SessionStore()
    config = replace(_config("http://127.0.0.1:8487"),
                     oidc=OidcSettings("http://127.0.0.1:9", "portal", "secret"))
    with serve_asgi(create_portal_app(config, sessions=sessions)) as url:
        http = requests.Session()
        r = http.get(url + "/login/oidc", allow_redirects=False, timeout=10)
        assert r.status_code == 303
        session = sessions.get(http.cookies["sild_portal"], now=time.monotonic())
        assert session is not None
        session.login["at"] -= LOGIN_TTL + 1
        state = session.login["state"]
        r = http.get(f"{url}/login/callback?state={state}&code=x", timeout=10)
    assert r.status_code == 403
    assert "took too long" in r.text
