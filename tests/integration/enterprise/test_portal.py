"""The company portal over real HTTP: demo login, CSRF, sessions, every bad parameter.

The portal runs on uvicorn on loopback; its gateway is a small fake that answers
findUsage v2 (the whole scenario with real gateways: test_scenario.py and the browser
test in tests/e2e/enterprise)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sild.core.identifiers import SubsystemId
from sild.enterprise.data import Company, make_company
from sild.enterprise.layout import COMPANY
from sild.enterprise.portal import CSP, PortalConfig, create_portal_app
from sild.testing.servers import free_port, serve_asgi

HOLDERS = {"hr": SubsystemId(COMPANY, "hr"), "payroll": SubsystemId(COMPANY, "payroll")}
LABELS = {"hr": "HR system", "payroll": "Payroll"}


@dataclass
class Site:
    url: str
    company: Company
    asked: list[tuple[str, str, str]]  # (path, X-Road-Client, X-Road-UserId) seen by the gateway

    def login(self, code: str | None = None) -> requests.Session:
        s = requests.Session()
        page = s.get(self.url + "/", timeout=10)
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token is not None
        code = code or self.company.employees[0].code
        r = s.post(self.url + "/login", data={"csrf": token.group(1), "code": code},
                   allow_redirects=False, timeout=10)
        assert r.status_code == 303, r.text
        return s


def _gateway(asked: list[tuple[str, str, str]]) -> Starlette:
    async def find(request: Request) -> JSONResponse:
        path = request.url.path
        asked.append((path, request.headers["x-road-client"], request.headers["x-road-userid"]))
        reader = "payroll" if "/hr/" in path else "accounting"
        return JSONResponse({"totalUsages": 1, "usages": [{
            "logtime": f"2026-12-07T00:00:0{1 if reader == 'payroll' else 2}Z",
            "action": f"read by {reader}", "receiverCode": "12345678",
            "receiverName": "Kask & Partners", "receiverSystem": reader}]})
    return Starlette(routes=[Route("/r1/{rest:path}", find)])


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    asked: list[tuple[str, str, str]] = []
    company = make_company(10)
    with serve_asgi(_gateway(asked)) as gateway:
        config = PortalConfig(gateway_url=gateway, client=SubsystemId(COMPANY, "portal"),
                              holders=HOLDERS, labels=LABELS, company=company)
        with serve_asgi(create_portal_app(config)) as url:
            yield Site(url, company, asked)


def _token(s: requests.Session, site: Site) -> str:
    page = s.get(site.url + "/", timeout=10)
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def _post_login(site: Site, data: dict[str, str]) -> requests.Response:
    s = requests.Session()
    data = {"csrf": _token(s, site), **data}
    return s.post(site.url + "/login", data=data, allow_redirects=False, timeout=10)


def test_login_page_is_marked_demo_and_sends_a_strict_csp(site: Site) -> None:
    """The login page says DEMO, lists employees and forbids scripts by CSP."""
    r = requests.get(site.url + "/", timeout=10)
    assert r.status_code == 200
    assert r.headers["content-security-policy"] == CSP
    assert "script-src" not in CSP
    assert "default-src 'none'" in CSP
    assert "DEMO" in r.text
    assert site.company.employees[0].surname in r.text


def test_me_shows_every_systems_reads_newest_first(site: Site) -> None:
    """After login the page lists the reads findUsage returned from each system."""
    s = site.login()
    site.asked.clear()
    r = s.get(site.url + "/me", timeout=10)
    assert r.status_code == 200
    assert r.text.index("read by accounting") < r.text.index("read by payroll")
    code = site.company.employees[0].code
    assert {(a[1], a[2]) for a in site.asked} == {("KASK/COM/12345678/portal", code)}
    assert sorted(a[0] for a in site.asked) == [
        "/r1/KASK/COM/12345678/hr/findUsage/v2/findUsage",
        "/r1/KASK/COM/12345678/payroll/findUsage/v2/findUsage"]


def test_me_filters_by_one_system(site: Site) -> None:
    """?system=hr asks only the HR system's findUsage."""
    s = site.login()
    site.asked.clear()
    r = s.get(site.url + "/me", params={"system": "hr"}, timeout=10)
    assert r.status_code == 200
    assert "read by payroll" in r.text
    assert "read by accounting" not in r.text
    assert [a[0].split("/")[5] for a in site.asked] == ["hr"]


@pytest.mark.parametrize("query", ["system=bogus", "system=hr&system=payroll",
                                   "system=%3Cscript%3E", "system=" + "x" * 5000])
