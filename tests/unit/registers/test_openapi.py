"""The registers' OpenAPI descriptions parse with the gateway's own parser and list
exactly the endpoints the apps serve (docs/spec/registers.md §4; docs/spec/access.md §4)."""

from __future__ import annotations

import json

import pytest

from sild.core.access import Endpoint
from sild.gateway.serverconf.openapi import parse_openapi
from sild.registers.openapi import ENDPOINTS, REGISTERS, openapi_json

EXPECTED = {
    "population": {"/persons/*", "/persons/*/children", "/persons/*/parents"},
    "health": {"/visits/*", "/prescriptions/*"},
    "business": {"/companies/*", "/roles/*"},
    "tax": {"/income/*"},
    "vehicles": {"/vehicles/*"},
    "land": {"/properties/*"},
}


@pytest.mark.parametrize("register", REGISTERS)
def test_the_gateway_parser_lists_the_endpoints(register: str) -> None:
    """parse_openapi (what listMethods uses) yields one GET per served path."""
    endpoints = parse_openapi(openapi_json(register))
    assert set(endpoints) == {Endpoint("GET", p) for p in EXPECTED[register]}


@pytest.mark.parametrize("register", REGISTERS)
def test_the_description_is_valid_openapi_3(register: str) -> None:
    """An independent validator (openapi-spec-validator) accepts each description."""
    from openapi_spec_validator import validate

    validate(json.loads(openapi_json(register)))


def test_the_description_is_deterministic_and_matches_the_route_table() -> None:
    """Same bytes each time; paths are the route table's."""
    for register in REGISTERS:
        assert openapi_json(register) == openapi_json(register)
        doc = json.loads(openapi_json(register))
        assert set(doc["paths"]) == {e[0] for e in ENDPOINTS[register]}
