"""The demo's data tracker: two registers, four consumers, a lock, background traffic.

Part of ``sild demo`` (:mod:`sild.demo`; issue #8 "sild demo"). On top of the demo
network it adds

* the **population register** (``rr``: service ``person``) and the **health
  register** (Health Board ``tis``: service ``records``), both declared as carrying
  personal data, over a few thousand generated persons (:mod:`sild.demo_registers`);
* as consumers a **doctor** (the clinic's ``his``, in the registry's emergency group),
  a **police officer** (``polis``, in the covert group: sealed records) and a **bank**;
* each register's **findUsage v2** service (docs/spec/tracker.md §5), granted to the
  national tracker subsystem ``datatracker`` of the State Information System Authority;
* the **consent service** (the same authority's ``consent`` subsystem), which both
  registers ask through the exchange, with one person's health data locked;
* the **notification service** (its ``notify`` subsystem): both registers' gateways
  send it every usage event through the exchange; the locked person's inbox is
  subscribed, so break-glass shows there at once;
* background traffic: every few hundred milliseconds a consumer looks someone up.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import aiohttp
from aiohttp import web

from sild.core.access import parse_subject
from sild.core.identifiers import GlobalGroupId, MemberId, ServiceId, SubsystemId
from sild.demo_registers import Person, create_registers_app, make_people
from sild.embedded import free_port, start_embedded
from sild.gateway.config import TrackerSettings
from sild.gateway.serverconf.store import PersonalData
from sild.localnet import GatewaySpec, LocalNet
from sild.registry.service import Registry
from sild.store import make_engine
from sild.tracker.app import create_tracker_app
from sild.tracker.store import UsageStore

__all__ = ["SPECS", "TrackerDemo"]

INSTANCE = "DEMO"
HEALTH = GatewaySpec(MemberId(INSTANCE, "GOV", "70009770"), "Health Board", "gw3", ("tis",))
POLICE = GatewaySpec(MemberId(INSTANCE, "GOV", "70008747"), "Police and Border Guard", "gw4",
                     ("polis",))
BANK = GatewaySpec(MemberId(INSTANCE, "COM", "10137319"), "Bank", "gw5", ("bank",))
RIA = GatewaySpec(MemberId(INSTANCE, "GOV", "70006317"), "Information System Authority",
                  "gw6", ("datatracker", "consent", "notify"))
SPECS = (HEALTH, POLICE, BANK, RIA)
PEOPLE = 3000


def _svc(member: MemberId, sub: str, code: str) -> ServiceId:
    return SubsystemId(member, sub).service(code)


@dataclass
class TrackerDemo:
    """Set up with :meth:`prepare` (before the network starts) and :meth:`start`."""

    register: GatewaySpec  # the population register's spec (the demo's first gateway)
    clinic: GatewaySpec
    people: list[Person] = field(default_factory=list)
    _servers: list[Any] = field(default_factory=list)
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _engines: list[Any] = field(default_factory=list)
    _traffic_task: asyncio.Task[None] | None = None

    # -- identifiers ------------------------------------------------------------------

    @property
    def person_service(self) -> ServiceId:
        return _svc(self.register.member, "rr", "person")

    @property
    def records_service(self) -> ServiceId:
        return _svc(HEALTH.member, "tis", "records")

    @property
    def doctor(self) -> SubsystemId:
        return SubsystemId(self.clinic.member, "his")

    police = SubsystemId(POLICE.member, "polis")
    bank = SubsystemId(BANK.member, "bank")
    tracker = SubsystemId(RIA.member, "datatracker")
    consent_service = _svc(RIA.member, "consent", "decisions")
    notify_service = _svc(RIA.member, "notify", "events")

    @property
    def patient(self) -> Person:
        return self.people[0]

    @property
    def locked(self) -> Person:
        """The person who locked their health data."""
        return self.people[1]

    # -- before the network starts ----------------------------------------------------

    def prepare(self, net: LocalNet) -> None:
        """Registry groups and the registers' tracker settings (read at gateway start)."""
        self.people = make_people(PEOPLE)
        engine = make_engine(net.instance.database_url)
        try:
            registry = Registry(engine, INSTANCE)
            for code, client in (("covert", self.police), ("emergency", self.doctor)):
                registry.add_group(GlobalGroupId(INSTANCE, code))
                registry.group_add(GlobalGroupId(INSTANCE, code), client)
        finally:
            engine.dispose()
        for spec, sub in ((self.register, "rr"), (HEALTH, "tis")):
            s = net.gateway_settings[spec.server]
            # The registers ask the consent service through the exchange, as themselves.
            me = str(SubsystemId(spec.member, sub))
            net.gateway_settings[spec.server] = replace(s, tracker=TrackerSettings(
                consent_url=f"http://{s.is_listen}/r1/{self.consent_service.path()}",
                consent_client=me, consent_cache=2.0,
                notify=str(self.notify_service), notify_client=me))

    # -- after the network started ----------------------------------------------------

    async def start(self, net: LocalNet) -> None:
        from sild.consent.app import create_consent_app
        from sild.consent.home import ConsentHome

        registers = web.AppRunner(create_registers_app(self.people), access_log=None,
                                  handle_signals=False)
        await registers.setup()
        port = free_port()
        await web.TCPSite(registers, "127.0.0.1", port).start()
        self._servers.append(registers)
        registers_url = f"http://127.0.0.1:{port}"
        home = ConsentHome.create(net.instance)
        consent_engine = home.engine()
        self._engines.append(consent_engine)
        consent = home.service(consent_engine)
        consent.lock(self.locked.code, "health", actor=self.locked.code)
        consent_url = await self._serve(create_consent_app(consent,
                                                           admin_token=home.admin_token()))
        ria = net.stores[RIA.server].serverconf
        ria.add_service(self.consent_service.subsystem, "decisions", consent_url, timeout=5)
        ria.add_service(self.notify_service.subsystem, "events",
                        await self._start_notify(net), timeout=10)
        for spec, sub, code, category, basis in (
                (self.register, "rr", "person", "population", "Population Register Act §27"),
                (HEALTH, "tis", "records", "health", "Health Services Organisation Act §59²")):
            sc = net.stores[spec.server].serverconf
            service = _svc(spec.member, sub, code)
            sc.add_service(service.subsystem, code, f"{registers_url}/{code}", timeout=10)
            sc.declare_personal_data(service, PersonalData(categories=(category,),
                                                           legal_basis=basis))
            for client in (self.doctor, self.police, self.bank):
                if code == "records" and client == self.bank:
                    continue  # a bank has no business with health records
                sc.grant(service, parse_subject(str(client)))
            store = UsageStore(make_engine(net.gateway_settings[spec.server].database_url))
            self._engines.append(store.engine)
            tracker_url = await self._serve(create_tracker_app(store, retention_days=365))
            from sild.tracker.app import openapi_text
            find = _svc(spec.member, sub, "findUsage")
            sc.add_service(find.subsystem, "findUsage", tracker_url, timeout=10,
                           openapi=openapi_text().encode())
            sc.grant(find, parse_subject(str(self.tracker)))
            ria.grant(self.consent_service, parse_subject(str(service.subsystem)))
            ria.grant(self.notify_service, parse_subject(str(service.subsystem)))
        self._traffic_task = asyncio.create_task(self._traffic(net))

    async def _start_notify(self, net: LocalNet) -> str:
        """The notification service, with the locked person's inbox subscribed."""
        from sild.notify.app import create_notify_app
        from sild.notify.delivery import DeliveryWorker
        from sild.notify.home import NotifyHome

        home = NotifyHome.create(net.instance)
        engine = home.engine()
        self._engines.append(engine)
        store = home.store(engine)
        store.subscribe(self.locked.code, inbox=True)
        return await self._serve(create_notify_app(
            store, admin_token=home.admin_token(), worker=DeliveryWorker(store)),
            lifespan="on")

    async def _serve(self, app: Any, lifespan: Literal["on", "off"] = "off") -> str:
        port = free_port()
        server, task = await start_embedded(app, "127.0.0.1", port, lifespan=lifespan)
        self._servers.append(server)
        self._tasks.append(task)
        return f"http://127.0.0.1:{port}"

    async def _traffic(self, net: LocalNet) -> None:
        """Background traffic: a lookup every ~300 ms, never the demo's two named persons."""
        rng = random.Random(8)  # noqa: S311  (demo traffic, not secrets)
        consumers = [(self.doctor, self.clinic, "Treatment of the patient"),
                     (self.bank, BANK, "Customer due diligence (AML)"),
                     (self.police, POLICE, "Pre-trial investigation")]
        async with aiohttp.ClientSession() as session:
            while True:
                await asyncio.sleep(rng.uniform(0.1, 0.5))
                client, spec, purpose = rng.choices(consumers, weights=(6, 3, 1))[0]
                service = self.person_service if client == self.bank or rng.random() < 0.5 \
                    else self.records_service
                person = rng.choice(self.people[2:])
                url = (f"http://{net.gateway_settings[spec.server].is_listen}/r1/"
                       f"{service.path()}/{person.code}")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(url, headers={
                            "X-Road-Client": str(client), "Sild-Data-Subject": person.code,
                            "Sild-Purpose": purpose, "X-Road-UserId": "EE38001085718"},
                            timeout=aiohttp.ClientTimeout(total=10)) as resp:
                        await resp.read()

    async def stop(self) -> None:
        if self._traffic_task is not None:
            self._traffic_task.cancel()
            with contextlib.suppress(BaseException):
                await self._traffic_task
        for server in self._servers:
            if isinstance(server, web.AppRunner):
                await server.cleanup()
            else:  # uvicorn closes its socket when it exits; never cancel it mid-way
                server.should_exit = True
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(task, 10)
        for engine in self._engines:
            engine.dispose()

    # -- the tour ---------------------------------------------------------------------

    def tour(self, net: LocalNet, say: Callable[[str], None], shown: Callable[[Any], str],
             sild: str) -> None:
        doctor_is = f"http://{net.gateway_settings[self.clinic.server].is_listen}"
        ria_is = f"http://{net.gateway_settings[RIA.server].is_listen}"
        health_dir = shown(net.gateway_settings[HEALTH.server].root)
        p, locked = self.patient, self.locked
        who = "-H 'X-Road-UserId: EE38001085718'"
        ask = (f"curl -s -H 'X-Road-Client: {self.doctor}' {who} "
               f"-H 'Sild-Purpose: Treatment of the patient'")
        records = f"{doctor_is}/r1/{self.records_service.path()}"
        find = f"{ria_is}/r1/{_svc(HEALTH.member, 'tis', 'findUsage').path()}"
        proof = shown(net.root / "usage-proof.json")
        say(f"  {ask} -H 'Sild-Data-Subject: {p.code}' {records}/{p.code}"
            f"        # the doctor reads {p.given_name} {p.surname}'s health records")
        say(f"  {ask} -H 'Sild-Data-Subject: {locked.code}' {records}/{locked.code}"
            f"        # AccessDenied")
        say(f"  {ask} -H 'Sild-Data-Subject: {locked.code}' -H 'Sild-Emergency: unconscious "
            f"in the ER' {records}/{locked.code}        # break-glass")
        say(f"  curl -s -H 'X-Road-Client: {self.tracker}' -H 'X-Road-UserId: {p.code}' "
            f"'{find}/v2/findUsage?userCode={p.code}'        # findUsage v2: who used it")
        say(f"  curl -s -H 'X-Road-Client: {self.tracker}' -H 'X-Road-UserId: {p.code}' "
            f"'{find}/sild/v1/usageProof?userCode={p.code}' -o {proof} && "
            f"{sild} tracker verify {proof}        # completeness")
        say(f"  {sild} tracker find --dir {health_dir} {HEALTH.member}/tis {locked.code}"
            f"        # the break-glass record, flagged")
        say(f"  {sild} notify inbox --dir {shown(net.instance.root)} {locked.code}"
            f"        # the person was notified at once")
        say(f"  {sild} tracker sealed --dir {health_dir}        # the police's covert lookups")
        say(f"  {sild} consent locks --dir {shown(net.instance.root)} {locked.code}")
