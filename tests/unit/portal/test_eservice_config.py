"""``[eservice_apis]`` in portal.toml (docs/spec/portal.md §8)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sild.core.identifiers import ServiceId
from sild.errors import ConfigurationError
from sild.portal.config import parse_config

BASE = {"gateway_url": "http://127.0.0.1:8080", "client": "DEMO/GOV/70006317/portal"}


def test_eservice_apis_are_read_as_service_ids(tmp_path: Path) -> None:
    """Each label maps to its service id on the exchange."""
    config = parse_config({**BASE, "eservice_apis": {
        "tax-return": "DEMO/GOV/70000310/taxreturn/taxreturn"}}, tmp_path)
    assert config.eservice_apis == {
        "tax-return": ServiceId.parse("DEMO/GOV/70000310/taxreturn/taxreturn")}


def test_unknown_eservice_label_is_refused(tmp_path: Path) -> None:
    """A label the portal has no page for is a configuration error naming the labels."""
    with pytest.raises(ConfigurationError, match="company, tax-return, family"):
        parse_config({**BASE, "eservice_apis": {"police": "DEMO/GOV/1/x/y"}}, tmp_path)


def test_malformed_eservice_id_is_refused(tmp_path: Path) -> None:
    """A value that is not a service id is a configuration error."""
    with pytest.raises(ConfigurationError, match=r"\[eservice_apis\] company"):
        parse_config({**BASE, "eservice_apis": {"company": "not-an-id"}}, tmp_path)
