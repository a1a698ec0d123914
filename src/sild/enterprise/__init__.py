"""``sild demo --scenario enterprise``: a company's siloed systems joined by Sild.

* :mod:`.layout`   who is who: the private instance, members, gateways, services, flows;
* :mod:`.data`     generated employees, payslips, contacts, invoices (Faker, seeded);
* :mod:`.systems`  the in-house REST services (Starlette) with OpenAPI;
* :mod:`.portal`   the company portal: who read my data and why (findUsage);
* :mod:`.steps`    the set-up as the ``sild`` commands that do it by hand;
* :mod:`.scenario` performs the steps, runs traffic, prints the tour.
"""

from sild.enterprise.scenario import run_enterprise

__all__ = ["run_enterprise"]
