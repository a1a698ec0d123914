"""The demo country's once-only e-services (issue #10; docs/spec/eservices.md).

Each e-service of :mod:`sild.eservices` runs as its organisation's information system:
it asks the registers through its own gateway as its own subsystem
(:data:`sild.demo_plan.CONSUMERS`), and is itself a service of that subsystem
(:func:`sild.demo_plan.eservice_id`) that the portal may call through the exchange. The
company registrations and tax returns they write go to ``eservices.db`` in the demo
folder (the ``eservices`` storage component).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

from sild.core.access import parse_subject
from sild.demo_data import DemoData
from sild.demo_plan import CONSUMERS, ESERVICES, HOSTS, ROLES, eservice_id
from sild.eservices.company import create_company_app
from sild.eservices.doctor import create_doctor_app
from sild.eservices.exchange import RegisterClient
from sild.eservices.family import create_family_app
from sild.eservices.police import create_police_app
from sild.eservices.taxreturn import create_taxreturn_app
from sild.localnet import LocalNet
from sild.store import make_engine, migrate

__all__ = ["start_eservices", "tour"]



FIRST_PORT = 8490  # with fixed ports: company 8490, tax-return 8491, doctor 8492, …


async def start_eservices(net: LocalNet, serve: Callable[..., Any], engines: list[Any], *,
                          fixed_ports: bool = False) -> dict[str, str]:
    """Start every e-service; e-service name → its base URL."""
    engine = make_engine(f"sqlite:///{(net.root / 'eservices.db').resolve()}")
    engines.append(engine)
    migrate(engine, "eservices")
    services = {r: str(h.service(r)) for r, h in HOSTS.items()}
    urls: dict[str, str] = {}
    portal = CONSUMERS["portal"][0]
    for i, (name, role) in enumerate(ESERVICES.items()):
        client, gw_role, _ = CONSUMERS[role]
        spec = ROLES[gw_role]
        rc = RegisterClient(f"http://{net.gateway_settings[spec.server].is_listen}",
                            str(client), services)
        if name == "company":
            app = create_company_app(rc, engine)
        elif name == "tax-return":
            app = create_taxreturn_app(rc, engine)
        else:
            app = {"doctor": create_doctor_app, "police": create_police_app,
                   "family": create_family_app}[name](rc)
        urls[name] = await serve(app, lifespan="on",
                                 port=FIRST_PORT + i if fixed_ports else 0)
        sc = net.stores[spec.server].serverconf
        sid = eservice_id(name)
        sc.add_service(sid.subsystem, sid.service_code, urls[name], timeout=30)
        sc.grant(sid, parse_subject(str(portal)))
    return urls


def tour(urls: dict[str, str], data: DemoData, say: Callable[[str], None]) -> None:
    """Copy-paste lines: each e-service once, with the demo identities."""
    p, locked = data.person("citizen"), data.person("locked")
    parent, child = data.person("parent"), data.person("child")
    founder, doctor = data.person("e-resident"), data.person("doctor")
    officer = data.person("officer")

    def as_(who: str) -> str:
        return f"curl -s -H 'X-Road-UserId: {who}'"

    company = shlex.quote('{"name": "Sakura Sild OÜ", "address": "Narva mnt 5, Tallinn"}')
    say(f"  {as_(founder.code)} -H 'Content-Type: application/json' -d {company} "
        f"{urls['company']}/api/companies        # {founder.given_name} {founder.surname}, "
        "an e-resident, founds a company")
    say(f"  {as_(p.code)} '{urls['tax-return']}/api/return?year=2025'"
        "        # a tax return prefilled from employers' reports")
    say(f"  {as_(p.code)} -d '{{\"year\": 2025}}' {urls['tax-return']}/api/return/confirm"
        "        # confirmed with one call")
    say(f"  {as_(doctor.code)} '{urls['doctor']}/api/patient?code={p.code}'"
        "        # a doctor's view of a patient")
    say(f"  {as_(doctor.code)} '{urls['doctor']}/api/patient?code={locked.code}'"
        "        # AccessDenied: the patient locked their health data")
    say(f"  {as_(officer.code)} '{urls['police']}/api/check?code={p.code}&case=2026-1234'"
        "        # a police check, sealed from the person")
    say(f"  {as_(parent.code)} '{urls['family']}/api/child?code={child.code}'"
        f"        # {parent.given_name} sees their child {child.given_name}")
    say(f"  {as_(p.code)} '{urls['family']}/api/child?code={child.code}'"
        "        # EServiceNoRepresentation: not their child")