def test_me_refuses_a_bad_system_filter(site: Site, query: str) -> None:
    """An unknown, repeated, scripted or oversize system filter is a 400 page."""
    s = site.login()
    r = s.get(f"{site.url}/me?{query}", timeout=10)
    assert r.status_code == 400
    assert "<script>" not in r.text


def test_me_without_a_session_goes_to_login(site: Site) -> None:
    """No session cookie: redirected to the demo login, nothing asked of the gateway."""
    site.asked.clear()
    r = requests.get(site.url + "/me", allow_redirects=False, timeout=10)
    assert r.status_code == 303
    assert r.headers["location"] == "/"
    assert site.asked == []


def test_a_session_forged_for_another_person_is_refused(site: Site) -> None:
    """A session cookie naming another employee (MAC not theirs) is no session."""
    s = site.login(site.company.employees[0].code)
    mine = s.cookies["session"]
    other = site.company.employees[1].code
    site.asked.clear()
    r = requests.get(site.url + "/me", allow_redirects=False, timeout=10,
                     cookies={"session": other + "." + mine.split(".")[1]})
    assert r.status_code == 303
    assert site.asked == []


def test_login_without_a_csrf_token_is_refused(site: Site) -> None:
    """A login POST without the CSRF token is 403 and sets no session."""
    r = requests.post(site.url + "/login", data={"code": site.company.employees[0].code},
                      allow_redirects=False, timeout=10)
    assert r.status_code == 403
    assert "session" not in r.cookies


def test_login_with_a_wrong_csrf_token_is_refused(site: Site) -> None:
    """A CSRF token that is not the browser's cookie is 403."""
    s = requests.Session()
    _token(s, site)
    r = s.post(site.url + "/login", data={"csrf": "x" * 43,
                                          "code": site.company.employees[0].code},
               allow_redirects=False, timeout=10)
    assert r.status_code == 403
    assert "session" not in r.cookies


@pytest.mark.parametrize(("code", "status"), [
    ("EE38001085719", 400),           # wrong check digit
    ("hello", 400),                   # not a code
    ("", 400),                        # empty
    ("EE" + "3" * 60, 400),           # oversize
    ("<script>alert(1)</script>", 400),
    ("EE38001085718", 404),           # valid, but no such employee
])
def test_login_refuses_bad_codes(site: Site, code: str, status: int) -> None:
    """Malformed, oversize, scripted or unknown employee codes: 4xx, no session."""
    r = _post_login(site, {"code": code})
    assert r.status_code == status, r.text
    assert "session" not in r.cookies
    assert "<script>alert" not in r.text


def test_login_refuses_a_repeated_field(site: Site) -> None:
    """code given twice is 400."""
    s = requests.Session()
    token = _token(s, site)
    emp = site.company.employees
    r = s.post(site.url + "/login", data=[("csrf", token), ("code", emp[0].code),
                                          ("code", emp[1].code)],
               allow_redirects=False, timeout=10)
    assert r.status_code == 400
    assert "session" not in r.cookies


def test_login_refuses_an_oversize_form(site: Site) -> None:
    """A form past the limit is 413 before it is parsed."""
    r = _post_login(site, {"code": "x" * 10_000})
    assert r.status_code == 413


def test_logout_needs_the_csrf_token(site: Site) -> None:
    """Logout without the token is 403 and the session stays."""
    s = site.login()
    r = s.post(site.url + "/logout", data={}, allow_redirects=False, timeout=10)
    assert r.status_code == 403
    assert s.get(site.url + "/me", allow_redirects=False, timeout=10).status_code == 200


def test_a_gateway_that_does_not_answer_is_shown_not_a_crash() -> None:
    """With the gateway down the page still answers 200 and names the failure."""
    company = make_company(5)
    config = PortalConfig(gateway_url=f"http://127.0.0.1:{free_port()}",
                          client=SubsystemId(COMPANY, "portal"), holders=HOLDERS,
                          labels=LABELS, company=company)
    with serve_asgi(create_portal_app(config)) as url:
        r = Site(url, company, []).login().get(url + "/me", timeout=10)
    assert r.status_code == 200
    assert "did not answer" in r.text


def test_logout_works_after_the_csrf_cookie_was_lost(site: Site) -> None:
    """/me gives a fresh CSRF token when the cookie is gone; logout with it ends the session."""
    s = site.login()
    del s.cookies["csrf"]
    page = s.get(site.url + "/me", timeout=10)
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    r = s.post(site.url + "/logout", data={"csrf": token.group(1)}, allow_redirects=False,
               timeout=10)
    assert r.status_code == 303
    assert s.get(site.url + "/me", allow_redirects=False, timeout=10).status_code == 303
