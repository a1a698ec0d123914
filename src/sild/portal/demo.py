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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sild.core.identifiers import ServiceId, SubsystemId
from sild.embedded import EmbeddedServer, free_port, start_embedded
from sild.portal.app import create_portal_app
from sild.portal.config import DemoPerson, Link, OidcSettings, PortalConfig, ServiceApi

__all__ = ["PortalCountry", "RunningPortal", "config_of", "start"]


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
        demo_persons=tuple(DemoPerson(code, name) for code, name in country.demo_persons))


async def start(country: PortalCountry, *, host: str = "127.0.0.1", port: int = 0,
                oidc: OidcSettings | None = None, **_: Any) -> RunningPortal:
    """Serve the demo portal on ``host:port`` (0: a free port) until ``stop()``."""
    port = port or free_port()
    config = config_of(country, listen=f"{host}:{port}", oidc=oidc)
    server, task = await start_embedded(create_portal_app(config), host, port, lifespan="on")
    return RunningPortal(f"http://{host}:{port}", config, server, task)
