"""A signed request replayed to the other node of a provider gateway is refused before
its IS sees it (the shared replay window, docs/operations.md "Active-active topology")."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from sild.core.access import parse_subject
from sild.embedded import free_port
from sild.exercise.model import error_code
from sild.exercise.peer import _header, _post, _signed
from sild.exercise.target import Target
from sild.gateway.runtime import Gateway
from sild.gateway.stores import GatewayStores
from sild.localnet import LocalNet
from sild.testing.exchange import CLIENT, CONSUMER, ECHO, PROVIDER
from sild.testing.netthread import NetThread

pytestmark = pytest.mark.postgres


def test_a_replay_to_the_other_provider_node_is_refused(
        tmp_path: Path, pg_databases: Callable[[str], str]) -> None:
    """Served by node 1, the same frame sent to node 2 gets Client.InvalidMessage."""
    net = LocalNet.create(tmp_path / "net", [PROVIDER, CONSUMER], instance_id="EE",
                          database_url=pg_databases)
    with NetThread(net) as thread:
        sc = net.stores[PROVIDER.server].serverconf
        sc.add_service(ECHO.subsystem, "echo", net.is_url + "/echo", timeout=5)
        sc.grant(ECHO, parse_subject(str(CLIENT)))
        one = net.gateway_settings[PROVIDER.server]
        two = dataclasses.replace(one, is_listen=f"127.0.0.1:{free_port()}",
                                  peer_listen=f"127.0.0.1:{free_port()}",
                                  admin_listen=f"127.0.0.1:{free_port()}")

        async def second_node() -> tuple[GatewayStores, Gateway]:
            stores = GatewayStores(two)
            await stores.start()
            gateway = Gateway(two, stores.log, stores.serverconf)
            await gateway.start()
            return stores, gateway

        stores, gateway = thread.run(second_node())
        try:
            (net.root / "target.toml").write_text(
                f'registry = "registry"\nprovider = "gateways/{PROVIDER.server_code}"\n'
                f'consumer = "gateways/{CONSUMER.server_code}"\nservice = "{ECHO}"\n'
                f'client = "{CLIENT}"\n')
            t1 = Target.of_file(net.root / "target.toml")
            t2 = dataclasses.replace(t1, provider=two)
            parts = _signed(t1, _header(t1, path="/p"))

            async def send() -> tuple[tuple[int, bytes], tuple[int, bytes]]:
                return await _post(t1, parts), await _post(t2, parts)

            (first, _), (status, body) = asyncio.run(send())
        finally:
            async def stop() -> None:
                await gateway.stop()
                await stores.close()

            thread.run(stop())
    assert first == 200
    assert (status, error_code(body)) == (400, "Client.InvalidMessage")
    assert b"replay" in body
