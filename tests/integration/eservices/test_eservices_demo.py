"""The once-only e-services in the running demo country (issue #10; docs/spec/eservices.md):
each fetch through the exchange, in the person's findUsage with its purpose; bad input
refused before any register is asked, nothing written half."""

from __future__ import annotations

import json
import sqlite3
import urllib.error
import urllib.request
from typing import Any

from sild.demo_country import DemoCountry

Answer = tuple[int, dict[str, Any], str]


def _call(url: str, *, user: str | None = None, body: bytes | None = None,
          headers: dict[str, str] | None = None) -> Answer:
    h = dict(headers or {})
    if user is not None:
        h["X-Road-UserId"] = user
    if body is not None:
        h.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=body, headers=h,
                                 method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            text = resp.read().decode()
            status, ctype = resp.status, resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        text, status, ctype = e.read().decode(), e.code, e.headers.get("Content-Type", "")
    return status, (json.loads(text) if "json" in ctype else {}), text


def _post(url: str, user: str, data: object) -> Answer:
    return _call(url, user=user, body=json.dumps(data).encode())


def _find_usage(c: DemoCountry, register: str, code: str) -> list[dict[str, Any]]:
    """The person's findUsage v2 on ``register``'s provider, asked as the national tracker."""
    url = (f"{c.is_url_for('tracker')}/r1/{c.find_usage[register]}/v2/findUsage"
           f"?userCode={code}&size=1000")
    status, answer, text = _call(url, user=code,
                                 headers={"X-Road-Client": c.subsystems["tracker"]})
    assert status == 200, text
    usages: list[dict[str, Any]] = answer["usages"]
    return usages


def _purposes(c: DemoCountry, register: str, code: str) -> str:
    return json.dumps(_find_usage(c, register, code), ensure_ascii=False)


def _companies(c: DemoCountry) -> int:
    with sqlite3.connect(c.root / "eservices.db") as db:
        n: int = db.execute("select count(*) from es_companies").fetchone()[0]
        return n


def test_e_resident_registers_a_company(country: DemoCountry) -> None:
    """An e-resident founder is pulled from population and business; the company is made."""
    founder = country.person("e-resident")
    status, answer, text = _post(f"{country.eservice_urls['company']}/api/companies",
                                 founder.code, {"name": "Fuji Sild OÜ", "address": "Tartu"})
    assert status == 201, text
    assert answer["founder"]["residency"] == "e-resident"
    assert answer["founder"]["surname"] == founder.surname
    assert "Registering a company" in _purposes(country, "population", founder.code)


def test_company_name_taken_is_refused(country: DemoCountry) -> None:
    """The same company name twice: 409 EServiceRefused, one company written."""
    founder = country.person("citizen")
    url = f"{country.eservice_urls['company']}/api/companies"
    assert _post(url, founder.code, {"name": "Kalda Unique OÜ", "address": "Tallinn"})[0] \
        == 201
    before = _companies(country)
    status, answer, _ = _post(url, founder.code, {"name": "kalda unique oü",
                                                  "address": "Tallinn"})
    assert (status, answer["type"]) == (409, "Client.EServiceRefused")
    assert _companies(country) == before


def test_company_oversize_name_writes_nothing(country: DemoCountry) -> None:
    """A 101-character name: 400 before any register is asked, nothing written."""
    before = _companies(country)
    status, answer, _ = _post(f"{country.eservice_urls['company']}/api/companies",
                              country.person("citizen").code,
                              {"name": "x" * 101, "address": "Tallinn"})
    assert (status, answer["type"]) == (400, "Client.InvalidRequest")
    assert _companies(country) == before


def test_company_oversize_body_is_413(country: DemoCountry) -> None:
    """A body over 4 KiB is refused whole."""
    status, _, _ = _post(f"{country.eservice_urls['company']}/api/companies",
                         country.person("citizen").code, {"name": "a", "pad": "x" * 5000})
    assert status == 413


def test_company_malformed_founder_code(country: DemoCountry) -> None:
    """A personal code with a wrong check digit: 400 InvalidPersonalCode."""
    status, answer, _ = _post(f"{country.eservice_urls['company']}/api/companies",
                              "EE38001085719", {"name": "A OÜ", "address": "Tallinn"})
    assert (status, answer["type"]) == (400, "Client.InvalidPersonalCode")


def test_minor_founder_is_refused_and_nothing_written(country: DemoCountry) -> None:
    """A child cannot found a company: 409, no row."""
    before = _companies(country)
    status, answer, _ = _post(f"{country.eservice_urls['company']}/api/companies",
                              country.person("child").code,
                              {"name": "Lapse OÜ", "address": "Tallinn"})
    assert (status, answer["type"]) == (409, "Client.EServiceRefused")
    assert _companies(country) == before


def test_tax_return_is_prefilled_from_employers_reports(country: DemoCountry) -> None:
    """The return lists the reported income and the tax office's purpose is recorded."""
    p = country.person("citizen")
    status, answer, text = _call(f"{country.eservice_urls['tax-return']}/api/return?year=2025",
                                 user=p.code)
    assert status == 200, text
    assert answer["income"]
    assert answer["filed"] is None
    assert "Prefilling the income tax return" in _purposes(country, "tax", p.code)


