"""A running local network with the test SOAP provider IS (sild.testing.soap) behind
the provider gateway, for SOAP exchange tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sild.gateway.context import StaticTarget
from sild.gateway.serverconf._snapshot import PersonalData
from sild.testing.exchange import CLIENT, PROVIDER, Net, start_net
from sild.testing.servers import serve_asgi
from sild.testing.soap import ECHO_WSDL, SoapProvider

__all__ = ["SOAP_SERVICES", "PersonalTarget", "SoapNet", "VersionedTarget", "soap_net"]

SUB = PROVIDER.member.subsystem("rr")
# granted to CLIENT, except "closed"; "echov" is registered with serviceVersion v1;
# "echopd" carries personal data (the data tracker applies)
SOAP_SERVICES = ("echo", "echov", "wrong", "fail", "closed", "echopd", "echomtom")


@dataclass(frozen=True)
class VersionedTarget:
    """A service target registered with a serviceVersion (as from a WSDL)."""

    url: str
    timeout: float
    verify_tls: bool = True
    service_version: str = "v1"


@dataclass(frozen=True)
class PersonalTarget:
    """A service target that carries personal data (docs/spec/tracker.md §1)."""

    url: str
    timeout: float
    verify_tls: bool = True
    personal_data: PersonalData = field(
        default_factory=lambda: PersonalData(categories=("population",)))


@dataclass
class SoapNet:
    net: Net
    provider: SoapProvider
    is_url: str

    @property
    def url(self) -> str:
        return self.net.consumer_url()


@contextmanager
def soap_net(root: Path) -> Iterator[SoapNet]:
    thread, n = start_net(root)
    provider = SoapProvider()
    with serve_asgi(provider) as is_url, thread:
        access = n.access["gw1"]
        for code in SOAP_SERVICES:
            kind = {"echopd": PersonalTarget, "echov": VersionedTarget}.get(code, StaticTarget)
            access.services[SUB.service(code)] = kind(is_url + "/soap", 5.0)
            if code != "closed":
                access.allowed.setdefault(SUB.service(code), set()).add(CLIENT)
        # getWsdl: the echo service's WSDL (docs/spec/wsdl.md §5)
        setattr(access, "wsdl", lambda subsystem, code, version=None: ECHO_WSDL.encode())  # noqa: B010
        yield SoapNet(n, provider, is_url)
