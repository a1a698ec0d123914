"""The proof check in the browser (docs/spec/portal-usage.md §3.3): Debian's Chromium,
driven by Playwright, loads the timeline under its strict CSP; /static/usage_verify.js
recomputes every record hash and chain link with WebCrypto and says so, and names the
record of a tampered proof. SQLite only: the browser adds nothing store-specific."""

from __future__ import annotations

import asyncio
import copy
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sild.gateway.messagelog.log import MessageLog
from sild.gateway.messagelog.usage import UsageRecord
from sild.portal.usage_memory import MemoryUsageSource
from sild.portal.usage_model import Entry
from sild.store import make_engine, migrate
from sild.testing.portal_usage import Person, usage_test_app
from sild.testing.servers import serve_asgi
from sild.tracker.proof import usage_proof
from sild.tracker.store import UsageStore

CHROMIUM = "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):  # .ci/run installs it: missing there is a failure
        raise RuntimeError(f"{CHROMIUM} missing (apt-get install -y chromium)")
    pytest.skip(f"{CHROMIUM} missing (apt-get install -y chromium)", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")

ANN = "EE60001017869"
REG = "EE/GOV/70000001/population"
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def proof(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A real anchored-form proof of 5 records (the 3rd sealed, one with non-ASCII text)."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('log')}/log.db")
    migrate(engine, "messagelog")

    async def write() -> None:
        mlog = MessageLog(engine)
        await mlog.start()
        for i in range(1, 6):
            await mlog.append(UsageRecord(
                register=REG, subject=ANN, logged_at=T0 + timedelta(hours=i),
                action=f"Päring {i} — 照会", receiver="EE/COM/10000001/his",
                receiver_name="Kliinik", service=f"{REG}/echo", message_id=f"m{i}",
                request_id=f"r{i}", categories=("population",),
                flags=("sealed",) if i == 3 else ()))
        await mlog.close()
    asyncio.run(write())
    doc = usage_proof(UsageStore(engine), REG, ANN, anchor=True)
    engine.dispose()
    return doc


@pytest.fixture(scope="module")
def browser(proof: dict[str, Any]) -> Iterator[Any]:
    """Chromium (after the proof: its fixture runs an event loop of its own)."""
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield b
        finally:
            b.close()


def _check(browser: Any, proof: dict[str, Any]) -> tuple[str, str, list[str]]:
    entries = [Entry("population", T0 + timedelta(hours=i), f"Päring {i} — 照会", "10000001",
                     "Kliinik", "his") for i in (5, 4, 2, 1)]
    source = MemoryUsageSource({"population": entries}, proofs={"population": proof})
    with serve_asgi(usage_test_app(source, Person(ANN[2:], ANN[2:]))) as url:
        page = browser.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" and  # CSP
                "favicon" not in str(m.location.get("url")) else None)
        page.goto(url + "/usage")
        badge = page.locator("[data-proof-url]")
        badge.and_(page.locator("[data-result]")).wait_for(timeout=15_000)
        result = badge.get_attribute("data-result") or ""
        text = badge.inner_text()
        page.close()
    return result, text, problems


def test_browser_recomputes_the_chain(proof: dict[str, Any], browser: Any) -> None:
    """An honest proof: the browser's own check passes for all 5 records, no CSP error."""
    result, text, problems = _check(browser, proof)
    assert result == "ok", text
    assert text == "Chain checked in your browser (5)"
    assert problems == []


def test_browser_names_the_altered_record(proof: dict[str, Any], browser: Any) -> None:
    """A proof whose 4th record was altered fails in the browser at record 4."""
    bad = copy.deepcopy(proof)
    bad["records"][3]["content"]["action"] = "Nothing to see"
    result, text, _ = _check(browser, bad)
    assert result == "fail"
    assert text == "Browser check failed at record 4 (altered)"
