"""A running local network for exchange tests: registry, a provider and a consumer
gateway, the sample IS, with in-memory message logs and access policies.

Also the call helper the tests use (urllib: an unmodified HTTP client, as an IS would).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from sild.core.identifiers import MemberId, ServiceId
from sild.gateway.config import GatewayLimits, GatewaySettings
from sild.gateway.context import StaticTarget
from sild.localnet import GatewaySpec, LocalNet
from sild.testing.gateway_doubles import MemoryAccess, MemoryLog
from sild.testing.netthread import NetThread

PROVIDER = GatewaySpec(MemberId("EE", "GOV", "70000001"), "Population Register", "gw1", ("rr",))
CONSUMER = GatewaySpec(MemberId("EE", "COM", "10000001"), "Clinic", "gw2", ("his", "other"))
ECHO = PROVIDER.member.subsystem("rr").service("echo")
CLOSED = PROVIDER.member.subsystem("rr").service("closed")
DOWN = PROVIDER.member.subsystem("rr").service("down")
SLOW = PROVIDER.member.subsystem("rr").service("slow")
CLIENT = CONSUMER.member.subsystem("his")
MAX_BODY = 64 * 1024


@dataclass
class Net:
    thread: NetThread
    net: LocalNet
    logs: dict[str, MemoryLog]
    access: dict[str, MemoryAccess]

    def consumer_url(self) -> str:
        return self.net.is_url_of(CONSUMER.server)

    def settings(self, spec: GatewaySpec) -> GatewaySettings:
        return self.net.gateway_settings[spec.server]


def start_net(root: Path) -> tuple[NetThread, Net]:
    logs: dict[str, MemoryLog] = {}
    access: dict[str, MemoryAccess] = {}

    def log_factory(s: GatewaySettings) -> MemoryLog:
        logs[s.server.server_code] = MemoryLog()
        return logs[s.server.server_code]

    def access_factory(s: GatewaySettings, is_url: str) -> MemoryAccess:
        a = MemoryAccess()
        access[s.server.server_code] = a
        return a

    net = LocalNet.create(root, [PROVIDER, CONSUMER], instance_id="EE",
                          log_factory=log_factory, access_factory=access_factory,
                          limits=GatewayLimits(max_body=MAX_BODY,
                                               peer_timeout=5.0))
    thread = NetThread(net)
    return thread, Net(thread, net, logs, access)


def grant(n: Net, service: ServiceId, path: str, *, timeout: float = 1.0) -> None:
    a = n.access["gw1"]
    a.services[service] = StaticTarget(n.net.is_url + path, timeout)
    a.allowed.setdefault(service, set()).add(CLIENT)


def setup_services(n: Net) -> None:
    grant(n, ECHO, "/echo")
    grant(n, SLOW, "/slow")
    n.access["gw1"].services[DOWN] = StaticTarget("http://127.0.0.1:9/", 1.0)
    n.access["gw1"].allowed[DOWN] = {CLIENT}
    n.access["gw1"].services[CLOSED] = StaticTarget(n.net.is_url + "/echo", 1.0)


def call(url: str, *, method: str = "GET", body: bytes | None = None,
         headers: dict[str, str] | None = None, timeout: float = 20,
         ) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request; (status, headers with lower-case names, body)."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def error_type(body: bytes) -> str:
    value: str = json.loads(body)["type"]
    return value
