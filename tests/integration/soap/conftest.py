"""A running local network with a SOAP provider IS, shared by one module's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sild.testing.soap_net import SoapNet, soap_net


@pytest.fixture(scope="module")
def soapnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoapNet]:
    with soap_net(tmp_path_factory.mktemp("soapnet")) as s:
        yield s
