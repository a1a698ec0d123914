"""``sild demo --scenario enterprise``: Sild joins a company's siloed in-house systems.

Kask & Partners runs an HR system, payroll, a CRM and accounting that cannot talk to
each other; its partner Tamm Logistics has its own ERP. On a **private instance** (its
own CA, registry and ledger; no government) each system becomes a subsystem behind a
gateway — the company's head-office gateway ``gw1`` (HR, payroll, the portal), its
finance-and-sales gateway ``gw2`` (CRM, accounting) and the partner's ``gw3`` — and
they exchange data through signed, logged, ledger-anchored messages:

1. the instance, its ledger, the members and their gateways are set up the real way
   (CSR → CA → signed registration request → approval; :class:`sild.localnet.LocalNet`),
   each step printed as the ``sild`` commands that do it by hand (:mod:`.steps`);
2. each system's REST service is added with its OpenAPI description, personal-data
   services declared (the provider gateway records every read for the data tracker,
   docs/spec/tracker.md), access granted per client subsystem;
3. a first exchange along every flow, then background traffic with purposes;
4. the company portal (:mod:`.portal`) shows an employee who read their data and why;
5. the tour: copy-paste lines that run as printed, the auditor's ``sild audit`` among
   them (tests/integration/enterprise/test_scenario.py runs every line).

Ctrl-C (also during start-up) stops everything cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import shlex
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from sild.core.access import parse_subject as parse_access_subject
from sild.embedded import free_port, start_embedded
from sild.enterprise.data import Company, Employee, make_company
from sild.enterprise.layout import (
    FLOWS,
    GATEWAYS,
    HOLDERS,
    INSTANCE,
    SERVICES,
    Flow,
    gateway_of,
    service,
    subsystem,
)
from sild.enterprise.portal import PortalConfig, create_portal_app
from sild.enterprise.steps import Step, steps
from sild.enterprise.systems import create_system_app, openapi_document
from sild.errors import ConfigurationError
from sild.gateway.serverconf.store import PersonalData
from sild.localnet import LocalNet
from sild.startup_signals import Interrupted, StartupSignals
from sild.store import make_engine
from sild.tracker.app import create_tracker_app, openapi_text
from sild.tracker.store import UsageStore

__all__ = ["run_enterprise"]

MARKER = ".sild-demo"
PORTAL_PORT = 8490


def _shown(path: Path) -> str:
    """A path for the tour: relative to the current folder when under it, shell-quoted."""
    full = path.resolve()
    try:
        return shlex.quote(str(full.relative_to(Path.cwd().resolve())))
    except ValueError:
        return shlex.quote(str(full))


def _url(flow: Flow, company: Company, rng: random.Random) -> tuple[str, str | None]:
    """The resource path a flow reads and its data subject (None: not personal data)."""
    if flow.service == "invoices":
        return f"/{rng.choice(company.invoices).number}", None
    pool = company.account_managers if flow.service == "contacts" else company.employees
    code = rng.choice(pool).code
    return f"/{code}", code


class Enterprise:
    """The scenario's running parts beyond :class:`LocalNet`: systems, trackers, portal."""

    def __init__(self, net: LocalNet, company: Company, say: Callable[[str], None]) -> None:
        self.net, self.company, self.say = net, company, say
        self.urls: dict[str, str] = {}
        self.portal_url = ""
        self._servers: list[Any] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self._engines: list[Any] = []
        self._traffic: asyncio.Task[None] | None = None

    async def _serve(self, app: Any, port: int = 0) -> str:
        port = port or free_port()
        server, task = await start_embedded(app, "127.0.0.1", port)
        self._servers.append(server)
        self._tasks.append(task)
        return f"http://127.0.0.1:{port}"

    def is_url(self, sub: str) -> str:
        return self.net.is_url_of(gateway_of(subsystem(sub)).server)

    async def start_systems(self) -> None:
        """The four in-house systems and a findUsage tracker per company gateway."""
        for s in SERVICES:
            self.urls[s.system] = await self._serve(create_system_app(s.system, self.company))
        for spec in GATEWAYS[:2]:
            store = UsageStore(make_engine(self.net.gateway_settings[spec.server].database_url))
            self._engines.append(store.engine)
            self.urls["tracker-" + spec.server_code] = await self._serve(
                create_tracker_app(store, retention_days=365))

    def add_services(self) -> None:
        """(2) What ``sild gateway service add|personal|grant`` do, per service."""
        for s in SERVICES:
            sc = self.net.stores[gateway_of(subsystem(s.system)).server].serverconf
            doc = openapi_document(s.system)
            sc.add_service(subsystem(s.system), s.code, f"{self.urls[s.system]}/{s.code}",
                           timeout=10, openapi=json.dumps(doc).encode())
            if s.category:
                sc.declare_personal_data(s.id, PersonalData(categories=(s.category,),
                                                            legal_basis=s.legal_basis))
            for client in s.clients:
                sc.grant(s.id, parse_access_subject(str(subsystem(client))))

    def add_find_usage(self) -> None:
        for system in HOLDERS:
            spec = gateway_of(subsystem(system))
            sc = self.net.stores[spec.server].serverconf
            sc.add_service(subsystem(system), "findUsage",
                           self.urls["tracker-" + spec.server_code], timeout=10,
                           openapi=openapi_text().encode())
            sc.grant(subsystem(system).service("findUsage"),
                     parse_access_subject(str(subsystem("portal"))))

    async def read(self, session: aiohttp.ClientSession, flow: Flow, path: str,
                   subject: str | None) -> tuple[int, bytes]:
        headers = {"X-Road-Client": str(subsystem(flow.client)), "Sild-Purpose": flow.purpose}
        if subject is not None:
            headers["Sild-Data-Subject"] = subject
        url = f"{self.is_url(flow.client)}/r1/{service(flow.service).id.path()}{path}"
        async with session.get(url, headers=headers,
                               timeout=aiohttp.ClientTimeout(total=10)) as resp:
            return resp.status, await resp.read()

    async def first_exchanges(self, featured: Employee) -> None:
        """(3) One read along every flow, about ``featured``: each must answer 200."""
        invoice = next(i for i in self.company.invoices if i.contact == featured.code)
        async with aiohttp.ClientSession() as session:
            for flow in FLOWS:
                path, subject = ((f"/{invoice.number}", None) if flow.service == "invoices"
                                 else (f"/{featured.code}", featured.code))
                status, body = await self.read(session, flow, path, subject)
                if status != 200:
                    raise ConfigurationError(
                        f"the first exchange {flow.client} → {flow.service} failed: "
                        f"{status} {body[:200]!r}")
                self.say(f"      {subsystem(flow.client)} read {flow.service}{path}: "
                         f"{flow.purpose}")

    async def start_portal(self, fixed_ports: bool) -> None:
        config = PortalConfig(
            gateway_url=self.is_url("portal"), client=subsystem("portal"),
            holders={s: subsystem(s) for s in HOLDERS}, labels=dict(HOLDERS),
            company=self.company)
        self.portal_url = await self._serve(create_portal_app(config),
                                            PORTAL_PORT if fixed_ports else 0)

    def start_traffic(self) -> None:
        self._traffic = asyncio.create_task(self._background())

    async def _background(self) -> None:
        """(3) Background traffic: a read every ~400 ms along a weighted random flow."""
        rng = random.Random(1918)  # noqa: S311  (demo traffic, not secrets)
        async with aiohttp.ClientSession() as session:
            while True:
                await asyncio.sleep(rng.uniform(0.2, 0.6))
                flow = rng.choices(FLOWS, weights=[f.weight for f in FLOWS])[0]
                path, subject = _url(flow, self.company, rng)
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    await self.read(session, flow, path, subject)

    async def stop(self) -> None:
        if self._traffic is not None:
            self._traffic.cancel()
            with contextlib.suppress(BaseException):
                await self._traffic
        for server in self._servers:
            server.should_exit = True
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(task, 10)
        for engine in self._engines:
            engine.dispose()


