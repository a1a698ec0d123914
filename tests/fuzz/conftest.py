"""One live network for the fuzz suite (issue 12): registry, two gateways with their
admin APIs, a ledger with a submitter key, a witness — real servers on loopback.

What every fuzz test asserts about every answer (:func:`check_answer`): no traceback,
no hang (each call has a timeout), and no 5xx that is not a protocol error — an X-Road
error body whose code is not ``Server.InternalError`` (X-Road answers ``Server.*``
codes with 500 by design; an unhandled exception is ``Server.InternalError``).

Budget: each test ≤ ~60 s, the folder ≤ 3 min on 2 cores (``max_examples`` below).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sild.core.identifiers import MemberId
from sild.localnet import GatewaySpec, LocalNet
from sild.testing.netthread import NetThread

PROVIDER = GatewaySpec(MemberId("EE", "GOV", "70000001"), "Register", "gw1", ("rr",))
CONSUMER = GatewaySpec(MemberId("EE", "COM", "10000001"), "Clinic", "gw2", ("his",))




@dataclass(frozen=True)
class World:
    registry_url: str
    registry_token: str
    admin_url: str
    admin_token: str
    ledger_url: str
    ledger_credential: str
    ledger_dir: Path


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("fuzz")
    net = LocalNet.create(root / "net", [PROVIDER, CONSUMER], instance_id="EE", ledger=True)
    with NetThread(net):
        gw = net.gateway_settings[PROVIDER.server]
        yield World(
            registry_url=net.registry_url,
            registry_token=net.instance.admin_token(),
            admin_url=f"http://{gw.admin_listen}",
            admin_token=LocalNet.admin_token(gw),
            ledger_url=net.ledger_url,
            ledger_credential=Path(gw.anchoring.credential).read_text().strip(),
            ledger_dir=net.root / "ledger",
        )
