"""A whole Sild network on loopback, in one event loop: the registry, gateways, and a
sample provider information system. Used by ``sild demo``, the integration tests
and the benchmarks, so all three exercise the same real parts (real HTTP, real
mutual TLS, certificates from the instance CA, real databases)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from sild.bootstrap import create_instance
from sild.ca import CertificateAuthority
from sild.clock import utc_now
from sild.core.identifiers import MemberId, ServerId, ServiceId, SubsystemId
from sild.crypto.certs import CertPurpose, build_csr, cert_pem
from sild.crypto.keys import KeyType, generate_key, save_private_key, write_private_file
from sild.embedded import EmbeddedServer, free_port, start_embedded
from sild.errors import ConfigurationError
from sild.gateway.admin import create_admin_app
from sild.gateway.config import AnchoringSettings, GatewayLimits, GatewaySettings
from sild.gateway.context import AccessPort, LogPort
from sild.gateway.runtime import Gateway
from sild.gateway.stores import GatewayStores
from sild.instance import Instance
from sild.ledger.api import create_app as create_ledger_app
from sild.ledger.home import init_ledger, open_ledger
from sild.ledger.submitters import Submitters, add_key
from sild.registry.api import create_app
from sild.registry.publisher import Publisher
from sild.registry.requests import build_client_request, build_gateway_request
from sild.registry.service import Registry
from sild.registry.workflow import Action
from sild.sample_is import create_sample_is
from sild.store import make_engine, migrate

__all__ = ["GatewaySpec", "LocalNet"]


def _admin_factory(stores: GatewayStores, token: str) -> Callable[[Gateway], Any]:
    def factory(gateway: Gateway) -> Any:
        return create_admin_app(gateway, stores.serverconf, token, stores.check_database)

    return factory


@dataclass(frozen=True)
class GatewaySpec:
    member: MemberId
    name: str
    server_code: str
    subsystems: tuple[str, ...]

    @property
    def server(self) -> ServerId:
        return ServerId(self.member, self.server_code)


@dataclass
class LocalNet:
    """Build with :meth:`create`, then ``await start()`` … ``await stop()``."""

    root: Path
    instance: Instance
    specs: list[GatewaySpec]
    gateway_settings: dict[ServerId, GatewaySettings]
    log_factory: Callable[[GatewaySettings], LogPort] | None
    access_factory: Callable[[GatewaySettings, str], AccessPort] | None
    registry_url: str = ""
    ledger_url: str = ""
    is_url: str = ""
    sample_is_port: int = 0
    gateways: dict[ServerId, Gateway] = field(default_factory=dict)
    stores: dict[ServerId, GatewayStores] = field(default_factory=dict)
    _servers: list[EmbeddedServer] = field(default_factory=list)
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _runners: list[web.AppRunner] = field(default_factory=list)
    _engines: list[Any] = field(default_factory=list)

    @classmethod
    def create(
        cls,
        root: Path,
        specs: list[GatewaySpec],
        *,
        log_factory: Callable[[GatewaySettings], LogPort] | None = None,
        access_factory: Callable[[GatewaySettings, str], AccessPort] | None = None,
        instance_id: str = "DEMO",
        database_url: Callable[[str], str] | None = None,
        limits: GatewayLimits | None = None,
        registry_port: int | None = None,
        expire_seconds: int = 600,
        refresh_interval: int = 60,
        fixed_ports: bool = False,
        ledger: bool = False,
        fresh: bool = True,
    ) -> LocalNet:
        """Create the instance, register every gateway and subsystem, write gateway folders.

        Registration goes the real way (CSR → CA → signed request → approval) through
        the registry library; the HTTP path of registration is tested on its own.
        ``fresh=False`` keeps what ``root`` already holds (the caller emptied it).
        """
        if fresh and root.exists():
            shutil.rmtree(root)
        at = utc_now()
        db = database_url or (lambda name: f"sqlite:///{root.resolve()}/{name}.db")
        root.mkdir(parents=True, exist_ok=not fresh)
        instance = create_instance(root / "registry", instance_id=instance_id, at=at,
                                   listen=f"127.0.0.1:{registry_port or free_port()}",
                                   database_url=database_url("registry") if database_url
                                   else None)
        if (expire_seconds, refresh_interval) != (instance.expire_seconds,
                                                  instance.refresh_interval):
            instance = dataclasses.replace(instance, expire_seconds=expire_seconds,
                                           refresh_interval=refresh_interval)
            instance.write_config()
        ledger_url = ""
        if ledger:  # a KSI-style ledger that anchors every gateway's message log
            ledger_port = 8470 if fixed_ports else free_port()
            ledger_url = f"http://127.0.0.1:{ledger_port}"
            init_ledger(root / "ledger", origin=f"{instance_id.lower()}.sild/ledger",
                        database_url=db("ledger"))
        engine = make_engine(instance.database_url)
        migrate(engine)
        registry = Registry(engine, instance_id)
        ca = CertificateAuthority.load(instance.ca_dir)
        settings: dict[ServerId, GatewaySettings] = {}
        for i, spec in enumerate(specs):
            if not any(m == str(spec.member) for m, _, _ in registry.members()):
                registry.add_member(spec.member, spec.name)
            server = spec.server
            gw_root = root / "gateways" / spec.server_code
            credential = ""
            if ledger:  # the gateway's own API key for the ledger (docs/spec/ledger.md §8.1)
                cred_path = gw_root / "keys" / "ledger.credential"
                gw_root.joinpath("keys").mkdir(parents=True, exist_ok=True)
                write_private_file(cred_path, add_key(
                    root / "ledger", f"gw-{spec.server_code.lower()}").encode() + b"\n")
                credential = str(cred_path.resolve())
            s = GatewaySettings(
                root=gw_root.resolve(), server=server,
                database_url=db(f"gateway-{spec.server_code}"),
                # fixed ports follow X-Road's defaults (8080 IS, 5500 peers, 5566 admin)
                is_listen=f"127.0.0.1:{8080 + i if fixed_ports else free_port()}",
                peer_listen=f"127.0.0.1:{5500 + i if fixed_ports else free_port()}",
                admin_listen=f"127.0.0.1:{5566 + i if fixed_ports else free_port()}",
                limits=limits or GatewayLimits(),
                anchoring=AnchoringSettings(ledger_url=ledger_url, credential=credential))
            s.write()
            shutil.copy(instance.anchor_path, s.anchor_path)
            write_private_file(gw_root / "admin-token", secrets.token_urlsafe(24).encode())
            auth_key, sign_key = generate_key(KeyType.P256), generate_key(KeyType.P256)
            auth = ca.issue(build_csr(auth_key, str(server)), purpose=CertPurpose.AUTH,
                            identity=str(server), address=s.peer_listen, at=at)
            sign = ca.issue(build_csr(sign_key, str(spec.member)), purpose=CertPurpose.SIGN,
                            identity=str(spec.member), at=at)
            save_private_key(s.auth_key_path, auth_key)
            s.auth_cert_path.write_text(cert_pem(auth))
            save_private_key(s.sign_key_path(spec.member), sign_key)
            s.sign_cert_path(spec.member).write_text(cert_pem(sign))
            row = registry.submit(build_gateway_request(
                server=server, address=s.peer_listen, auth_certificate=auth, auth_key=auth_key,
                owner_certificate=sign, owner_key=sign_key, at=at))
            registry.decide(row.id, Action.APPROVE)
            for sub in spec.subsystems:
                row = registry.submit(build_client_request(
                    server=server, client=SubsystemId(spec.member, sub),
                    owner_certificate=sign, owner_key=sign_key, at=at))
                registry.decide(row.id, Action.APPROVE)
            settings[server] = s
        engine.dispose()
        return cls(root=root, instance=instance, specs=specs, gateway_settings=settings,
                   log_factory=log_factory, access_factory=access_factory,
                   ledger_url=ledger_url)

    def service(self, spec_index: int, subsystem: str, code: str) -> ServiceId:
        return SubsystemId(self.specs[spec_index].member, subsystem).service(code)

    async def start(self) -> None:
        inst = self.instance
        engine = make_engine(inst.database_url)
        self._engines.append(engine)
        registry = Registry(engine, inst.instance_id)
        publisher = Publisher(registry, inst.config_keys_dir,
                              expire_after=timedelta(seconds=inst.expire_seconds),
                              refresh_interval=inst.refresh_interval)
        host, port = inst.registry_listen.rsplit(":", 1)
        server, task = await start_embedded(create_app(registry, publisher, inst.admin_token()),
                                            host, int(port))
        self._servers.append(server)
        self._tasks.append(task)
        self.registry_url = f"http://{host}:{port}"
        if self.ledger_url:
            ledger = open_ledger(self.root / "ledger")
            self._engines.append(ledger.engine)
            lhost, lport = self.ledger_url.removeprefix("http://").rsplit(":", 1)
            lim = ledger.limits
            submitters = Submitters.of_folder(self.root / "ledger", max_batch=lim.max_batch,
                                              max_round=lim.max_round)
            lserver, ltask = await start_embedded(
                create_ledger_app(ledger, submitters=submitters), lhost, int(lport),
                lifespan="on")
            self._servers.append(lserver)
            self._tasks.append(ltask)
        runner = web.AppRunner(create_sample_is(), access_log=None, handle_signals=False)
        await runner.setup()
        is_port = self.sample_is_port or free_port()
        try:
            await web.TCPSite(runner, "127.0.0.1", is_port).start()
        except OSError as e:
            await runner.cleanup()
            raise ConfigurationError(f"cannot listen on 127.0.0.1:{is_port}: {e.strerror}") from e
        self._runners.append(runner)
        self.is_url = f"http://127.0.0.1:{is_port}"
        for server_id, s in self.gateway_settings.items():
            if self.log_factory is not None and self.access_factory is not None:
                gw = Gateway(s, self.log_factory(s), self.access_factory(s, self.is_url))
            else:  # the real, database-backed message log and service configuration
                stores = GatewayStores(s)
                await stores.start()
                self.stores[server_id] = stores
                gw = Gateway(s, stores.log, stores.serverconf,
                             admin_app_factory=_admin_factory(stores, self.admin_token(s)))
            await gw.start()
            self.gateways[server_id] = gw

    @staticmethod
    def admin_token(settings: GatewaySettings) -> str:
        return (settings.root / "admin-token").read_text().strip()

    def is_url_of(self, server: ServerId) -> str:
        return f"http://{self.gateway_settings[server].is_listen}"

    async def stop_registry(self) -> None:
        """Take the registry down (to test what gateways do without it)."""
        self._servers[0].should_exit = True  # the registry is started first
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._tasks[0], 5)

    async def stop(self) -> None:
        for gw in self.gateways.values():
            with contextlib.suppress(Exception):
                await gw.stop()
        for stores in self.stores.values():
            with contextlib.suppress(Exception):
                await stores.close()
        for runner in self._runners:
            await runner.cleanup()
        for server in self._servers:
            server.should_exit = True
        for task in self._tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 5)
        for engine in self._engines:
            engine.dispose()
