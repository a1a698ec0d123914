"""free_port() on real sockets: servers configured side by side never share a port."""

from __future__ import annotations

import pytest

from sild.embedded import free_port


def test_free_port_does_not_repeat_a_recent_port() -> None:
    """300 calls in a row give 300 distinct ports (bind(0) alone almost surely repeats)."""
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)



@pytest.mark.parametrize("share", ["0/3", "2/3", "1/2"])
def test_free_port_keeps_to_its_share(share: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """SILD_PORT_SHARE=K/N: only ports with (port // 2) ≡ K (mod N), so parallel test
    processes with different K never hand out the same port."""
    monkeypatch.setenv("SILD_PORT_SHARE", share)
    index, count = (int(x) for x in share.split("/"))
    assert {(free_port() // 2) % count for _ in range(30)} == {index}


@pytest.mark.parametrize("share", ["", "3/3", "x/2", "1"])
def test_a_malformed_share_is_no_share(share: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SILD_PORT_SHARE", share)
    assert len({(free_port() // 2) % 2 for _ in range(60)}) == 2  # both shares turn up
