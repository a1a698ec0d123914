"""The e-services inside the demo's portal, and its "Log in with Sild ID"
(docs/spec/portal.md §6, §7): one real ``sild demo --size small`` for the module; the
portal's pages call the e-services through the exchange for the logged-in person."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from sild.testing.demo_run import RunningDemo, running_demo

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDemo]:
    with running_demo(tmp_path_factory.mktemp("es-portal") / "demo") as d:
        yield d


class Browser:
    """A logged-in portal session (the marked demo login) with its CSRF token."""

    def __init__(self, demo: RunningDemo, role: str) -> None:
        self.url = demo.portal_url
        self.http = requests.Session()
        self.code = demo.country.person(role).code
        token = CSRF.search(self.http.get(self.url + "/", timeout=10).text)
        assert token is not None
        r = self.http.post(self.url + "/login/demo", timeout=10, data={
            "csrf_token": token.group(1), "personal_code": self.code})
        assert r.url == self.url + "/data", r.text[:300]
        found = CSRF.search(self.http.get(self.url + "/eservices", timeout=10).text)
        assert found is not None
        self.csrf = found.group(1)

    def get(self, path: str) -> requests.Response:
        return self.http.get(self.url + path, timeout=30, allow_redirects=False)

    def post(self, path: str, data: dict[str, str], *, csrf: bool = True) -> requests.Response:
        return self.http.post(self.url + path, timeout=30, allow_redirects=False,
                              data={**data, **({"csrf_token": self.csrf} if csrf else {})})


def _shown(html: str, id_: str) -> str:
    m = re.search(rf'id="{id_}"[^>]*>([^<]*)', html)
    return m.group(1).strip() if m else ""


# -- the list ----------------------------------------------------------------------------


def test_eservices_page_lists_the_portal_pages(demo: RunningDemo) -> None:
    """/eservices links the company, tax-return and family pages of the portal itself."""
    text = Browser(demo, "citizen").get("/eservices").text
    for href in ("/eservices/company", "/eservices/tax-return", "/eservices/family"):
        assert f'href="{href}"' in text


def test_eservice_pages_need_a_login(demo: RunningDemo) -> None:
    """Without a login the e-service pages send the browser to the login page."""
    r = requests.get(demo.portal_url + "/eservices/tax-return", timeout=10,
                     allow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].endswith("/")


# -- the prefilled tax return --------------------------------------------------------------


def test_tax_return_is_prefilled_from_the_employers_reports(demo: RunningDemo) -> None:
    """GET shows the income the tax register holds and a confirm button."""
    r = Browser(demo, "citizen").get("/eservices/tax-return?year=2025")
    assert r.status_code == 200
    assert float(_shown(r.text, "gross")) > 0
    assert 'id="confirm-return"' in r.text


def test_confirming_the_tax_return_files_it_once(demo: RunningDemo) -> None:
    """POST files the return (201, the time shown); a second confirm is refused (409)."""
    b = Browser(demo, "citizen")
    first = b.post("/eservices/tax-return", {"year": "2024"})
    assert first.status_code == 201
    assert _shown(first.text, "filed").startswith("Confirmed and filed at 20")
    again = b.post("/eservices/tax-return", {"year": "2024"})
    assert again.status_code == 409
    assert "EServiceRefused" in again.text


def test_tax_return_confirm_without_csrf_is_refused(demo: RunningDemo) -> None:
    """A confirm without the session's CSRF token is 403 and files nothing."""
    b = Browser(demo, "parent")
    assert b.post("/eservices/tax-return", {"year": "2023"}, csrf=False).status_code == 403
    assert 'id="confirm-return"' in b.get("/eservices/tax-return?year=2023").text


@pytest.mark.parametrize("year", ["2031", "20x5", "", "1" * 50])
def test_tax_return_bad_year_is_400(demo: RunningDemo, year: str) -> None:
    """A year that is not one the service prefills is refused before the service is asked."""
    b = Browser(demo, "citizen")
    assert b.post("/eservices/tax-return", {"year": year}).status_code == 400
    assert b.get(f"/eservices/tax-return?year={year}").status_code == 400


def test_oversize_form_is_refused(demo: RunningDemo) -> None:
    """A form over 4 KiB is 400 before it is read."""
    b = Browser(demo, "citizen")
    r = b.post("/eservices/tax-return", {"year": "2025", "pad": "x" * 5000})
    assert r.status_code == 400
    assert "larger than 4 KiB" in r.text


# -- register a company ----------------------------------------------------------------------


def test_found_a_company(demo: RunningDemo) -> None:
    """POST registers the company with the logged-in person as founder (201, reg code)."""
    b = Browser(demo, "citizen")
    r = b.post("/eservices/company", {"name": "Portaali Pagarid OÜ", "address": "Tartu"})
    assert r.status_code == 201
    assert re.fullmatch(r"9\d{7}", _shown(r.text, "reg-code"))
    assert b.code in r.text


