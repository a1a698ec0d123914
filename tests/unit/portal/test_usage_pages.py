"""The timeline's pages rendered by a real server from an in-memory source whose proofs
come from a real usage log (docs/spec/portal-usage.md §2–§4): registers merged, a
register that does not answer, bad filters, sealed entries, badges, translations, CSP."""

from __future__ import annotations

import asyncio
import copy
import json
import re
import urllib.error
import urllib.request
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
from sild.testing.portal_usage import Person, translations, usage_test_app
from sild.testing.servers import serve_asgi
from sild.tracker.proof import usage_proof
from sild.tracker.store import UsageStore

ANN = "EE60001017869"
POP, HEALTH = "EE/GOV/70000001/population", "EE/GOV/70000001/health"
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _record(register: str, i: int, *, sealed: bool = False) -> UsageRecord:
    return UsageRecord(register=register, subject=ANN, logged_at=T0 + timedelta(hours=i),
                       action=f"Lookup {i}", receiver="EE/COM/10000001/his",
                       receiver_name="Clinic", service=f"{register}/echo", message_id=f"m{i}",
                       request_id=f"r{register}{i}", categories=("health",),
                       flags=("sealed",) if sealed else ())


def _entries(label: str, hours: list[int]) -> list[Entry]:
    # what findUsage answers: newest first, whole seconds, no sealed records
    return [Entry(label, T0 + timedelta(hours=i), f"Lookup {i}", "10000001", "Clinic", "his")
            for i in sorted(hours, reverse=True)]


@pytest.fixture(scope="module")
def proofs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Real proofs: population records 1, 3, 5 (3 sealed); health records 2, 4."""
    path: Path = tmp_path_factory.mktemp("log") / "log.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine, "messagelog")

    async def write() -> None:
        mlog = MessageLog(engine)
        await mlog.start()
        for reg, i in [(POP, 1), (HEALTH, 2), (POP, 3), (HEALTH, 4), (POP, 5)]:
            await mlog.append(_record(reg, i, sealed=(reg, i) == (POP, 3)))
        await mlog.close()
    asyncio.run(write())
    store = UsageStore(engine)
    out = {"population": usage_proof(store, POP, ANN, anchor=True),
           "health": usage_proof(store, HEALTH, ANN, anchor=True)}
    engine.dispose()
    return out


def _source(proofs: dict[str, dict[str, Any]], **kw: Any) -> MemoryUsageSource:
    return MemoryUsageSource({"population": _entries("population", [1, 5]),
                              "health": _entries("health", [2, 4])}, proofs=proofs, **kw)


@pytest.fixture
def serve(proofs: dict[str, dict[str, Any]]) -> Iterator[Any]:
    def start(source: MemoryUsageSource | None = None) -> str:
        app = usage_test_app(source or _source(proofs), Person(ANN[2:], ANN[2:]))
        return stack.enter_context(serve_asgi(app))
    import contextlib
    with contextlib.ExitStack() as stack:
        yield start


def get(url: str) -> tuple[int, dict[str, str], str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def _rows(html: str) -> list[str]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [re.sub(r"\s+", " ", r) for r in body.split("<tr")[1:]]


def test_one_timeline_newest_first_with_sealed_entries(serve: Any) -> None:
    """Both registers' usages interleave newest first; the sealed record shows as sealed."""
    status, _, html = get(serve() + "/usage")
    assert status == 200
    rows = _rows(html)
    assert [re.search(r"Lookup \d|Sealed", r).group(0) for r in rows] == [  # type: ignore[union-attr]
        "Lookup 5", "Lookup 4", "Sealed", "Lookup 2", "Lookup 1"]
    sealed = rows[2]
    assert "Clinic" not in sealed
    assert "usage-hash" in sealed


def test_verified_chain_marks_entries_included(serve: Any) -> None:
    """Under a chain that checks out every findUsage entry shows "In the proof"."""
    _, _, html = get(serve() + "/usage")
    assert all("In the proof" in r for r in _rows(html))
    assert html.count("Complete, not yet anchored in the ledger") == 2


