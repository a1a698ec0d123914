"""The network under attack, read from a demo folder (``sild demo --dir``).

The drill runs as the network's operator would run it: with the gateways' folders
(ports, keys, databases), the instance CA and the ledger's verifier key at hand, as a
red team given an insider's view (Locked Shields' "assume breach").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sild.core.identifiers import MemberId, ServiceId, SubsystemId
from sild.errors import ConfigurationError
from sild.gateway.config import GATEWAY_FILE, GatewaySettings
from sild.instance import Instance

__all__ = ["Target"]


@dataclass(frozen=True)
class Target:
    root: Path
    instance: Instance
    provider: GatewaySettings  # the population register's gateway
    consumer: GatewaySettings  # the clinic's gateway (clients his = doctor, billing)
    health: GatewaySettings | None  # the Health Board's gateway (locked records)
    police: GatewaySettings | None
    bank: GatewaySettings | None
    ledger_key: Path | None
    locked_person: str  # a person who locked their health data ("" = unknown)
    person: str  # a person without a lock, for ordinary lookups

    @property
    def member(self) -> MemberId:
        return self.consumer.server.owner

    @property
    def client(self) -> SubsystemId:
        """The consumer granted the provider's service (the doctor)."""
        return self.member.subsystem("his")

    @property
    def other_client(self) -> SubsystemId:
        """A client of the same member that is *not* granted it."""
        return self.member.subsystem("billing")

    @property
    def service(self) -> ServiceId:
        return self.provider.server.owner.subsystem("rr").service("persons")

    def is_url(self, settings: GatewaySettings) -> str:
        return f"http://{settings.is_listen}"

    @classmethod
    def of_demo(cls, root: Path) -> Target:
        """The network ``sild demo --dir ROOT`` started (sild/demo.py, sild/demo_plan.py)."""
        gateways = root / "gateways"
        if not (root / ".sild-demo").is_file() or not gateways.is_dir():
            raise ConfigurationError(f"{root} is not a `sild demo` folder")
        instance = Instance.load(root / "registry")

        def gw(code: str) -> GatewaySettings | None:
            folder = gateways / code
            return GatewaySettings.load(folder) if (folder / GATEWAY_FILE).is_file() else None

        provider, consumer = gw("gw1"), gw("gw2")
        if provider is None or consumer is None:
            raise ConfigurationError(f"{root}: the demo's gateways gw1 and gw2 are missing")
        vkey = root / "ledger" / "ledger.vkey"
        # The demo's named persons (sild/demo_data.py): one locked their health data.
        from sild.demo_data import PERSONS_FILE, load_persons

        people = load_persons(root / PERSONS_FILE)
        return cls(root=root.resolve(), instance=instance, provider=provider, consumer=consumer,
                   health=gw("gw3"), police=gw("gw4"), bank=gw("gw5"),
                   ledger_key=vkey if vkey.is_file() else None,
                   locked_person=people.person("locked").code, person=people.pool[0])