def _prepare_folder(root: Path) -> None:
    if root.exists() and not (root / MARKER).exists():
        raise ConfigurationError(
            f"{root} exists and is not a demo folder; choose another with --dir")


def _print_step(say: Callable[[str], None], n: int, total: int, step: Step, t0: float) -> None:
    say(f"[{n}/{total}] {step.title}   ({time.monotonic() - t0:.1f} s)")
    for line in step.commands:
        say(f"      {line}")


async def _start_and_wait(root: Path, *, port: int, wait: bool, say: Callable[[str], None],
                          fixed_ports: bool, sild: str, signals: StartupSignals,
                          database_url: Callable[[str], str] | None) -> None:
    t0 = time.monotonic()
    _prepare_folder(root)
    say(f"Kask & Partners joins its HR, payroll, CRM and accounting systems and its partner "
        f"Tamm Logistics on a private Sild instance {INSTANCE}, in {root}.")
    say("Each step below is done with the library calls these `sild` commands make "
        "(by hand: docs/guide.md, \"Adopting Sild in a company\"):")
    say("Setting up: instance, CA, ledger, members, gateway keys, certificates and "
        "registrations …")
    # In the loop's thread, like `sild demo`: a Ctrl-C meanwhile cancels at the next await,
    # after the folder is complete (and marked, so the next run may recreate it).
    net = LocalNet.create(root, list(GATEWAYS), instance_id=INSTANCE, registry_port=port,
                          fixed_ports=fixed_ports, ledger=True, database_url=database_url)
    (root / MARKER).write_text("created by `sild demo --scenario enterprise`; safe to delete\n")
    company = make_company()
    featured = company.account_managers[0]
    ent = Enterprise(net, company, say)
    ports = {spec.server_code: (s.is_listen, s.peer_listen, s.admin_listen)
             for spec in GATEWAYS for s in [net.gateway_settings[spec.server]]}
    n_gw = len(GATEWAYS)
    try:
        await ent.start_systems()  # the company's systems run before Sild joins them
        plan = steps(sild, registry=f"http://{net.instance.registry_listen}", ports=ports,
                     systems=ent.urls)
        total = len(plan) + 2
        for n, step in enumerate(plan[:2 + n_gw], 1):  # (1) done by LocalNet.create
            _print_step(say, n, total, step, t0)
        say(f"      … starting the registry, the ledger and the {n_gw} gateways")
        await net.start()
        for n, step in enumerate(plan[2 + n_gw:-1], 3 + n_gw):  # (2)
            _print_step(say, n, total, step, t0)
        ent.add_services()
        _print_step(say, len(plan), total, plan[-1], t0)
        ent.add_find_usage()
        say(f"[{total - 1}/{total}] First exchange along every flow, about "
            f"{featured.name}   ({time.monotonic() - t0:.1f} s)")
        await ent.first_exchanges(featured)
        await ent.start_portal(fixed_ports)
        ent.start_traffic()
        say(f"[{total}/{total}] Company portal and background traffic   "
            f"({time.monotonic() - t0:.1f} s)")
        _summary(net, ent, featured, say)
        _tour(net, ent, featured, say, sild)
        if not wait:
            return
        say("\nPress Ctrl-C to stop.")
        signals.started = True
        await signals.stop.wait()
        say("stopping…")
    finally:
        await ent.stop()
        await net.stop()


