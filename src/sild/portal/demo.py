"""The portal in ``sild demo`` (docs/spec/portal.md §7): :func:`start` serves the portal
in the demo's event loop, configured from the demo country, in demo mode (the marked
demo login offered for the country's demo persons).

The country is anything with the attributes of :class:`PortalCountry` (the demo's
``DemoCountry`` has them); the portal's member subsystem must already be registered on
its gateway and granted the registers' services — the portal copies nothing and gets
no special path: it is one more X-Road client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sild.core.identifiers import ServiceId, SubsystemId
from sild.embedded import EmbeddedServer, free_port, start_embedded
from sild.errors import ConfigurationError
from sild.portal.app import create_portal_app
from sild.portal.config import (
    ESERVICE_LABELS,
    DemoPerson,
    Link,
    OidcSettings,
    PortalConfig,
    ServiceApi,
)
from sild.portal.signing import PersonSigner

__all__ = ["PortalCountry", "RunningPortal", "config_of", "demo_oidc", "from_demo_country",
           "start"]


class PortalCountry(Protocol):
    """What the portal needs to know of the demo country."""

    @property
    def portal_gateway_url(self) -> str: ...  # the IS side of the portal's own gateway
    @property
    def portal_client(self) -> SubsystemId: ...
    @property
    def register_services(self) -> Mapping[str, ServiceId]: ...  # label → service
    @property
    def tracker_services(self) -> Mapping[str, ServiceId]: ...  # label → findUsage
    @property
    def consent_api(self) -> tuple[str, str]: ...  # (url, admin token)
    @property
    def notify_api(self) -> tuple[str, str]: ...  # (url, admin token)
    @property
    def demo_persons(self) -> Sequence[tuple[str, str]]: ...  # (code, name)
    @property
    def doctors(self) -> Sequence[tuple[str, SubsystemId]]: ...  # (name, client)
    @property
    def eservices(self) -> Sequence[tuple[str, str]]: ...  # (name, URL)
    # optional: ``eservice_services`` (label → ServiceId), the e-services with portal pages


@dataclass
class RunningPortal:
    url: str
    config: PortalConfig
    _server: EmbeddedServer
    _task: asyncio.Task[None]

    async def stop(self) -> None:
        self._server.should_exit = True
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(self._task, 10)

    async def __call__(self) -> None:
        """The demo's stop handle (``sild.demo_start.stop_portal`` calls it)."""
        await self.stop()


@dataclass(frozen=True)
class _FromDemo:
    """A :class:`PortalCountry` read off the demo's ``DemoCountry`` (sild.demo_country:
    plain strings; the consent and notification admin tokens from the instance folder)."""

    portal_gateway_url: str
    portal_client: SubsystemId
    register_services: Mapping[str, ServiceId]
    tracker_services: Mapping[str, ServiceId]
    consent_api: tuple[str, str]
    notify_api: tuple[str, str]
    demo_persons: Sequence[tuple[str, str]]
    doctors: Sequence[tuple[str, SubsystemId]]
    eservices: Sequence[tuple[str, str]]
    eservice_services: Mapping[str, ServiceId]
    # The demo ledger's key: the timeline's badges check anchors against it.
    ledger_keys: tuple[Path, ...] = ()