def test_company_name_taken_is_409(demo: RunningDemo) -> None:
    """The same name again (any case) is the e-service's refusal, shown with its code."""
    b = Browser(demo, "e-resident")
    assert b.post("/eservices/company", {"name": "Kahekordne OÜ", "address": "Narva"}
                  ).status_code == 201
    r = b.post("/eservices/company", {"name": "KAHEKORDNE OÜ", "address": "Narva"})
    assert r.status_code == 409
    assert "EServiceRefused" in r.text


@pytest.mark.parametrize("form", [{"address": "Tallinn"}, {"name": "X", "address": ""},
                                  {"name": "x" * 101, "address": "Tallinn"},
                                  {"name": "Bad\x01Name", "address": "Tallinn"}])
def test_company_malformed_form_is_400(demo: RunningDemo, form: dict[str, str]) -> None:
    """A missing, empty, too long or control-character field is 400."""
    assert Browser(demo, "citizen").post("/eservices/company", form).status_code == 400


def test_company_without_csrf_is_refused(demo: RunningDemo) -> None:
    """No CSRF token: 403."""
    r = Browser(demo, "citizen").post("/eservices/company",
                                      {"name": "Csrf OÜ", "address": "Tallinn"}, csrf=False)
    assert r.status_code == 403


def test_company_while_acting_for_a_child_is_refused(demo: RunningDemo) -> None:
    """The e-services act for the person themself: acting for a child, 403."""
    b = Browser(demo, "parent")
    child = demo.country.person("child").code
    assert b.post("/represent", {"personal_code": child}).status_code == 303
    assert b.post("/eservices/company", {"name": "Lapse OÜ", "address": "Tallinn"}
                  ).status_code == 403


# -- a parent's view of a child ----------------------------------------------------------------


def test_parent_sees_their_child_through_the_family_eservice(demo: RunningDemo) -> None:
    """The family page lists the minor child; viewing them shows the child's page."""
    b = Browser(demo, "parent")
    child = demo.country.person("child").code
    listing = b.get("/eservices/family").text
    assert child in listing
    assert "view-child" in listing
    r = b.post("/eservices/family", {"personal_code": child})
    assert r.status_code == 200
    assert 'id="child-visits"' in r.text
    assert child in r.text


def test_not_my_child_is_403(demo: RunningDemo) -> None:
    """Another person's code: the e-service's EServiceNoRepresentation, 403."""
    b = Browser(demo, "parent")
    other = demo.country.person("citizen").code
    r = b.post("/eservices/family", {"personal_code": other})
    assert r.status_code == 403
    assert "EServiceNoRepresentation" in r.text


@pytest.mark.parametrize("code", ["", "EE123", "not a code"])
def test_family_malformed_code_is_400(demo: RunningDemo, code: str) -> None:
    """A missing or invalid personal code is 400."""
    assert Browser(demo, "parent").post("/eservices/family",
                                        {"personal_code": code}).status_code == 400


def test_family_without_csrf_is_refused(demo: RunningDemo) -> None:
    """No CSRF token: 403."""
    child = demo.country.person("child").code
    assert Browser(demo, "parent").post("/eservices/family", {"personal_code": child},
                                        csrf=False).status_code == 403


# -- Sild ID in the demo -----------------------------------------------------------------------


def test_demo_country_names_its_oidc_provider(demo: RunningDemo) -> None:
    """demo-country.json carries the provider's issuer; its discovery answers."""
    issuer = demo.country.oidc_url
    assert issuer.startswith("http://localhost:")
    meta = requests.get(issuer + "/.well-known/openid-configuration", timeout=10).json()
    assert meta["issuer"] == issuer


def test_demo_prints_how_to_log_in_with_sild_id(demo: RunningDemo) -> None:
    """The printed lines name the provider and each file they mention exists."""
    said = "\n".join(demo.printed)
    assert f"Sild ID (OpenID Connect provider {demo.country.oidc_url})" in said
    for path in re.findall(r"(/\S+\.(?:token|cert\.b64|txt))", said):
        if "sild-id" in path:
            assert Path(path).is_file(), path


def test_log_in_with_sild_id_through_the_providers_demo_login(demo: RunningDemo) -> None:
    """Portal → provider's page → its demo login → back at the portal's My data."""
    http = requests.Session()
    page = http.get(demo.portal_url + "/login/oidc", timeout=10)
    assert page.url.startswith(demo.country.oidc_url + "/authorize")
    nonce = re.search(r'name="nonce" value="([^"]+)"', page.text)
    assert nonce is not None
    code = demo.country.person("citizen").code
    r = http.post(demo.country.oidc_url + "/login/demo", timeout=10, data={
        "nonce": nonce.group(1), "personal_code": code, "given_name": "Sild",
        "family_name": "Id"}, headers={"Origin": demo.country.oidc_url})
    assert r.url == demo.portal_url + "/data", r.text[:300]
    assert f"Sild Id ({code})" in r.text


def test_portal_client_file_is_private(demo: RunningDemo) -> None:
    """The portal's client secret is in a 0600 file naming the portal's own port."""
    path = demo.country.root / "sild-id" / "portal-client.json"
    assert path.stat().st_mode & 0o777 == 0o600
    data = json.loads(path.read_text())
    assert urlsplit(demo.portal_url).port == data["port"]
