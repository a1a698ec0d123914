"""The IS port accepts new connections at `[admission] accept_rate` (docs/spec/exchange.md
§8, "before any of this, the listening socket"; sild.web.listen) on a real gateway: a
burst past the bucket waits in the kernel's queue and is answered later, none lost."""

from __future__ import annotations

import dataclasses
import selectors
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from sild.core.identifiers import MemberId
from sild.gateway.admission import AdmissionSettings
from sild.localnet import GatewaySpec, LocalNet
from sild.testing.gateway_doubles import MemoryAccess, MemoryLog
from sild.testing.netthread import NetThread

PROVIDER = GatewaySpec(MemberId("EE", "GOV", "70000001"), "Register", "gw1", ("rr",))
CONSUMER = GatewaySpec(MemberId("EE", "COM", "10000001"), "Clinic", "gw2", ("his",))
RATE, BURST, CONNECTIONS = 20.0, 5.0, 40


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNet]:
    n = LocalNet.create(tmp_path_factory.mktemp("accept"), [PROVIDER, CONSUMER],
                        instance_id="EE", log_factory=lambda s: MemoryLog(),
                        access_factory=lambda s, is_url: MemoryAccess())
    consumer = n.gateway_settings[CONSUMER.server]
    n.gateway_settings[CONSUMER.server] = dataclasses.replace(consumer, admission=(
        AdmissionSettings(accept_rate=RATE, accept_burst=BURST)))
    with NetThread(n):
        yield n


def test_a_burst_of_new_connections_is_paced_and_all_answered(net: LocalNet) -> None:
    parts = urlsplit(net.is_url_of(CONSUMER.server))
    assert parts.hostname is not None
    assert parts.port is not None
    request = (f"GET /listClients HTTP/1.1\r\nHost: {parts.netloc}\r\n"
               "Connection: close\r\n\r\n").encode()
    selector = selectors.DefaultSelector()
    start = time.monotonic()
    for _ in range(CONNECTIONS):  # the kernel completes these before any accept()
        c = socket.create_connection((parts.hostname, parts.port), timeout=5)
        c.sendall(request)
        c.setblocking(False)
        selector.register(c, selectors.EVENT_READ)
    answered: list[float] = []
    while len(answered) < CONNECTIONS and time.monotonic() - start < 15:
        for key, _ in selector.select(timeout=0.5):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            head = sock.recv(64)
            assert head.startswith(b"HTTP/1.1 200"), head
            answered.append(time.monotonic() - start)
            selector.unregister(sock)
            sock.close()
    assert len(answered) == CONNECTIONS  # none lost: the rest waited in the queue
    # At most the bucket plus the rate since the start were accepted by each moment
    # (a slow machine only accepts fewer).
    for n, at in enumerate(sorted(answered), 1):
        assert n <= BURST + RATE * at + 1, (n, at)
    assert sorted(answered)[-1] >= (CONNECTIONS - BURST - 1) / RATE
