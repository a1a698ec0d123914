"""The in-house systems over real HTTP: answers, bad parameters, OpenAPI a gateway reads."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from sild.enterprise.data import make_company
from sild.enterprise.systems import SYSTEMS, create_system_app, openapi_document
from sild.gateway.serverconf.openapi import parse_openapi
from sild.testing.servers import serve_asgi

COMPANY = make_company(10)
EMP = COMPANY.employees[0]
SALES = COMPANY.account_managers[0]


@pytest.fixture(scope="module")
def urls() -> Iterator[dict[str, str]]:
    with serve_asgi(create_system_app("hr", COMPANY)) as hr, \
            serve_asgi(create_system_app("payroll", COMPANY)) as payroll, \
            serve_asgi(create_system_app("crm", COMPANY)) as crm, \
            serve_asgi(create_system_app("accounting", COMPANY)) as accounting:
        yield {"hr": hr, "payroll": payroll, "crm": crm, "accounting": accounting}


def test_hr_answers_an_employees_record(urls: dict[str, str]) -> None:
    """GET /employees/EE… is the employee's record, bare 11 digits too."""
    for code in (EMP.code, EMP.code[2:]):
        r = requests.get(f"{urls['hr']}/employees/{code}", timeout=10)
        assert r.status_code == 200
        assert r.json()["personalCode"] == EMP.code
        assert r.json()["surname"] == EMP.surname


def test_payroll_answers_payslips_with_22_percent_tax(urls: dict[str, str]) -> None:
    """Payslips: net = gross - 22 % income tax."""
    slips = requests.get(f"{urls['payroll']}/payslips/{EMP.code}", timeout=10).json()["payslips"]
    assert len(slips) == 3
    gross, tax = float(slips[0]["gross"]), float(slips[0]["incomeTax"])
    assert abs(tax - gross * 0.22) < 0.01


def test_accounting_names_the_invoice_contact(urls: dict[str, str]) -> None:
    """An invoice names its contact as personalCode (the provider can name subjects)."""
    inv = COMPANY.invoices[0]
    r = requests.get(f"{urls['accounting']}/invoices/{inv.number}", timeout=10)
    assert r.json()["contact"] == {"personalCode": inv.contact}


def test_crm_contact_card_of_an_account_manager(urls: dict[str, str]) -> None:
    """The CRM has cards for account managers, 404 for other employees."""
    assert requests.get(f"{urls['crm']}/contacts/{SALES.code}", timeout=10).json()["customers"]
    other = next(e for e in COMPANY.employees if e.department != "Sales")
    assert requests.get(f"{urls['crm']}/contacts/{other.code}", timeout=10).status_code == 404


@pytest.mark.parametrize(("path", "status", "code"), [
    ("/employees/EE38001085719", 400, "Client.InvalidPersonalCode"),
    ("/employees/nonsense", 400, "Client.InvalidPersonalCode"),
    ("/employees/EE38001085718", 404, "Client.NotFound"),
    ("/employees/%3Cscript%3E", 400, "Client.InvalidPersonalCode"),
    ("/employees/" + "9" * 300, 400, "Client.InvalidPersonalCode"),
    ("/nowhere", 404, "Client.NotFound"),
])
def test_hr_bad_input_is_an_x_road_error(urls: dict[str, str], path: str, status: int,
                                         code: str) -> None:
    """Malformed, unknown, scripted or oversize codes: 4xx JSON with X-Road-Error."""
    r = requests.get(urls["hr"] + path, timeout=10)
    assert (r.status_code, r.headers["x-road-error"]) == (status, code)
    assert r.headers["content-type"].startswith("application/json")  # never HTML


@pytest.mark.parametrize(("number", "status"), [("INV-9999-0001", 404), ("x" * 40, 400),
                                                ("INV%202026", 400), ("%3Cb%3E", 400),
                                                ("INV%2F..%2F1", 404)])
def test_accounting_bad_invoice_numbers(urls: dict[str, str], number: str, status: int) -> None:
    """Unknown invoice or a slash: 404; oversize or odd characters: 400."""
    assert requests.get(f"{urls['accounting']}/invoices/{number}",
                        timeout=10).status_code == status


@pytest.mark.parametrize("system", list(SYSTEMS))
def test_openapi_is_what_a_gateway_reads(urls: dict[str, str], system: str) -> None:
    """Each system's OpenAPI is served and parses into one GET endpoint for the gateway."""
    served = requests.get(f"{urls[system]}/openapi.json", timeout=10).json()
    assert served == openapi_document(system)
    endpoints = parse_openapi(json.dumps(served).encode())
    assert [str(e) for e in endpoints]
    assert all("GET" in str(e) for e in endpoints)
