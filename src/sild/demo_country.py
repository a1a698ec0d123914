"""What ``sild demo`` hands to the parts it starts on top of the network (issue #10).

:class:`DemoCountry` is the one contract between the demo and optional add-ons such as
the citizen portal: ``sild demo`` calls ``sild.portal.demo.start(country)`` if that
module exists (:mod:`sild.demo`), after the network, the registers and the e-services
answer. Everything is plain strings (identifiers in their X-Road text form, URLs
without a trailing slash), so an add-on needs no import from the demo's internals.

Calling a register from a subsystem: ``GET {gateway.is_url}/r1/{services[name]}/<path>``
with ``X-Road-Client: <subsystem>`` and, for personal data, ``Sild-Data-Subject``,
``Sild-Purpose`` and ``X-Road-UserId`` (docs/spec/registers.md §5,
docs/spec/eservices.md).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

__all__ = ["COUNTRY_FILE", "DemoCountry", "DemoGateway", "DemoPerson"]

COUNTRY_FILE = "demo-country.json"  # the running demo's DemoCountry, in its folder


@dataclass(frozen=True, slots=True)
class DemoGateway:
    """One organisation's gateway."""

    name: str  # "Population Register"
    member: str  # "DEMO/GOV/70000001"
    server: str  # "DEMO/GOV/70000001/gw1"
    is_url: str  # the IS-facing port: http://127.0.0.1:8080 (X-Road REST /r1/…)
    admin_url: str  # health, metrics: http://127.0.0.1:5566
    subsystems: tuple[str, ...]  # full ids: "DEMO/GOV/70000001/rr"


@dataclass(frozen=True, slots=True)
class DemoPerson:
    """A demo identity the tour and add-ons may show ("log in as …")."""

    code: str  # the Sild-Data-Subject form: "EE38001085718", "JP…"
    given_name: str
    surname: str
    role: str  # what the tour uses them for: "citizen", "parent", "locked", "e-resident", …
    note: str = ""  # one line for a page: "has locked their health data"


@dataclass(frozen=True, slots=True)
class DemoCountry:
    """The running demo country; all URLs answer when an add-on receives it."""

    instance: str  # "DEMO"
    root: Path  # the demo folder (an add-on may write files under root / <its name>)
    registry_url: str  # global configuration: {registry_url}/globalconf
    ledger_url: str
    # role → gateway; roles: "population", "health", "clinic", "police", "bank", "ria",
    # "business", "tax" (more may appear; look up by role, not by position)
    gateways: Mapping[str, DemoGateway]
    # register → REST service id: "population", "health", "business", "tax",
    # "vehicles", "land" → "DEMO/GOV/70000001/rr/population"
    services: Mapping[str, str]
    # register → findUsage v2 service id of the register's provider subsystem
    # (call {is_url}/r1/{find_usage[r]}/v2/findUsage?userCode=… as the tracker subsystem)
    find_usage: Mapping[str, str]
    # role → client subsystem id: "portal" (granted every register, findUsage and the
    # e-services), "tracker", "doctor", "police", "bank", "tax", "business", "parent"
    subsystems: Mapping[str, str]
    # role → gateway role hosting that subsystem (to pick the IS URL to call from)
    subsystem_gateway: Mapping[str, str]
    # the e-services' own base URLs (direct, for a browser) and their service ids
    # behind their gateways: "company", "tax-return", "doctor", "police", "family"
    eservice_urls: Mapping[str, str]
    eservice_services: Mapping[str, str]
    consent_url: str  # the consent service (docs/spec/consent.md), direct
    notify_url: str  # the notification service (docs/spec/notify.md), direct
    tracker_urls: Mapping[str, str]  # register → its findUsage app, direct
    oidc_url: str  # the OpenID Connect provider's issuer URL; "" when not started
    persons: tuple[DemoPerson, ...]
    sild: str = "sild"  # how the printed tour names the command

    def __post_init__(self) -> None:
        for name in ("gateways", "services", "find_usage", "subsystems",
                     "subsystem_gateway", "eservice_urls", "eservice_services",
                     "tracker_urls"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    def person(self, role: str) -> DemoPerson:
        """The first demo person with ``role``; KeyError if none."""
        for p in self.persons:
            if p.role == role:
                return p
        raise KeyError(role)

    def is_url_for(self, subsystem_role: str) -> str:
        """The IS URL of the gateway that hosts the subsystem of ``subsystem_role``."""
        return self.gateways[self.subsystem_gateway[subsystem_role]].is_url

    # -- a file, for tools started later (tests, a portal run on its own) --------------

    def to_json(self) -> str:
        data: dict[str, Any] = {}
        for name in self.__slots__:
            value = getattr(self, name)
            if isinstance(value, Mapping):
                value = {k: (asdict(v) if isinstance(v, DemoGateway) else v)
                         for k, v in value.items()}
            elif isinstance(value, Path):
                value = str(value)
            elif name == "persons":
                value = [asdict(p) for p in value]
            data[name] = value
        return json.dumps(data, indent=1, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> DemoCountry:
        """The country :meth:`to_json` wrote (``demo-country.json`` in the demo folder)."""
        data = json.loads(text)
        data["root"] = Path(data["root"])
        data["gateways"] = {k: DemoGateway(**{**v, "subsystems": tuple(v["subsystems"])})
                            for k, v in data["gateways"].items()}
        data["persons"] = tuple(DemoPerson(**p) for p in data["persons"])
        return cls(**data)
