"""The demo's citizen portal checks the timeline's proofs against the demo ledger's key
(portal.toml ``ledger_keys``; docs/spec/portal-usage.md §3): a person whose data the
demo's traffic used sees "Verified", not only "complete, not yet anchored"; and in
Chromium (issue #10 "done when"): a doctor's access through the doctor's e-service shows
in the patient's timeline, and the browser's own chain check passes under the CSP.
A failing browser test leaves a screenshot in test-artifacts/ (gitignored)."""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from sild.demo_country import DemoCountry
from sild.portal.demo import from_demo_country, start

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
VERIFIED = "Verified: complete and anchored in the ledger"


@pytest.fixture(scope="module")
def portal_url(country: DemoCountry) -> Iterator[str]:
    """The portal as ``sild demo`` starts it, on its own loop thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    running = asyncio.run_coroutine_threadsafe(start(country), loop).result(60)
    try:
        yield running.url
    finally:
        asyncio.run_coroutine_threadsafe(running.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_the_demo_portal_is_given_the_ledger_key(country: DemoCountry) -> None:
    """from_demo_country finds the demo ledger's ledger.vkey."""
    adapted = from_demo_country(country)
    assert [p.name for p in getattr(adapted, "ledger_keys", ())] == ["ledger.vkey"]


def test_a_used_persons_timeline_is_verified_against_the_ledger(
        country: DemoCountry, portal_url: str) -> None:
    """Demo login as the patient; once the doctor's reads are anchored, the health
    register's badge says Verified."""
    http = requests.Session()
    token = CSRF.search(http.get(portal_url + "/", timeout=30).text)
    assert token, "no CSRF token on the login page"
    code = country.person("citizen").code
    r = http.post(portal_url + "/login/demo", data={"personal_code": code,
                                                     "csrf_token": token.group(1)},
                  allow_redirects=False, timeout=30)
    assert r.status_code == 303, r.text[:300]
    deadline = time.monotonic() + 60
    page = ""
    while time.monotonic() < deadline:
        page = http.get(portal_url + "/usage", timeout=60).text
        if VERIFIED in page:
            break
        time.sleep(2)
    assert VERIFIED in page, page[:2000]
    assert "Not verified" not in page


def test_a_doctors_access_shows_in_the_timeline_in_chromium(
        country: DemoCountry, portal_url: str) -> None:
    """The doctor opens the patient in the doctor's e-service; the patient logs in to the
    portal in Chromium, opens "Who used my data", sees the doctor's purpose, and every
    register's chain is checked in the browser (data-result="ok"), with no CSP error."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            raise RuntimeError(f"{CHROMIUM} missing (apt-get install -y chromium)")
        pytest.skip(f"{CHROMIUM} missing (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    patient, doctor = country.person("citizen"), country.person("doctor")
    req = urllib.request.Request(
        f"{country.eservice_urls['doctor']}/api/patient?code={patient.code}",
        headers={"X-Road-UserId": doctor.code})
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        page: Any = browser.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.set_default_timeout(20_000)
        try:
            page.goto(portal_url + "/")
            page.select_option("#personal_code", patient.code)
            page.click("#demo-login")
            page.wait_for_url(portal_url + "/data")
            page.click("text=Who used my data")
            page.wait_for_url(portal_url + "/usage")
            assert "Treatment" in (page.text_content("main") or "")
            page.wait_for_function(
                "() => [...document.querySelectorAll('[data-proof-url]')]"
                ".every(e => e.dataset.result)")
            results = page.eval_on_selector_all("[data-proof-url]",
                                                "els => els.map(e => e.dataset.result)")
            texts = page.eval_on_selector_all("[data-proof-url]",
                                              "els => els.map(e => e.textContent)")
            assert results, texts
            assert all(r == "ok" for r in results), texts
            assert errors == []
        except Exception:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "demo_timeline.png"), full_page=True)
            raise
        finally:
            browser.close()
