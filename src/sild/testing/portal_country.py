"""A small demo country for the portal's tests: real gateways on loopback
(:class:`~sild.localnet.LocalNet`), the six base registries behind the registers'
gateway as personal-data services, the consent service (locks enforced by the
provider gateway), the notification service (break-glass delivered to the inbox), a
clinic's doctor in the emergency group, and the portal's member subsystem ``portal``
granted every register. Satisfies :class:`sild.portal.demo.PortalCountry`.

``with portal_country(root, database_url) as country: …`` (synchronous; the network
runs in a background loop).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sild.core.access import parse_subject
from sild.core.identifiers import GlobalGroupId, MemberId, ServiceId, SubsystemId
from sild.gateway.config import TrackerSettings
from sild.gateway.serverconf.store import PersonalData
from sild.localnet import GatewaySpec, LocalNet
from sild.registers.app import create_registers_app
from sild.registers.generate import Dataset, generate, write
from sild.registers.openapi import REGISTERS, openapi_json
from sild.registry.service import Registry
from sild.store import make_engine, migrate
from sild.testing.netthread import NetThread
from sild.testing.servers import serve_asgi

__all__ = ["DOCTOR", "PORTAL", "Country", "oidc_provider", "portal_country", "serve_on_port"]

INSTANCE = "EE"
STATE = GatewaySpec(MemberId(INSTANCE, "GOV", "70000001"), "State registers", "gw1", ("rr",))
RIA = GatewaySpec(MemberId(INSTANCE, "GOV", "70006317"), "Information System Authority",
                  "gw2", ("portal", "consent", "notify"))
CLINIC = GatewaySpec(MemberId(INSTANCE, "COM", "10000001"), "Clinic Ltd", "gw3", ("his",))
PORTAL = RIA.member.subsystem("portal")
DOCTOR = CLINIC.member.subsystem("his")
CONSENT = RIA.member.subsystem("consent").service("decisions")
NOTIFY = RIA.member.subsystem("notify").service("events")
REGISTER = STATE.member.subsystem("rr")


@dataclass
class Country:
    net: LocalNet
    data: Dataset
    portal_gateway_url: str = ""
    portal_client: SubsystemId = PORTAL
    register_services: Mapping[str, ServiceId] = field(default_factory=dict)
    tracker_services: Mapping[str, ServiceId] = field(default_factory=dict)
    consent_api: tuple[str, str] = ("", "")
    notify_api: tuple[str, str] = ("", "")
    demo_persons: Sequence[tuple[str, str]] = ()
    doctors: Sequence[tuple[str, SubsystemId]] = (("Clinic Ltd — family doctor", DOCTOR),)
    eservices: Sequence[tuple[str, str]] = ()

    def doctor_url(self, register: str, path: str) -> str:
        """A URL the doctor's information system calls (through the clinic's gateway)."""
        return (f"{self.net.is_url_of(CLINIC.server)}/r1/"
                f"{self.register_services[register].path()}{path}")

    def person(self, code: str) -> dict[str, Any]:
        return next(p for p in self.data["pop_persons"] if p["code"] == code)

    def parent_with_child(self) -> tuple[str, str]:
        rel = self.data["pop_relations"][0]
        return str(rel["parent"]), str(rel["child"])

    def patient(self) -> str:
        """A person with health visits who is not the first parent's family."""
        return self.demo_persons[1][0]


def _name(p: dict[str, Any]) -> str:
    return f"{p['given_name']} {p['surname']}"