def _summary(net: LocalNet, ent: Enterprise, featured: Employee,
             say: Callable[[str], None]) -> None:
    say("")
    say(f"Up: private instance {INSTANCE}, registry {net.registry_url}, ledger {net.ledger_url}")
    for spec in GATEWAYS:
        s = net.gateway_settings[spec.server]
        say(f"  {spec.name:<16} gateway {spec.server}: IS {s.is_listen}, peers "
            f"{s.peer_listen}, admin {s.admin_listen}   ({', '.join(spec.subsystems)})")
    say(f"Company portal: {ent.portal_url}/   (DEMO login: pick an employee, e.g. "
        f"{featured.name}, to see which system read their data and why)")


def _tour(net: LocalNet, ent: Enterprise, featured: Employee, say: Callable[[str], None],
          sild: str) -> None:
    code = featured.code
    invoice = next(i for i in ent.company.invoices if i.contact == code)
    gw = {spec.server_code: _shown(net.gateway_settings[spec.server].root)
          for spec in GATEWAYS}
    vkey = _shown(net.root / "ledger" / "ledger.vkey")

    def curl(client: str, svc: str, path: str, purpose: str | None = None) -> str:
        head = f"curl -s -H 'X-Road-Client: {subsystem(client)}'"
        if purpose is not None:
            head += f" -H 'Sild-Data-Subject: {code}' -H 'Sild-Purpose: {purpose}'"
        return f"{head} {ent.is_url(client)}/r1/{service(svc).id.path()}{path}"

    say("\nTry these in another shell, in this folder:")
    say(f"  {curl('payroll', 'employees', '/' + code, 'Monthly payroll run')}"
        "        # payroll reads HR")
    say(f"  {curl('erp', 'invoices', '/' + invoice.number)}        # the partner reads an invoice")
    say(f"  {curl('erp', 'contacts', '/' + code, 'Delivery contact for an order')}"
        "        # … and its contact")
    say(f"  {curl('erp', 'employees', '/' + code, 'Curiosity')}        # AccessDenied")
    say(f"  {curl('crm', 'employees', '/' + code)}        # MissingHeader: no subject, no purpose")
    say(f"  curl -s -H 'X-Road-Client: {subsystem('erp')}' "
        f"{ent.is_url('erp')}/r1/{subsystem('crm').path()}/listMethods")
    find = f"{ent.is_url('portal')}/r1/{subsystem('hr').path()}/findUsage"
    say(f"  curl -s -H 'X-Road-Client: {subsystem('portal')}' -H 'X-Road-UserId: {code}' "
        f"'{find}/v2/findUsage?userCode={code}'        # findUsage: who read the HR record")
    say(f"  {sild} tracker find --dir {gw['gw1']} {subsystem('hr')} {code}")
    say(f"  {sild} gateway service list --dir {gw['gw1']}")
    say(f"  {sild} gateway log stats --dir {gw['gw2']}")
    say(f"  {sild} registry gateways --dir {_shown(net.instance.root)}")
    for name in gw:
        say(f"  {sild} audit --dir {gw[name]} --ledger-key {vkey}"
            "        # the auditor: every log row checked against the private ledger")
    say(f"  curl -s {ent.portal_url}/healthz")


