"""Gateways with anchoring on, exchanging over real HTTP and mutual TLS on SQLite and
PostgreSQL: the ledger goes down, traffic goes on, roots queue, then past the limit the
gateway answers TimestampingFailed, and when the ledger is back it catches up and serves
again (docs/spec/anchoring.md §4)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sild.cli import main
from sild.core.access import parse_subject
from sild.gateway.config import AnchoringSettings
from sild.localnet import LocalNet
from sild.testing.anchoring import LedgerServer
from sild.testing.exchange import CLIENT, CONSUMER, ECHO, PROVIDER, call, error_type
from sild.testing.netthread import NetThread

LIMIT = 2.0  # max_unanchored in these tests (4 h in production)


@pytest.fixture
def running(tmp_path: Path, database_factory: Callable[[str], str],
            ) -> Iterator[tuple[LocalNet, LedgerServer]]:
    ledger = LedgerServer(tmp_path / "ledger")
    ledger.start()
    net = LocalNet.create(tmp_path / "net", [PROVIDER, CONSUMER], instance_id="EE",
                          database_url=database_factory)
    anchoring = AnchoringSettings(ledger_url=ledger.url, period=0.2, max_unanchored=LIMIT)
    for server, s in list(net.gateway_settings.items()):
        s = dataclasses.replace(s, anchoring=anchoring)
        s.write()
        net.gateway_settings[server] = s
    try:
        with NetThread(net):
            sc = net.stores[PROVIDER.server].serverconf
            sc.add_service(ECHO.subsystem, "echo", net.is_url + "/echo", timeout=5)
            sc.grant(ECHO, parse_subject(str(CLIENT)))
            yield net, ledger
    finally:
        ledger.stop()


def _echo(net: LocalNet) -> tuple[int, str]:
    status, _, body = call(f"{net.is_url_of(CONSUMER.server)}/r1/{ECHO.path()}",
                           method="POST", body=b"{}", headers={"X-Road-Client": str(CLIENT)})
    return status, "" if status == 200 else error_type(body)


def _until(what: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(0.05)


def _pending(net: LocalNet) -> int:
    """Rounds waiting for a receipt, on both gateways."""
    total = 0
    for gw in net.gateways.values():
        assert gw.anchorer is not None
        total += gw.anchorer.status().pending
    return total


def _all_anchored(net: LocalNet) -> bool:
    """Every row of both gateways is in a round that has its receipt."""
    for gw in net.gateways.values():
        assert gw.anchorer is not None
        st = gw.anchorer.status()
        if st.pending or st.waiting_records or not st.rounds:
            return False
    return True


def test_exchanges_are_anchored_and_audit_passes(
        running: tuple[LocalNet, LedgerServer], tmp_path: Path) -> None:
    """Both gateways anchor their rows; `sild audit` is clean for each with the ledger key."""
    net, ledger = running
    for _ in range(5):
        assert _echo(net) == (200, "")
    _until(lambda: _all_anchored(net), 10)
    key = tmp_path / "vkey"
    key.write_text(ledger.vkey)
    for s in net.gateway_settings.values():
        assert main(["audit", "--dir", str(s.root), "--ledger-key", str(key)]) == 0


def test_ledger_down_then_timestamping_failed_then_recovery(
        running: tuple[LocalNet, LedgerServer], tmp_path: Path) -> None:
    """Ledger down: traffic goes on and roots queue; past the limit TimestampingFailed;
    ledger back: the queue drains and traffic resumes, and the audit is clean."""
    net, ledger = running
    assert _echo(net) == (200, "")
    _until(lambda: _all_anchored(net), 10)
    ledger.stop()
    down = time.monotonic()
    assert _echo(net) == (200, "")  # traffic continues
    _until(lambda: _pending(net) >= 1, 5)  # roots queue
    # Past the limit (counted from the first queued round) the gateway refuses.
    _until(lambda: _echo(net)[1] == "Server.ClientProxy.TimestampingFailed", LIMIT + 5)
    assert time.monotonic() - down >= LIMIT
    status, code = _echo(net)
    assert (status, code) == (503, "Server.ClientProxy.TimestampingFailed")
    ledger.start()
    _until(lambda: _echo(net)[0] == 200, 15)
    _until(lambda: _all_anchored(net), 15)
    key = tmp_path / "vkey"
    key.write_text(ledger.vkey)
    for s in net.gateway_settings.values():
        assert main(["audit", "--dir", str(s.root), "--ledger-key", str(key)]) == 0
