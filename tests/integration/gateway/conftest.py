"""A running local network, shared by the exchange tests of one module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sild.testing.exchange import Net, setup_services, start_net


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    thread, n = start_net(tmp_path_factory.mktemp("net"))
    with thread:
        setup_services(n)
        yield n