@contextlib.contextmanager
def portal_country(root: Path, database_url: Callable[[str], str]) -> Iterator[Country]:
    from sild.consent.app import create_consent_app
    from sild.consent.home import ConsentHome
    from sild.notify.app import create_notify_app
    from sild.notify.delivery import DeliveryWorker
    from sild.notify.home import NotifyHome

    data = generate(seed=3, size="small")
    registers = make_engine(database_url("registers"))
    migrate(registers, "registers")
    write(registers, data)
    net = LocalNet.create(root / "net", [STATE, RIA, CLINIC], instance_id=INSTANCE,
                          database_url=database_url)
    engine = make_engine(net.instance.database_url)
    try:
        registry = Registry(engine, INSTANCE)
        registry.add_group(GlobalGroupId(INSTANCE, "emergency"))
        registry.group_add(GlobalGroupId(INSTANCE, "emergency"), DOCTOR)
    finally:
        engine.dispose()
    s = net.gateway_settings[STATE.server]
    net.gateway_settings[STATE.server] = replace(s, tracker=TrackerSettings(
        consent_url=f"http://{s.is_listen}/r1/{CONSENT.path()}", consent_client=str(REGISTER),
        consent_cache=0.0, notify=str(NOTIFY), notify_client=str(REGISTER),
        notify_interval=0.1))
    consent_home = ConsentHome.create(net.instance, database_url=database_url("consent"))
    notify_home = NotifyHome.create(net.instance, database_url=database_url("notify"))
    consent_engine, notify_engine = consent_home.engine(), notify_home.engine()
    notify_store = notify_home.store(notify_engine)
    with contextlib.ExitStack() as stack:
        stack.callback(registers.dispose)
        stack.callback(consent_engine.dispose)
        stack.callback(notify_engine.dispose)
        stack.enter_context(NetThread(net))
        reg_url = stack.enter_context(serve_asgi(create_registers_app(registers)))
        consent_url = stack.enter_context(serve_asgi(create_consent_app(
            consent_home.service(consent_engine), admin_token=consent_home.admin_token())))
        notify_url = stack.enter_context(serve_asgi(create_notify_app(
            notify_store, admin_token=notify_home.admin_token(),
            worker=DeliveryWorker(notify_store)), lifespan="on"))
        ria = net.stores[RIA.server].serverconf
        ria.add_service(CONSENT.subsystem, CONSENT.service_code, consent_url, timeout=5)
        ria.add_service(NOTIFY.subsystem, NOTIFY.service_code, notify_url, timeout=5)
        ria.grant(CONSENT, parse_subject(str(REGISTER)))
        ria.grant(NOTIFY, parse_subject(str(REGISTER)))
        sc = net.stores[STATE.server].serverconf
        services: dict[str, ServiceId] = {}
        for register in REGISTERS:
            service = REGISTER.service(register)
            sc.add_service(REGISTER, register, f"{reg_url}/{register}", timeout=5,
                           openapi=openapi_json(register))
            sc.declare_personal_data(service, PersonalData(categories=(register,)))
            sc.grant(service, parse_subject(str(PORTAL)))
            sc.grant(service, parse_subject(str(DOCTOR)))
            services[register] = service
        persons = data["pop_persons"]
        parent, child = str(data["pop_relations"][0]["parent"]), \
            str(data["pop_relations"][0]["child"])
        family = {str(r["child"]) for r in data["pop_relations"] if r["parent"] == parent}
        patient = next(str(v["person"]) for v in data["health_visits"]
                       if v["person"] != parent and v["person"] not in family)
        demo = dict.fromkeys((parent, patient, child))
        yield Country(
            net, data, portal_gateway_url=net.is_url_of(RIA.server),
            register_services=services,
            consent_api=(consent_url, consent_home.admin_token()),
            notify_api=(notify_url, notify_home.admin_token()),
            demo_persons=[(c, _name(next(p for p in persons if p["code"] == c)))
                          for c in demo])


@contextlib.contextmanager
def serve_on_port(app: Any, port: int) -> Iterator[str]:
    """Serve ``app`` (lifespan on) on a port chosen beforehand — an OIDC redirect URI
    names the portal's port before the portal runs."""
    import threading
    import time

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextlib.contextmanager
def oidc_provider(folder: Path, redirect_uri: str) -> Iterator[tuple[str, str]]:
    """Sild's OpenID Connect provider in demo mode (its demo login stands in for passkey
    and certificate login) with the portal registered; yields (issuer, client secret)."""
    from joserfc.jwk import ECKey

    from sild.ca import CertificateAuthority
    from sild.clock import utc_now
    from sild.crypto.keys import load_private_key
    from sild.identity.oidc.app import create_oidc_app
    from sild.identity.oidc.provider import Provider, ProviderConfig
    from sild.identity.oidc.store import OidcStore
    from sild.identity.person_ca import PersonCA

    class NoCertificates:
        def status(self, serial: int) -> Any:
            raise AssertionError("no certificate login here")

    root = CertificateAuthority.create(folder / "root", name="EE Root", at=utc_now())
    person_ca = PersonCA.create(folder / "pca", root_certificate=root.certificate,
                                root_key=load_private_key(folder / "root" / "ca.key"),
                                name="EE Person CA", at=utc_now())
    engine = make_engine(f"sqlite:///{folder.resolve()}/identity.db")
    migrate(engine, "identity")
    key = ECKey.generate_key("P-256", private=True,
                             parameters={"kid": "k1", "use": "sig", "alg": "ES256"})
    store = OidcStore(engine, utc_now)
    provider = Provider(ProviderConfig(issuer="http://placeholder", demo=True), key=key,
                        store=store, person_ca=person_ca.certificate,
                        status=NoCertificates(), clock=utc_now)
    try:
        with serve_asgi(create_oidc_app(provider)) as issuer:
            provider.config = replace(provider.config, issuer=issuer)
            _, secret = store.add_client("portal", name="Citizen portal",
                                         redirect_uris=[redirect_uri])
            yield issuer, secret
    finally:
        engine.dispose()
