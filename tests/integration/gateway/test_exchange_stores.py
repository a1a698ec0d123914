"""The exchange with the real message log and service configuration, on SQLite and
PostgreSQL: log rows on both gateways, access rights from the database, admin API,
maintenance mode, and no response without its durable log record."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from sild.core.access import parse_subject
from sild.localnet import LocalNet
from sild.store import make_engine
from sild.testing.exchange import CLIENT, CONSUMER, ECHO, PROVIDER, call, error_type
from sild.testing.netthread import NetThread


@pytest.fixture
def running(tmp_path: Path,
            database_factory: Callable[[str], str]) -> Iterator[tuple[NetThread, LocalNet]]:
    net = LocalNet.create(tmp_path / "net", [PROVIDER, CONSUMER], instance_id="EE",
                          database_url=database_factory)
    with NetThread(net) as thread:
        sc = net.stores[PROVIDER.server].serverconf
        sc.add_service(ECHO.subsystem, "echo", net.is_url + "/echo", timeout=5)
        sc.grant(ECHO, parse_subject(str(CLIENT)))
        yield thread, net


def _rows(net: LocalNet, server: object, table: str) -> list[sa.Row]:  # type: ignore[type-arg]
    engine = make_engine(net.gateway_settings[server].database_url)  # type: ignore[index]
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(f"SELECT * FROM {table}")))  # noqa: S608
    finally:
        engine.dispose()


def test_exchange_is_logged_durably_on_both_gateways(
        running: tuple[NetThread, LocalNet]) -> None:
    """A call leaves request+response rows and a monitoring row in each gateway's database."""
    _, net = running
    url = f"{net.is_url_of(CONSUMER.server)}/r1/{ECHO.path()}/p"
    status, headers, _ = call(url, method="POST", body=b"{}",
                              headers={"X-Road-Client": str(CLIENT)})
    assert status == 200
    rid = headers["x-road-request-id"]
    for server in (PROVIDER.server, CONSUMER.server):
        rows = [r for r in _rows(net, server, "message_log") if r.request_id == rid]
        assert sorted(r.kind for r in rows) == ["request", "response"]
        assert all(len(r.record_hash) == 32 for r in rows)
        assert [r.x_request_id for r in _rows(net, server, "opmon_records")
                if r.x_request_id == rid] == [rid]


def test_access_rights_come_from_the_database(running: tuple[NetThread, LocalNet]) -> None:
    """Revoking the right in serverconf denies the next call."""
    _, net = running
    url = f"{net.is_url_of(CONSUMER.server)}/r1/{ECHO.path()}"
    h = {"X-Road-Client": str(CLIENT)}
    assert call(url, headers=h)[0] == 200
    net.stores[PROVIDER.server].serverconf.revoke(ECHO, parse_subject(str(CLIENT)))
    status, _, body = call(url, headers=h)
    assert (status, error_type(body)) == (500, "Server.ServerProxy.AccessDenied")
    status, _, body = call(f"{net.is_url_of(CONSUMER.server)}/r1/{ECHO.subsystem.path()}/nope",
                           headers=h)
    assert (status, error_type(body)) == (500, "Server.ServerProxy.UnknownService")


def test_admin_health_metrics_and_maintenance(running: tuple[NetThread, LocalNet]) -> None:
    """/health is 200, /metrics counts requests, maintenance mode gives 503 and refuses."""
    _, net = running
    admin = f"http://{net.gateway_settings[CONSUMER.server].admin_listen}"
    assert call(admin + "/health")[0] == 200
    call(f"{net.is_url_of(CONSUMER.server)}/r1/{ECHO.path()}",
         headers={"X-Road-Client": str(CLIENT)})
    metrics = call(admin + "/metrics")[2].decode()
    assert 'sild_gateway_requests_total{outcome="ok",side="consumer"}' in metrics
    auth = {"Authorization": f"Bearer {net.admin_token(net.gateway_settings[CONSUMER.server])}"}
    status, headers, _ = call(admin + "/maintenance?targetState=true")  # no credential
    assert (status, headers["x-road-error"]) == (401, "Client.Unauthorized")
    assert call(admin + "/maintenance?targetState=true", headers=auth)[0] == 200
    status, _, body = call(admin + "/health")
    assert (status, body) == (503, b"Health check interface is in maintenance mode")
    status, _, body = call(f"{net.is_url_of(CONSUMER.server)}/r1/{ECHO.path()}",
                           headers={"X-Road-Client": str(CLIENT)})
    assert (status, error_type(body)) == (503, "Server.ClientProxy.MaintenanceMode")
    assert call(admin + "/maintenance?targetState=false", headers=auth)[0] == 200
    status = call(admin + "/status")[0]
    assert status == 200
    token = net.admin_token(net.gateway_settings[PROVIDER.server])
    provider_admin = f"http://{net.gateway_settings[PROVIDER.server].admin_listen}"
    status, _, body = call(provider_admin + "/api/services",
                           headers={"Authorization": f"Bearer {token}"})
    assert status == 200
    assert "echo" in json.dumps(json.loads(body))
    assert call(provider_admin + "/api/services")[0] == 401


def test_no_response_without_durable_log(running: tuple[NetThread, LocalNet]) -> None:
    """When the provider's log cannot commit, the caller gets LoggingFailed, not the answer."""
    thread, net = running
    stores = net.stores[PROVIDER.server]
    thread.run(stores.log.close())  # the log stops accepting records
    status, _, body = call(f"{net.is_url_of(CONSUMER.server)}/r1/{ECHO.path()}",
                           headers={"X-Road-Client": str(CLIENT)})
    assert (status, error_type(body)) == (500, "Server.ServerProxy.LoggingFailed")
