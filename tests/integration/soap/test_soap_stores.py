"""SOAP exchange with the real message log and service configuration, on SQLite and
PostgreSQL: an accepted call is logged whole on both gateways, a refused one leaves only
its monitoring row, and access rights come from the database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from lxml import etree

from sild.core.access import parse_subject
from sild.localnet import LocalNet
from sild.store import make_engine
from sild.testing.exchange import CLIENT, CONSUMER, PROVIDER, call
from sild.testing.netthread import NetThread
from sild.testing.servers import serve_asgi
from sild.testing.soap import ECHO_NS, SoapProvider
from sild.testing.soap_client import soap_request

ECHO = PROVIDER.member.subsystem("rr").service("echo")
BODY = f'<e:echo xmlns:e="{ECHO_NS}"><text>db</text></e:echo>'


@pytest.fixture
def running(tmp_path: Path, database_factory: Callable[[str], str]
            ) -> Iterator[tuple[LocalNet, SoapProvider]]:
    provider = SoapProvider()
    net = LocalNet.create(tmp_path / "net", [PROVIDER, CONSUMER], instance_id="EE",
                          database_url=database_factory)
    with serve_asgi(provider) as is_url, NetThread(net):
        sc = net.stores[PROVIDER.server].serverconf
        sc.add_service(ECHO.subsystem, "echo", is_url + "/soap", timeout=5)
        sc.grant(ECHO, parse_subject(str(CLIENT)))
        yield net, provider


def _rows(net: LocalNet, server: object, table: str) -> list[sa.Row]:  # type: ignore[type-arg]
    engine = make_engine(net.gateway_settings[server].database_url)  # type: ignore[index]
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(f"SELECT * FROM {table}")))  # noqa: S608
    finally:
        engine.dispose()


def _post(net: LocalNet, body: bytes) -> bytes:
    status, _, answer = call(net.is_url_of(CONSUMER.server) + "/", method="POST", body=body,
                             headers={"Content-Type": "text/xml; charset=UTF-8"})
    assert status == 200
    return answer


def test_soap_call_is_logged_on_both_gateways(
        running: tuple[LocalNet, SoapProvider]) -> None:
    """request + response rows and a monitoring row on each gateway, by the SOAP id."""
    net, _ = running
    answer = _post(net, soap_request(CLIENT, ECHO, BODY, message_id="db-ok"))
    assert b"echoResponse" in answer
    for server in (PROVIDER.server, CONSUMER.server):
        rows = [r for r in _rows(net, server, "message_log") if r.message_id == "db-ok"]
        assert sorted(r.kind for r in rows) == ["request", "response"]
        assert [r.message_id for r in _rows(net, server, "opmon_records")
                if r.message_id == "db-ok"] == ["db-ok"]


def test_refused_soap_call_logs_no_message(running: tuple[LocalNet, SoapProvider]) -> None:
    """A DTD request: a fault, nothing forwarded, no message-log row, one monitoring row."""
    net, provider = running
    before = len(_rows(net, CONSUMER.server, "opmon_records"))
    bad = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]>' + soap_request(
        CLIENT, ECHO, BODY).split(b"?>", 1)[1]
    root = etree.fromstring(_post(net, bad))
    assert root.findtext(".//faultcode") == "Client.InvalidSoap"
    assert provider.requests == []
    assert _rows(net, CONSUMER.server, "message_log") == []
    assert len(_rows(net, CONSUMER.server, "opmon_records")) == before + 1


def test_access_rights_from_the_database_apply_to_soap(
        running: tuple[LocalNet, SoapProvider]) -> None:
    """Revoking the right in serverconf turns the next SOAP call into AccessDenied."""
    net, _ = running
    net.stores[PROVIDER.server].serverconf.revoke(ECHO, parse_subject(str(CLIENT)))
    root = etree.fromstring(_post(net, soap_request(CLIENT, ECHO, BODY)))
    assert root.findtext(".//faultcode") == "Server.ServerProxy.AccessDenied"