def test_tampered_proof_says_not_verified(serve: Any,
                                          proofs: dict[str, dict[str, Any]]) -> None:
    """A proof whose record was altered gets the "Not verified" badge naming the record."""
    bad = copy.deepcopy(proofs)
    bad["health"]["records"][0]["content"]["action"] = "Nothing to see"
    _, _, html = get(serve(_source(bad)) + "/usage")
    health = html.split('data-register="health"', 1)[1].split("</li>", 1)[0]
    assert "Not verified" in health
    assert "record 1 altered" in health
    assert "Not verified" not in html.split('data-register="health"', 1)[0]


def test_register_that_does_not_answer_leaves_the_others(serve: Any,
                                                         proofs: dict[str, Any]) -> None:
    """A register down is named; the other register's usages still show."""
    _, _, html = get(serve(_source(proofs, down=["health"])) + "/usage")
    health = html.split('data-register="health"', 1)[1].split("</li>", 1)[0]
    assert "This register did not answer" in health
    assert [r for r in _rows(html) if "Lookup 5" in r]
    assert not [r for r in _rows(html) if "Lookup 4" in r]


def test_filter_by_register(serve: Any) -> None:
    """?register=health shows only health's usages."""
    _, _, html = get(serve() + "/usage?register=health")
    assert len(_rows(html)) == 2
    assert all("health" in r for r in _rows(html))


@pytest.mark.parametrize(("query", "says"), [
    ("register=police", "there is no register called"),
    ("page=0", "page must be a whole number"),
    ("org=a&org=b", "org is given more than once"),
    ("purpose=" + "x" * 201, "longer than 200"),
    ("purpose=%01", "control characters"),
])
def test_bad_query_is_a_400_page(serve: Any, query: str, says: str) -> None:
    """A bad filter value → 400 with a page that says what is wrong; nothing is fetched."""
    source = _source({})
    status, _, html = get(serve(source) + "/usage?" + query)
    assert status == 400
    assert says in html.replace("&#39;", "'")
    assert source.calls == 0


def test_pages_have_a_strict_csp_and_no_inline_script(serve: Any) -> None:
    """The page's only script is the static module; the CSP forbids inline script."""
    _, headers, html = get(serve() + "/usage")
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "unsafe-inline" not in headers["content-security-policy"]
    scripts = re.findall(r"<script[^>]*>", html)
    assert scripts == ['<script type="module" src="/static/usage_verify.js">']
    status, js_headers, _ = get(serve() + "/static/usage_verify.js")
    assert status == 200
    assert "javascript" in js_headers["content-type"]


def test_how_page_shows_the_persons_proof_and_command(serve: Any,
                                                      proofs: dict[str, Any]) -> None:
    """The "how" page names the head and gives the command to check it independently."""
    _, _, html = get(serve() + "/usage/how")
    assert "sild tracker verify usage-proof-population.json --ledger-key" in html
    assert proofs["population"]["head"]["chain"] in html


def test_proof_download_is_the_registers_document(serve: Any,
                                                  proofs: dict[str, Any]) -> None:
    """/usage/proof/health downloads that register's proof as a file."""
    status, headers, body = get(serve() + "/usage/proof/health")
    assert status == 200
    assert json.loads(body) == proofs["health"]
    assert 'filename="usage-proof-health.json"' in headers["content-disposition"]


def test_proof_of_an_unknown_register_is_404(serve: Any) -> None:
    """Only configured registers have proofs."""
    status, _, html = get(serve() + "/usage/proof/police")
    assert status == 404
    assert "no register called" in html.replace("&#39;", "'")


@pytest.mark.parametrize("lang", ["et", "ja"])
def test_page_is_translated(serve: Any, lang: str) -> None:
    """Estonian and Japanese pages use the usage.json translations."""
    _, _, html = get(serve() + f"/usage?lang={lang}")
    assert translations(lang)["Who used my data"] in html
    assert "Who used my data" not in html


def test_every_template_text_has_translations() -> None:
    """Each _("…") of the usage templates is in et and ja."""
    root = Path(__file__).resolve().parents[3] / "src/sild/portal"
    texts = set()
    for f in (root / "templates/usage").glob("*.html"):
        s = f.read_text()
        texts |= set(re.findall(r'_\("([^"]*)"\)', s)) | set(re.findall(r"_\('([^']*)'\)", s))
    for lang in ("et", "ja"):
        assert texts - set(translations(lang)) == set(), lang
