"""The portal against a small real country (sild.testing.portal_country): real gateways,
registers, consent and notification services on loopback, SQLite (module-scoped, so the
network starts once for the whole folder); tests that change stored state use their own persons."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace

import pytest
import requests

from sild.portal.app import create_portal_app
from sild.portal.config import PortalConfig
from sild.portal.demo import config_of
from sild.testing.portal_country import Country, portal_country
from sild.testing.servers import serve_asgi

PAGE = object()  # post(): take the CSRF token from a page of the session
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="package")
def country(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Country]:
    root = tmp_path_factory.mktemp("country")
    with portal_country(root, lambda name: f"sqlite:///{root}/{name}.db") as c:
        yield c


@dataclass
class Portal:
    url: str
    config: PortalConfig

    def client(self) -> Browser:
        return Browser(self.url)


class Browser:
    """A requests session that keeps cookies and reads CSRF tokens off pages."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = requests.Session()

    def get(self, path: str, **kw: object) -> requests.Response:
        return self.http.get(self.url + path, allow_redirects=False, timeout=30, **kw)

    def csrf(self, path: str = "/") -> str:
        page = self.http.get(self.url + path, timeout=30)
        m = CSRF.search(page.text)
        assert m, page.text[:500]
        return m.group(1)

    def post(self, path: str, data: dict[str, str], *, token: str | object | None = PAGE,
             **kw: object) -> requests.Response:
        """POST ``data`` with ``token`` as csrf_token (default: the session's own)."""
        if token is PAGE:
            token = self.csrf("/locks" if self.logged_in() else "/")
        body = dict(data) | ({"csrf_token": token} if token is not None else {})
        return self.http.post(self.url + path, data=body, allow_redirects=False, timeout=30,
                              **kw)

    def logged_in(self) -> bool:
        return self.http.get(self.url + "/data", allow_redirects=False,
                             timeout=30).status_code == 200

    def demo_login(self, code: str) -> requests.Response:
        r = self.post("/login/demo", {"personal_code": code}, token=self.csrf("/"))
        assert r.status_code == 303, r.text[:500]
        return r


@pytest.fixture(scope="package")
def portal(country: Country) -> Iterator[Portal]:
    config = config_of(country, listen="127.0.0.1:8487")
    with serve_asgi(create_portal_app(config), lifespan="on") as url:
        yield Portal(url, config)


@pytest.fixture(scope="package")
def plain_portal(country: Country) -> Iterator[Portal]:
    """The same portal NOT in demo mode."""
    config = replace(config_of(country, listen="127.0.0.1:8487"), demo=False, demo_persons=())
    with serve_asgi(create_portal_app(config), lifespan="on") as url:
        yield Portal(url, config)

