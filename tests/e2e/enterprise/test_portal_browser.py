"""The company portal in a real browser (Debian's Chromium driven by Playwright).

The whole enterprise scenario runs (``sild demo --scenario enterprise --free-ports``);
an employee logs in with the demo login, sees which systems read their data and why —
the partner's read of their contact card among them — and filters by system.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sild.testing.cli import default_sigint

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = "/usr/bin/chromium"
SCRIPT = Path(sys.executable).parent / "sild"


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(portal URL, the featured employee's name) of a running scenario."""
    folder = tmp_path_factory.mktemp("e2e") / "kask"
    with subprocess.Popen(
            [str(SCRIPT), "demo", "--scenario", "enterprise", "--dir", str(folder),
             "--free-ports"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env={**os.environ, "COLUMNS": "400"},
            preexec_fn=default_sigint) as proc:
        assert proc.stdout is not None
        url = name = ""
        deadline = time.monotonic() + 120
        for line in proc.stdout:
            found = re.match(r"Company portal: (\S+)/ .*e\.g\. (.+), to see", line)
            if found:
                url, name = found.groups()
            if line.strip() == "Press Ctrl-C to stop." or time.monotonic() > deadline:
                break
        try:
            assert url, "no portal URL printed"
            yield url, name
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(60)


@pytest.fixture
def page(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            pg = b.new_context().new_page()
            pg.set_default_timeout(15_000)
            errors: list[str] = []
            pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            yield pg
            assert errors == [], errors  # no CSP violation, no broken resource
        except BaseException:
            pg.screenshot(path=str(tmp_path / "failure.png"))  # kept as a test artefact
            raise
        finally:
            b.close()


def test_an_employee_sees_who_read_their_data_and_why(portal: tuple[str, str],
                                                      page: Any) -> None:
    """Demo login as the featured employee → reads by payroll, CRM and the partner."""
    url, name = portal
    page.goto(url + "/")
    assert "DEMO" in page.inner_text("header")
    option = page.locator("#code option", has_text=name).first
    page.select_option("#code", value=option.get_attribute("value"))
    page.get_by_role("button", name="Log in (demo)").click()
    page.wait_for_url(url + "/me")
    assert page.inner_text("#me") == name
    table = page.inner_text("#usages")
    assert "Monthly payroll run" in table  # payroll read the HR record
    assert "Assigning an account manager" in table  # the CRM read it too
    assert "Booking salary costs" in table  # accounting read the payslips
    assert "Tamm Logistics (erp)" in table
    assert "Delivery contact for an order" in table


def test_the_employee_filters_by_system_and_logs_out(portal: tuple[str, str],
                                                     page: Any) -> None:
    """The CRM filter shows only the CRM's reads; logout returns to the demo login."""
    url, name = portal
    page.goto(url + "/")
    option = page.locator("#code option", has_text=name).first
    page.select_option("#code", value=option.get_attribute("value"))
    page.get_by_role("button", name="Log in (demo)").click()
    page.wait_for_url(url + "/me")
    page.get_by_role("link", name="CRM").click()
    page.wait_for_url(url + "/me?system=crm")
    table = page.inner_text("#usages")
    assert "Delivery contact for an order" in table
    assert "Monthly payroll run" not in table
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(url + "/")
    page.goto(url + "/me")
    assert page.url == url + "/"  # the session is gone
