"""free_port() on real sockets: servers configured side by side never share a port."""

from __future__ import annotations

from sild.embedded import free_port


def test_free_port_does_not_repeat_a_recent_port() -> None:
    """300 calls in a row give 300 distinct ports (bind(0) alone almost surely repeats)."""
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)