def run_enterprise(root: Path, *, port: int, wait: bool, say: Callable[[str], None],
                   fixed_ports: bool = True, sild: str = "sild",
                   database_url: Callable[[str], str] | None = None) -> int:
    """Set up, start and (unless ``wait`` is false) run the scenario until Ctrl-C.

    ``database_url`` maps a store's name (``registry``, ``ledger``, ``gateway-gw1``, …)
    to its database URL; default SQLite files in ``root``.
    """

    async def main() -> None:
        signals = StartupSignals()
        try:
            await _start_and_wait(root, port=port, wait=wait, say=say,
                                  fixed_ports=fixed_ports, sild=sild, signals=signals,
                                  database_url=database_url)
        except asyncio.CancelledError:
            if signals.stop.is_set() and not signals.started:
                raise Interrupted from None
            raise

    try:
        asyncio.run(main())
    except Interrupted:
        raise KeyboardInterrupt from None  # `sild: interrupted`, exit 130; all stopped
    except OSError as e:
        raise ConfigurationError(f"cannot start the scenario: {e}") from e
    except ConfigurationError as e:
        if "cannot listen" in e.message:
            raise ConfigurationError(
                f"{e.message} — the scenario uses ports 4000, 8080-8082, 5500-5502, "
                f"5566-5568, 8470 and {PORTAL_PORT}; is another `sild demo` running? "
                "(--free-ports takes free ones)") from e
        raise
    return 0
