"""The demo's citizen portal checks the timeline's proofs against the demo ledger's key
(portal.toml ``ledger_keys``; docs/spec/portal-usage.md §3): a person whose data the
demo's traffic used sees "Verified", not only "complete, not yet anchored"."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from sild.demo_country import DemoCountry
from sild.portal.demo import from_demo_country, start

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
