"""A spyne SOAP provider behind two real gateways: its WSDL registered with --wsdl, its
operations as services, and the rewritten WSDL from the consumer gateway's ``GET /wsdl``
(through the exchange's getWsdl metaservice) loaded by zeep (docs/spec/wsdl.md §6)."""

from __future__ import annotations

import subprocess
import sys
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
import zeep
from lxml import etree

from sild.cli import main
from sild.core.identifiers import ServiceId
from sild.localnet import LocalNet
from sild.soap.wsdl import XROAD_ENDPOINT
from sild.store import make_engine
from sild.testing.exchange import CONSUMER, PROVIDER, call
from sild.testing.netthread import NetThread

SUB = PROVIDER.member.subsystem("rr")
SAY_HELLO = ServiceId(SUB, "sayHello")
DOUBLE = ServiceId(SUB, "double")
NS_ENV = "http://schemas.xmlsoap.org/soap/envelope/"


@pytest.fixture(scope="module")
def spyne_is() -> Iterator[str]:
    """spyne's SOAP 1.1 service on loopback (a child process); its WSDL at ``{url}?wsdl``."""
    with subprocess.Popen([sys.executable, str(Path(__file__).with_name(
            "spyne_provider.py"))], stdout=subprocess.PIPE, text=True) as child:
        try:
            assert child.stdout is not None
            port = int(child.stdout.readline())
            yield f"http://127.0.0.1:{port}/"
        finally:
            child.terminate()
            child.wait(10)


@contextmanager
def _network(root: Path, spyne_is: str,
             database_url: Callable[[str], str] | None = None) -> Iterator[LocalNet]:
    """Two gateways; spyne's WSDL registered on the provider with the CLI."""
    net = LocalNet.create(root, [PROVIDER, CONSUMER], instance_id="EE",
                          database_url=database_url)
    with NetThread(net):
        gwdir = str(net.gateway_settings[PROVIDER.server].root)
        assert main(["gateway", "service", "add", str(SUB), "--wsdl", f"{spyne_is}?wsdl",
                     "--dir", gwdir]) == 0
        yield net


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, spyne_is: str) -> Iterator[LocalNet]:
    """The network on SQLite, shared by this module's tests (a network takes seconds)."""
    with _network(tmp_path_factory.mktemp("wsdl-net"), spyne_is) as net:
        yield net


def _wsdl_url(net: LocalNet, **params: str) -> str:
    query = {"xRoadInstance": "EE", "memberClass": SUB.member.member_class,
             "memberCode": SUB.member.member_code, "subsystemCode": SUB.subsystem_code,
             "serviceCode": "sayHello"} | params
    query = {k: v for k, v in query.items() if v}
    return f"{net.is_url_of(CONSUMER.server)}/wsdl?{urllib.parse.urlencode(query)}"


def _fault(body: bytes) -> tuple[str, str]:
    root = etree.fromstring(body)
    fault = root.find(f"{{{NS_ENV}}}Body/{{{NS_ENV}}}Fault")
    assert fault is not None, body
    return fault.findtext("faultcode") or "", fault.findtext("detail/faultDetail") or ""


def test_spyne_wsdl_comes_back_rewritten_through_two_gateways(running: LocalNet,
                                                              spyne_is: str) -> None:
    """spyne's operations are services; GET /wsdl returns its WSDL pointing at X-Road."""
    sc = running.stores[PROVIDER.server].serverconf
    sc.refresh()  # the CLI changed the database; the gateway sees it within its ttl
    services = {d.id: d for d in sc.services(SUB)}
    assert set(services) == {SAY_HELLO, DOUBLE}
    assert services[SAY_HELLO].url == spyne_is
    status, headers, body = call(_wsdl_url(running))
    assert status == 200
    assert headers["content-type"].startswith("text/xml")
    assert spyne_is.encode() not in body
    assert XROAD_ENDPOINT.encode() in body


def test_zeep_loads_the_wsdl_served_by_the_gateway(running: LocalNet) -> None:
    """An unmodified zeep client loads GET /wsdl and sees both operations at the X-Road
    endpoint."""
    client = zeep.Client(_wsdl_url(running))
    binding = client.service._binding
    assert set(binding._operations) == {"sayHello", "double"}
    assert client.service._binding_options["address"] == XROAD_ENDPOINT


@pytest.mark.parametrize(("params", "code"), [
    ({"serviceCode": ""}, "Client.InvalidRequest"),
    ({"memberClass": ""}, "Client.InvalidRequest"),
    ({"serviceCode": "nope"}, "Server.ServerProxy.UnknownService"),
    ({"version": "v9"}, "Server.ServerProxy.UnknownService"),
    ({"subsystemCode": "ghost"}, "Server.ClientProxy.UnknownMember"),
])
def test_wsdl_errors_are_xroad_soap_faults(running: LocalNet, params: dict[str, str],
                                           code: str) -> None:
    """Missing parameters, an unknown service, version or subsystem: a SOAP fault with
    X-Road's code and an error id, HTTP 200."""
    status, headers, body = call(_wsdl_url(running, **params))
    assert status == 200
    assert headers["content-type"].startswith("text/xml")
    got, detail = _fault(body)
    assert got.startswith(code), got
    assert detail


def test_wsdl_call_is_logged_as_the_owner_member(running: LocalNet) -> None:
    """The getWsdl exchange is in both message logs, the client the consumer's owner."""
    status, _, _ = call(_wsdl_url(running))
    assert status == 200
    for server in (CONSUMER.server, PROVIDER.server):
        engine = make_engine(running.gateway_settings[server].database_url)
        try:
            with engine.connect() as conn:
                rows = conn.execute(sa.text(
                    "SELECT client_id, kind FROM message_log WHERE service_id = :s"),
                    {"s": f"{SUB}/getWsdl"}).all()
        finally:
            engine.dispose()
        assert {r.client_id for r in rows} == {str(CONSUMER.member)}
        assert {r.kind for r in rows} == {"request", "response"}


def test_rest_get_wsdl_metaservice(running: LocalNet) -> None:
    """REST clients get the same rewritten WSDL from /r1/…/getWsdl?serviceCode=."""
    url = f"{running.is_url_of(CONSUMER.server)}/r1/{SUB.path()}/getWsdl?serviceCode=double"
    status, headers, body = call(url, headers={"X-Road-Client": str(CONSUMER.member)})
    assert status == 200
    assert headers["content-type"].startswith("text/xml")
    assert XROAD_ENDPOINT.encode() in body


def test_repeated_or_malformed_parameters_are_faults(running: LocalNet) -> None:
    """A repeated parameter or a malformed identifier is a Client.* fault."""
    status, _, body = call(_wsdl_url(running) + "&serviceCode=double")
    assert status == 200
    assert _fault(body)[0] == "Client.InvalidRequest"
    status, _, body = call(_wsdl_url(running, memberCode="a/b"))
    assert _fault(body)[0] == "Client.InvalidClientIdentifier"


@pytest.mark.postgres
def test_wsdl_through_two_gateways_on_postgres(
        tmp_path: Path, pg_databases: Callable[[str], str], spyne_is: str) -> None:
    """The same registration and GET /wsdl with both gateways on PostgreSQL."""
    with _network(tmp_path / "net", spyne_is, pg_databases) as net:
        status, _, body = call(_wsdl_url(net))
        assert status == 200
        assert XROAD_ENDPOINT.encode() in body
        assert spyne_is.encode() not in body
