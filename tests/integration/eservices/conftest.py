"""One running demo country (``sild demo --size small``) for the e-service tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sild.demo_country import DemoCountry
from sild.testing.demo_run import running_demo


@pytest.fixture(scope="module")
def country(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoCountry]:
    with running_demo(tmp_path_factory.mktemp("eservices") / "demo") as demo:
        yield demo.country
