"""Without a valid global configuration a gateway fails closed (research/xroad.md §3.5)."""

from __future__ import annotations

import time
from pathlib import Path

from sild.localnet import LocalNet
from sild.testing.exchange import (
    CLIENT,
    CONSUMER,
    ECHO,
    PROVIDER,
    call,
    error_type,
    grant,
)
from sild.testing.gateway_doubles import MemoryAccess, MemoryLog
from sild.testing.netthread import NetThread


def test_expired_configuration_refuses_traffic(tmp_path: Path) -> None:
    """While the registry is up traffic flows; once the last copy expires: OutdatedGlobalConf."""
    access: dict[str, MemoryAccess] = {}

    def access_factory(s: object, _url: str) -> MemoryAccess:
        access[s.server.server_code] = MemoryAccess()  # type: ignore[attr-defined]
        return access[s.server.server_code]  # type: ignore[attr-defined]

    net = LocalNet.create(tmp_path / "net", [PROVIDER, CONSUMER], instance_id="EE",
                          log_factory=lambda s: MemoryLog(), access_factory=access_factory,
                          expire_seconds=3, refresh_interval=1)
    with NetThread(net) as t:
        from sild.testing.exchange import Net

        n = Net(t, net, {}, access)
        grant(n, ECHO, "/echo")
        url = f"{n.consumer_url()}/r1/{ECHO.path()}"
        assert call(url, headers={"X-Road-Client": str(CLIENT)})[0] == 200
        time.sleep(2.5)  # refreshed at least once: the registry re-signs, still valid
        assert call(url, headers={"X-Road-Client": str(CLIENT)})[0] == 200
        t.run(net.stop_registry())
        time.sleep(4)
        status, _, body = call(url, headers={"X-Road-Client": str(CLIENT)})
        assert (status, error_type(body)) == (500, "Server.ClientProxy.OutdatedGlobalConf")
        status, _, body = call(f"{n.consumer_url()}/listClients",
                               headers={"Accept": "application/json"})
        assert (status, error_type(body)) == (500, "Server.ClientProxy.OutdatedGlobalConf")


def test_no_configuration_at_start_refuses_traffic(tmp_path: Path) -> None:
    """A gateway that never got a configuration starts, and answers OutdatedGlobalConf."""
    import dataclasses

    from sild.core.anchor import encode_anchor, parse_anchor

    net = LocalNet.create(tmp_path / "net", [PROVIDER, CONSUMER], instance_id="EE",
                          log_factory=lambda s: MemoryLog(),
                          access_factory=lambda s, _u: MemoryAccess())
    anchor_path = net.gateway_settings[CONSUMER.server].anchor_path
    anchor = parse_anchor(anchor_path.read_bytes())
    anchor_path.write_bytes(encode_anchor(dataclasses.replace(
        anchor, sources=("http://127.0.0.1:9/globalconf",))))  # nobody listens there
    with NetThread(net):
        status, _, body = call(f"{net.is_url_of(CONSUMER.server)}/r1/{ECHO.path()}",
                               headers={"X-Road-Client": str(CLIENT)})
        assert (status, error_type(body)) == (500, "Server.ClientProxy.OutdatedGlobalConf")
        assert "no valid global configuration" in body.decode()


def test_failed_start_stops_what_started(tmp_path: Path) -> None:
    """If a port is taken, starting the network fails clearly and leaves nothing running."""
    import socket

    import pytest

    from sild.errors import ConfigurationError

    net = LocalNet.create(tmp_path / "net", [PROVIDER, CONSUMER], instance_id="EE",
                          log_factory=lambda s: MemoryLog(),
                          access_factory=lambda s, _u: MemoryAccess())
    host, port = net.gateway_settings[CONSUMER.server].is_listen.rsplit(":", 1)
    thread = NetThread(net)
    with socket.socket() as busy:
        busy.bind((host, int(port)))
        busy.listen()
        with pytest.raises(ConfigurationError, match="cannot listen"):
            thread.__enter__()
    assert not thread.thread.is_alive()
    assert thread.loop.is_closed()
