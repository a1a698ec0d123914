"""The enterprise scenario's generated company and its pure parts (no I/O)."""

from __future__ import annotations

import pytest
from stdnum.ee import ik  # LGPL: tests only, never imported by src/

from sild.enterprise.data import make_company, payslips
from sild.enterprise.layout import FLOWS, GATEWAYS, SERVICES, gateway_of, subsystem
from sild.enterprise.steps import steps


def test_the_company_is_the_same_for_the_same_seed() -> None:
    """Same seed, same employees and invoices; another seed, other people."""
    assert make_company(20) == make_company(20)
    assert make_company(20, seed=1) != make_company(20)


def test_every_personal_code_is_valid_by_an_independent_implementation() -> None:
    """python-stdnum accepts every generated code; none repeats."""
    codes = [e.code for e in make_company(200).employees]
    assert len(set(codes)) == 200
    assert all(ik.is_valid(c.removeprefix("EE")) for c in codes)


def test_every_invoice_contact_is_an_account_manager() -> None:
    """Invoices name Sales employees, whom the CRM has contact cards for."""
    company = make_company()
    sales = {e.code for e in company.account_managers}
    assert sales
    assert {i.contact for i in company.invoices} <= sales


def test_payslips_withhold_22_percent() -> None:
    """Net is gross minus 22 % income tax, to the cent."""
    e = make_company(5).employees[0]
    for slip in payslips(e):
        gross, tax, net = (round(float(str(slip[k])) * 100)
                           for k in ("gross", "incomeTax", "net"))
        assert tax == gross * 22 // 100
        assert net == gross - tax


def test_every_flow_reads_a_service_granted_to_it() -> None:
    """Background traffic only follows access rights the scenario grants."""
    granted = {(c, s.code) for s in SERVICES for c in s.clients}
    assert {(f.client, f.service) for f in FLOWS} == granted


def test_subsystems_are_found_on_their_gateways() -> None:
    """Each subsystem code names one subsystem on one gateway; unknown codes fail."""
    for spec in GATEWAYS:
        for code in spec.subsystems:
            assert gateway_of(subsystem(code)) == spec
    with pytest.raises(KeyError):
        subsystem("nowhere")


def test_steps_approve_requests_in_the_order_they_are_made() -> None:
    """Registry request ids count gateway and client requests in submission order."""
    ports = {s.server_code: ("127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3") for s in GATEWAYS}
    urls = {k: "http://127.0.0.1:9" for k in
            ("hr", "payroll", "crm", "accounting", "tracker-gw1", "tracker-gw2")}
    lines = [c for s in steps("sild", registry="http://127.0.0.1:4000", ports=ports,
                              systems=urls) for c in s.commands]
    approvals = [int(c.split()[3]) for c in lines if c.startswith("sild registry approve")]
    requests = [c for c in lines if c.startswith(("sild gateway register",
                                                  "sild gateway add-client"))]
    assert approvals == list(range(1, len(requests) + 1))
    assert len(requests) == len(GATEWAYS) + sum(len(s.subsystems) for s in GATEWAYS)
