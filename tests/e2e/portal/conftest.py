"""The portal in a real browser: Debian's Chromium driven by Playwright (no browser
download), against a small real country (sild.testing.portal_country) on SQLite.
A failing test leaves a screenshot in test-artifacts/ (gitignored)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sild.portal.app import create_portal_app
from sild.portal.demo import config_of
from sild.testing.portal_country import Country, portal_country
from sild.testing.servers import serve_asgi

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):  # .ci/run installs it: missing there is a failure
        raise RuntimeError(f"{CHROMIUM} missing (apt-get install -y chromium)")
    pytest.skip(f"{CHROMIUM} missing (apt-get install -y chromium)", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def country(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Country]:
    root = tmp_path_factory.mktemp("country")
    with portal_country(root, lambda name: f"sqlite:///{root}/{name}.db") as c:
        yield c


@pytest.fixture(scope="module")
def portal_url(country: Country) -> Iterator[str]:
    config = config_of(country, listen="127.0.0.1:8487")
    with serve_asgi(create_portal_app(config), lifespan="on") as url:
        yield url


@pytest.fixture
def page(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser page; on failure its screenshot goes to test-artifacts/."""
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            pg = browser.new_context().new_page()
            pg.set_default_timeout(15_000)
            errors: list[str] = []
            pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            pg.csp_errors = errors
            yield pg
            failed = getattr(request.node, "rep_call", None)
            if failed is not None and failed.failed:
                ARTIFACTS.mkdir(exist_ok=True)
                pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        finally:
            browser.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    rep = yield
    if rep.when == "call":
        item.rep_call = rep  # type: ignore[attr-defined]  # read by the page fixture
    return rep
