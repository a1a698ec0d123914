"""The network under attack, read from a demo folder (``sild demo --dir``) or from a
target file that names the folders and, where clients reach the network elsewhere (a
load balancer, another host), its URLs (:meth:`Target.of_file`).

The drill runs as the network's operator would run it: with the gateways' folders
(ports, keys, databases), the instance CA and the ledger's verifier key at hand, as a
red team given an insider's view (Locked Shields' "assume breach").
"""

from __future__ import annotations

from dataclasses import dataclass, replace
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
    # Set by a target file (:meth:`of_file`); None: the demo's.
    client_id: SubsystemId | None = None
    other_client_id: SubsystemId | None = None
    service_id: ServiceId | None = None

    @property
    def member(self) -> MemberId:
        return self.consumer.server.owner

    @property
    def client(self) -> SubsystemId:
        """The consumer granted the provider's service (the doctor)."""
        return self.client_id or self.member.subsystem("his")

    @property
    def other_client(self) -> SubsystemId:
        """A client of the same member that is *not* granted it."""
        return self.other_client_id or self.member.subsystem("billing")

    @property
    def service(self) -> ServiceId:
        return self.service_id or self.provider.server.owner.subsystem("rr").service("persons")

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

    @classmethod
    def of_file(cls, path: Path) -> Target:
        """A network described by a TOML file (docs/operations.md "Exercise"); folders
        relative to the file. ``[urls]`` overrides where the consumer's and provider's IS
        ports and the provider's peer port are reached."""
        import tomllib
        from urllib.parse import urlsplit

        from sild.errors import SildError

        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as e:
            raise ConfigurationError(f"cannot read {path}: {e.strerror}") from e
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            raise ConfigurationError(f"{path} is not a TOML target file: {e}") from e
        base = path.resolve().parent

        def text(key: str, default: str = "") -> str:
            value = data.get(key, default)
            if not isinstance(value, str):
                raise ConfigurationError(f"{path}: {key} must be a string")
            return value

        def folder(key: str) -> Path:
            return base / text(key)

        def gw(key: str) -> GatewaySettings | None:
            if not text(key):
                return None
            if not (folder(key) / GATEWAY_FILE).is_file():
                raise ConfigurationError(f"{path}: {key} = {text(key)!r} is not a gateway folder")
            return GatewaySettings.load(folder(key))

        def address(key: str, url: object) -> str:
            parts = urlsplit(url) if isinstance(url, str) else None
            try:
                port = parts.port if parts is not None else None
            except ValueError:
                port = None
            if parts is None or parts.scheme not in ("http", "https", "") or \
                    not parts.hostname or port is None:
                raise ConfigurationError(f"{path}: urls.{key} must be http://HOST:PORT")
            return f"{parts.hostname}:{port}"

        for key in ("registry", "provider", "consumer"):
            if not text(key):
                raise ConfigurationError(f"{path}: {key} (a folder) is required")
        provider, consumer = gw("provider"), gw("consumer")
        assert provider is not None
        assert consumer is not None
        urls = data.get("urls", {})
        if not isinstance(urls, dict):
            raise ConfigurationError(f"{path}: [urls] must be a table")
        unknown = set(urls) - {"consumer", "provider", "provider_peer"}
        if unknown:
            raise ConfigurationError(f"{path}: unknown urls.{sorted(unknown)[0]}")
        if "consumer" in urls:
            consumer = replace(consumer, is_listen=address("consumer", urls["consumer"]))
        if "provider" in urls:
            provider = replace(provider, is_listen=address("provider", urls["provider"]))
        if "provider_peer" in urls:
            provider = replace(provider, peer_listen=address("provider_peer",
                                                             urls["provider_peer"]))
        try:
            instance = Instance.load(folder("registry"))
            ids = {k: text(k) for k in ("client", "other_client", "service")}
            client = SubsystemId.parse(ids["client"]) if ids["client"] else None
            other = SubsystemId.parse(ids["other_client"]) if ids["other_client"] else None
            service = ServiceId.parse(ids["service"]) if ids["service"] else None
        except SildError as e:
            raise ConfigurationError(f"{path}: {e.message}") from e
        vkey = folder("ledger_key") if text("ledger_key") else None
        return cls(root=base, instance=instance, provider=provider, consumer=consumer,
                   health=gw("health"), police=gw("police"), bank=gw("bank"),
                   ledger_key=vkey, locked_person=text("locked_person"),
                   person=text("person"), client_id=client, other_client_id=other,
                   service_id=service)
