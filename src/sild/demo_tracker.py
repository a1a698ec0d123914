"""The demo country's registers behind their gateways, with tracker, consent and traffic.

Part of ``sild demo`` (:mod:`sild.demo`; issues #8 and #10). On top of the network of
:mod:`sild.demo_plan` it adds

* the six **base registries** (:mod:`sild.registers`), each from its own SQLite
  database (:mod:`sild.demo_data`), each a service of its organisation's subsystem with
  its OpenAPI description, declared as personal data with its category;
* access rights for the consumers (doctor, police, bank, tax office, the e-services,
  the portal) as :data:`sild.demo_plan.CONSUMERS` lists them;
* registry groups: the police in the **covert** group (sealed records), the clinic in
  the **emergency** group (break-glass);
* each provider gateway's **findUsage v2** service (docs/spec/tracker.md §5), granted to
  the national tracker subsystem and the portal;
* the **consent service**, which the provider gateways ask through the exchange, with
  one person's health data locked; the **notification service**, which they send every
  usage event to, the locked person's inbox subscribed;
* **background traffic**: doctors, the bank, the police and the tax office look people
  up, each with its purpose, every few hundred milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import aiohttp
from starlette.applications import Starlette
from starlette.routing import Mount

from sild.core.access import parse_subject
from sild.core.identifiers import GlobalGroupId, SubsystemId
from sild.demo_data import DemoData, register_url
from sild.demo_plan import CONSUMERS, HEALTH, HOSTS, INSTANCE, RIA
from sild.embedded import free_port, start_embedded
from sild.gateway.config import TrackerSettings
from sild.gateway.serverconf.store import PersonalData
from sild.localnet import LocalNet
from sild.registry.service import Registry
from sild.store import make_engine
from sild.tracker.app import create_tracker_app
from sild.tracker.store import UsageStore

__all__ = ["TrackerDemo"]

# (consumer role, weight, registers it asks, purpose)
_TRAFFIC = (("doctor", 6, ("health", "population"), "Treatment of the patient"),
            ("bank", 3, ("population", "business"), "Customer due diligence (AML)"),
            ("tax", 2, ("tax", "population"), "Tax audit (Taxation Act §59)"),
            ("police", 1, ("population", "health", "vehicles"), "Pre-trial investigation"))


def _provider_gateways() -> dict[Any, list[str]]:
    """provider gateway spec → its register subsystems (first one asks consent)."""
    out: dict[Any, list[str]] = {}
    for host in HOSTS.values():
        subs = out.setdefault(host.spec, [])
        if host.subsystem not in subs:
            subs.append(host.subsystem)
    return out


def _as_json(yaml_text: str) -> bytes:
    """An OpenAPI description in YAML as JSON: the gateway reads JSON without a YAML
    parse (seconds at start-up for six findUsage services on a loaded machine)."""
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - PyYAML is optional
        return yaml_text.encode()
    return json.dumps(yaml.safe_load(yaml_text)).encode()


@dataclass
class TrackerDemo:
    """Set up with :meth:`prepare` (before the network starts) and :meth:`start`."""

    data: DemoData | None = None
    registers_url: str = ""
    consent_url: str = ""
    notify_url: str = ""
    tracker_urls: dict[str, str] = field(default_factory=dict)  # register → findUsage app
    _servers: list[Any] = field(default_factory=list)
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _engines: list[Any] = field(default_factory=list)
    _traffic_task: asyncio.Task[None] | None = None

    consent_service = SubsystemId(RIA.member, "consent").service("decisions")
    notify_service = SubsystemId(RIA.member, "notify").service("events")

    # -- before the network starts ----------------------------------------------------

    def prepare(self, net: LocalNet) -> None:
        """Registry groups and the providers' tracker settings (read at gateway start)."""
        engine = make_engine(net.instance.database_url)
        try:
            registry = Registry(engine, INSTANCE)
            for code, role in (("covert", "police"), ("emergency", "doctor")):
                registry.add_group(GlobalGroupId(INSTANCE, code))
                registry.group_add(GlobalGroupId(INSTANCE, code), CONSUMERS[role][0])
        finally:
            engine.dispose()
        for spec, subs in _provider_gateways().items():
            s = net.gateway_settings[spec.server]
            # The registers ask the consent service through the exchange, as themselves.
            me = str(SubsystemId(spec.member, subs[0]))
            net.gateway_settings[spec.server] = replace(s, tracker=TrackerSettings(
                consent_url=f"http://{s.is_listen}/r1/{self.consent_service.path()}",
                consent_client=me, consent_cache=2.0,
                notify=str(self.notify_service), notify_client=me))

    # -- after the network started ----------------------------------------------------

    async def start(self, net: LocalNet, data: DemoData) -> None:
        from sild.consent.app import create_consent_app
        from sild.consent.home import ConsentHome
        from sild.registers.app import create_register_app
        from sild.registers.openapi import openapi_json
        from sild.tracker.app import openapi_text

        self.data = data
        mounts = []
        for register in HOSTS:
            engine = make_engine(register_url(net.root, register))
            self._engines.append(engine)
            mounts.append(Mount(f"/{register}", app=create_register_app(register, engine)))
        self.registers_url = await self._serve(Starlette(routes=mounts))
        home = ConsentHome.create(net.instance)
        consent_engine = home.engine()
        self._engines.append(consent_engine)
        consent = home.service(consent_engine)
        locked = data.person("locked").code
        consent.lock(locked, "health", actor=locked)
        self.consent_url = await self._serve(
            create_consent_app(consent, admin_token=home.admin_token()))
        ria = net.stores[RIA.server].serverconf
        ria.add_service(self.consent_service.subsystem, "decisions", self.consent_url,
                        timeout=5)
        self.notify_url = await self._start_notify(net, locked)
        ria.add_service(self.notify_service.subsystem, "events", self.notify_url, timeout=10)
        finders = (CONSUMERS["tracker"][0], CONSUMERS["portal"][0])
        find_openapi = _as_json(openapi_text())  # parsed once, not once per service
        for spec, subs in _provider_gateways().items():
            store = UsageStore(make_engine(net.gateway_settings[spec.server].database_url))
            self._engines.append(store.engine)
            tracker_url = await self._serve(create_tracker_app(store, retention_days=365))
            sc = net.stores[spec.server].serverconf
            for sub in subs:
                find = SubsystemId(spec.member, sub).service("findUsage")
                sc.add_service(find.subsystem, "findUsage", tracker_url, timeout=10,
                               openapi=find_openapi)
                for client in finders:
                    sc.grant(find, parse_subject(str(client)))
            ria.grant(self.consent_service, parse_subject(str(SubsystemId(spec.member,
                                                                          subs[0]))))
            ria.grant(self.notify_service, parse_subject(str(SubsystemId(spec.member,
                                                                         subs[0]))))
            for register, host in HOSTS.items():
                if host.spec == spec:
                    self.tracker_urls[register] = tracker_url
        for register, host in HOSTS.items():
            sc = net.stores[host.spec.server].serverconf
            service = host.service(register)
            sc.add_service(host.client, register, f"{self.registers_url}/{register}",
                           timeout=10, openapi=openapi_json(register))
            sc.declare_personal_data(service, PersonalData(categories=(host.category,),
                                                           legal_basis=host.basis))
            for client, _gw, registers in CONSUMERS.values():
                if register in registers:
                    sc.grant(service, parse_subject(str(client)))
        self._traffic_task = asyncio.create_task(self._traffic(net, data))

    async def _start_notify(self, net: LocalNet, locked: str) -> str:
        """The notification service, with the locked person's inbox subscribed."""
        from sild.notify.app import create_notify_app
        from sild.notify.delivery import DeliveryWorker
        from sild.notify.home import NotifyHome

        home = NotifyHome.create(net.instance)
        engine = home.engine()
        self._engines.append(engine)
        store = home.store(engine)
        store.subscribe(locked, inbox=True)
        return await self._serve(create_notify_app(
            store, admin_token=home.admin_token(), worker=DeliveryWorker(store)),
            lifespan="on")

    async def _serve(self, app: Any, lifespan: Literal["on", "off"] = "off",
                     port: int = 0) -> str:
        port = port or free_port()
        server, task = await start_embedded(app, "127.0.0.1", port, lifespan=lifespan)
        self._servers.append(server)
        self._tasks.append(task)
        return f"http://127.0.0.1:{port}"

    async def _traffic(self, net: LocalNet, data: DemoData) -> None:
        """Background traffic: a lookup every ~300 ms, never one of the named persons."""
        rng = random.Random(8)  # noqa: S311  (demo traffic, not secrets)
        users = {"doctor": data.person("doctor").code, "police": data.person("officer").code}
        async with aiohttp.ClientSession() as session:
            while True:
                await asyncio.sleep(rng.uniform(0.1, 0.5))
                role, _w, registers, purpose = rng.choices(
                    _TRAFFIC, weights=[t[1] for t in _TRAFFIC])[0]
                client, _gw, _ = CONSUMERS[role]
                register = rng.choice(registers)
                host = HOSTS[register]
                person = rng.choice(data.pool)
                spec = next(s for s in net.specs if s.member == client.member)
                url = (f"http://{net.gateway_settings[spec.server].is_listen}/r1/"
                       f"{host.service(register).path()}/{host.probe.format(code=person)}")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(url, headers={
                            "X-Road-Client": str(client), "Sild-Data-Subject": person,
                            "Sild-Purpose": purpose,
                            "X-Road-UserId": users.get(role, "EE38001085718")},
                            timeout=aiohttp.ClientTimeout(total=10)) as resp:
                        await resp.read()

    async def stop(self) -> None:
        if self._traffic_task is not None:
            self._traffic_task.cancel()
            with contextlib.suppress(BaseException):
                await self._traffic_task
        for server in self._servers:  # uvicorn closes its socket when it exits
            server.should_exit = True
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(task, 10)
        for engine in self._engines:
            engine.dispose()

    # -- the tour ---------------------------------------------------------------------

    def tour(self, net: LocalNet, say: Callable[[str], None], shown: Callable[[Any], str],
             sild: str) -> None:
        assert self.data is not None
        doctor, _gw, _ = CONSUMERS["doctor"]
        tracker, _gw, _ = CONSUMERS["tracker"]
        clinic = next(s for s in net.specs if s.member == doctor.member)
        doctor_is = f"http://{net.gateway_settings[clinic.server].is_listen}"
        ria_is = f"http://{net.gateway_settings[RIA.server].is_listen}"
        health_dir = shown(net.gateway_settings[HEALTH.server].root)
        p, locked = self.data.person("citizen"), self.data.person("locked")
        who = f"-H 'X-Road-UserId: {self.data.person('doctor').code}'"
        ask = (f"curl -s -H 'X-Road-Client: {doctor}' {who} "
               f"-H 'Sild-Purpose: Treatment of the patient'")
        visits = f"{doctor_is}/r1/{HOSTS['health'].service('health').path()}/visits"
        find = f"{ria_is}/r1/{HOSTS['health'].client.service('findUsage').path()}"
        proof = shown(net.root / "usage-proof.json")
        say(f"  {ask} -H 'Sild-Data-Subject: {p.code}' {visits}/{p.code}"
            f"        # the doctor reads {p.given_name} {p.surname}'s health records")
        say(f"  {ask} -H 'Sild-Data-Subject: {locked.code}' {visits}/{locked.code}"
            f"        # AccessDenied")
        say(f"  {ask} -H 'Sild-Data-Subject: {locked.code}' -H 'Sild-Emergency: unconscious "
            f"in the ER' {visits}/{locked.code}        # break-glass")
        say(f"  curl -s -H 'X-Road-Client: {tracker}' -H 'X-Road-UserId: {p.code}' "
            f"'{find}/v2/findUsage?userCode={p.code}'        # findUsage v2: who used it")
        say(f"  curl -s -H 'X-Road-Client: {tracker}' -H 'X-Road-UserId: {p.code}' "
            f"'{find}/sild/v1/usageProof?userCode={p.code}' -o {proof} && "
            f"{sild} tracker verify {proof}        # completeness")
        say(f"  {sild} tracker find --dir {health_dir} {HOSTS['health'].client} {locked.code}"
            f"        # the break-glass record, flagged")
        say(f"  {sild} notify inbox --dir {shown(net.instance.root)} {locked.code}"
            f"        # the person was notified at once")
        say(f"  {sild} tracker sealed --dir {health_dir}        # the police's covert lookups")
        say(f"  {sild} consent locks --dir {shown(net.instance.root)} {locked.code}")