def from_demo_country(country: Any) -> PortalCountry:
    """Adapt the demo's ``DemoCountry`` (duck-typed: this module imports nothing of it)."""
    from sild.consent.home import ConsentHome
    from sild.instance import Instance
    from sild.notify.home import NotifyHome

    instance = Instance.load(Path(country.root) / "registry")
    subs = country.subsystems
    return _FromDemo(
        portal_gateway_url=country.is_url_for("portal"),
        portal_client=SubsystemId.parse(subs["portal"]),
        register_services={k: ServiceId.parse(v) for k, v in country.services.items()},
        tracker_services={k: ServiceId.parse(v) for k, v in country.find_usage.items()},
        consent_api=(country.consent_url, ConsentHome.load(instance).admin_token()),
        notify_api=(country.notify_url, NotifyHome.load(instance).admin_token()),
        demo_persons=[(p.code, f"{p.given_name} {p.surname} — "
                               f"{getattr(p, 'note', '') or getattr(p, 'role', '')}".rstrip(" —"))
                      for p in country.persons],
        doctors=[("Clinic — the family doctor", SubsystemId.parse(subs["doctor"]))]
        if "doctor" in subs else [],
        eservices=sorted(country.eservice_urls.items()),
        eservice_services={k: ServiceId.parse(v)
                           for k, v in getattr(country, "eservice_services", {}).items()
                           if k in ESERVICE_LABELS},
        ledger_keys=tuple(p for p in [Path(country.root) / "ledger" / "ledger.vkey"]
                          if p.is_file()))


def config_of(country: PortalCountry, *, listen: str,
              oidc: OidcSettings | None = None) -> PortalConfig:
    """The demo portal's configuration (demo mode on)."""
    return PortalConfig(
        gateway_url=country.portal_gateway_url, client=country.portal_client, listen=listen,
        public_url=f"http://{listen}", demo=True,
        registers=dict(country.register_services), trackers=dict(country.tracker_services),
        consent=ServiceApi(*country.consent_api), notify=ServiceApi(*country.notify_api),
        oidc=oidc,
        doctors=tuple(Link(name, str(client)) for name, client in country.doctors),
        eservices=tuple(Link(name, url) for name, url in country.eservices),
        eservice_apis=dict(getattr(country, "eservice_services", {})),
        demo_persons=tuple(DemoPerson(code, name) for code, name in country.demo_persons),
        ledger_keys=tuple(getattr(country, "ledger_keys", ())))


def demo_oidc(country: Any) -> tuple[OidcSettings, int] | None:
    """The demo's Sild ID for the portal: (settings, the port its redirect URI names),
    from ``DemoCountry.oidc_url`` and ``<demo>/sild-id/portal-client.json``
    (sild.demo_identity); None when the demo started no provider."""
    issuer = getattr(country, "oidc_url", "")
    path = Path(getattr(country, "root", ".")) / "sild-id" / "portal-client.json"
    if not issuer or not path.is_file():
        return None
    data = json.loads(path.read_text())
    return (OidcSettings(issuer, str(data["client_id"]), str(data["client_secret"])),
            int(data["port"]))


async def start(country: Any, *, host: str = "127.0.0.1", port: int = 0,
                oidc: OidcSettings | None = None, signer: PersonSigner | None = None,
                **_: Any) -> RunningPortal:
    """Serve the demo portal on ``host:port`` (0: a free port) until ``stop()``.

    ``country`` is a :class:`PortalCountry` or the demo's ``DemoCountry``; with the
    demo's Sild ID (:func:`demo_oidc`) the portal offers "Log in with Sild ID" and
    listens on the port registered with the provider. A second portal for the same demo
    (that port taken, by the demo's own portal) runs on a free port without Sild ID:
    the provider would send the person back to the first one."""
    found = demo_oidc(country) if oidc is None and not port else None
    if not hasattr(country, "portal_gateway_url"):
        country = from_demo_country(country)
    if found is not None:
        try:
            return await _serve(country, host, found[1], found[0], signer)
        except ConfigurationError as e:
            if "cannot listen" not in e.message:
                raise
    return await _serve(country, host, port or free_port(), oidc, signer)


async def _serve(country: PortalCountry, host: str, port: int, oidc: OidcSettings | None,
                 signer: PersonSigner | None) -> RunningPortal:
    config = config_of(country, listen=f"{host}:{port}", oidc=oidc)
    server, task = await start_embedded(create_portal_app(config, signer=signer), host, port,
                                        lifespan="on")
    return RunningPortal(f"http://{host}:{port}", config, server, task)