def test_tax_return_confirmed_once(country: DemoCountry) -> None:
    """One call files the return; a second is 409."""
    url = f"{country.eservice_urls['tax-return']}/api/return/confirm"
    p = country.person("citizen")
    status, answer, text = _post(url, p.code, {"year": 2025})
    assert status == 201, text
    assert answer["filed"]
    assert _post(url, p.code, {"year": 2025})[0] == 409


def test_tax_return_bad_year(country: DemoCountry) -> None:
    """A year without reports: 400."""
    status, answer, _ = _call(f"{country.eservice_urls['tax-return']}/api/return?year=1999",
                              user=country.person("citizen").code)
    assert (status, answer["type"]) == (400, "Client.InvalidRequest")


def test_doctor_sees_a_patient(country: DemoCountry) -> None:
    """Visits and identity; the use shows in the patient's findUsage with its purpose."""
    p, doctor = country.person("citizen"), country.person("doctor")
    status, answer, text = _call(
        f"{country.eservice_urls['doctor']}/api/patient?code={p.code}", user=doctor.code)
    assert status == 200, text
    assert answer["visits"]
    assert answer["person"]["surname"] == p.surname
    assert answer["breakGlass"] is False
    uses = [u for u in _find_usage(country, "health", p.code)
            if u.get("actionDescription", u.get("action", "")).startswith("Treatment")
            or "Treatment of the patient" in json.dumps(u)]
    assert uses, _find_usage(country, "health", p.code)


def test_doctor_refused_when_locked(country: DemoCountry) -> None:
    """A patient who locked their health data: 403 AccessDenied, nothing shown."""
    status, answer, _ = _call(
        f"{country.eservice_urls['doctor']}/api/patient?code={country.person('locked').code}",
        user=country.person("doctor").code)
    assert status == 403
    assert answer["type"].endswith("AccessDenied")
    assert "visits" not in answer


def test_doctor_break_glass_is_flagged(country: DemoCountry) -> None:
    """Sild-Emergency opens a locked record and the answer says break-glass."""
    locked = country.person("locked").code
    status, answer, text = _call(
        f"{country.eservice_urls['doctor']}/api/patient?code={locked}",
        user=country.person("doctor").code, headers={"Sild-Emergency": "unconscious"})
    assert status == 200, text
    assert answer["breakGlass"] is True


def test_doctor_without_acting_person(country: DemoCountry) -> None:
    """No X-Road-UserId: 400 MissingHeader."""
    status, answer, _ = _call(
        f"{country.eservice_urls['doctor']}/api/patient?code={country.person('citizen').code}")
    assert (status, answer["type"]) == (400, "Client.MissingHeader")


def test_police_check_is_sealed_from_the_person(country: DemoCountry) -> None:
    """The police check answers, and the person's findUsage does not show it."""
    p = country.person("citizen")
    status, answer, text = _call(
        f"{country.eservice_urls['police']}/api/check?code={p.code}&case=K-77",
        user=country.person("officer").code)
    assert status == 200, text
    assert answer["person"]["personalCode"] == p.code
    assert "case K-77" not in _purposes(country, "population", p.code)


def test_police_bad_case_number(country: DemoCountry) -> None:
    """A case number with other characters: 400."""
    status, _, _ = _call(f"{country.eservice_urls['police']}/api/check?"
                         f"code={country.person('citizen').code}&case=a%20b",
                         user=country.person("officer").code)
    assert status == 400


def test_parent_sees_their_child(country: DemoCountry) -> None:
    """Representation from population relations: the child's data, the use recorded."""
    parent, child = country.person("parent"), country.person("child")
    status, answer, text = _call(
        f"{country.eservice_urls['family']}/api/child?code={child.code}", user=parent.code)
    assert status == 200, text
    assert answer["person"]["personalCode"] == child.code
    assert "Parent acting for a minor child" in _purposes(country, "health", child.code)


def test_not_the_parent_is_refused(country: DemoCountry) -> None:
    """Someone who is not the child's parent: 403 EServiceNoRepresentation."""
    status, answer, _ = _call(
        f"{country.eservice_urls['family']}/api/child?code={country.person('child').code}",
        user=country.person("citizen").code)
    assert (status, answer["type"]) == (403, "Client.EServiceNoRepresentation")


def test_malformed_child_code(country: DemoCountry) -> None:
    """A child code that is not a personal code: 400."""
    status, answer, _ = _call(f"{country.eservice_urls['family']}/api/child?code=EE123",
                              user=country.person("parent").code)
    assert (status, answer["type"]) == (400, "Client.InvalidPersonalCode")


def test_every_eservice_has_a_page(country: DemoCountry) -> None:
    """GET / is an HTML page naming the purpose."""
    for name, url in country.eservice_urls.items():
        status, _, text = _call(url + "/")
        assert status == 200, name
        assert "<h1>" in text, name
        assert "purpose" in text, name


def test_portal_may_call_an_eservice_through_the_exchange(country: DemoCountry) -> None:
    """The e-services are services of their subsystems, granted to the portal."""
    url = (f"{country.is_url_for('portal')}/r1/{country.eservice_services['family']}"
           "/api/children")
    status, answer, text = _call(url, user=country.person("parent").code,
                                 headers={"X-Road-Client": country.subsystems["portal"]})
    assert status == 200, text
    assert [c["personalCode"] for c in answer["children"]] == [country.person("child").code]
