"""The portal in a real browser: Debian's Chromium driven by Playwright (no browser
download), against a small real country (sild.testing.portal_country) on SQLite.
A failing test leaves a screenshot in test-artifacts/ (gitignored)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sild.errors import PinError
from sild.portal.app import create_portal_app
from sild.portal.demo import config_of
from sild.portal.signing import SignerKit
from sild.testing.documents import DocWorld
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


class _WorldSigner:
    """The test kit's signing world as every person's signer (PIN2 12345)."""

    def __init__(self, world: DocWorld) -> None:
        self.world = world

    def kit(self, code: str, pin2: str) -> SignerKit:
        if pin2 != "12345":
            raise PinError("wrong PIN2; 2 tries left", tries_left=2)
        w = self.world
        return SignerKit(w.certificate, w.chain, w.sign, w.services())


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DocWorld:
    return DocWorld(tmp_path_factory.mktemp("docworld"))


@pytest.fixture(scope="module")
def portal_url(country: Country, world: DocWorld) -> Iterator[str]:
    config = config_of(country, listen="127.0.0.1:8487")
    with serve_asgi(create_portal_app(config, signer=_WorldSigner(world)),
                    lifespan="on") as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context and page; on failure its screenshot goes to test-artifacts/."""
    context = browser.new_context(accept_downloads=True)
    try:
        pg = context.new_page()
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
        context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    rep = yield
    if rep.when == "call":
        item.rep_call = rep  # type: ignore[attr-defined]  # read by the page fixture
    return rep
