"""A register behind a real gateway pair (sild.localnet.LocalNet): the population and
health registers as personal-data services, fetched through the exchange with
Sild-Data-Subject and Sild-Purpose, listed by listMethods from their OpenAPI
descriptions, and recorded in the provider's usage log (docs/spec/registers.md §5;
ARCHITECTURE.md §6), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sild.core.access import parse_subject
from sild.gateway.serverconf.store import PersonalData
from sild.localnet import LocalNet
from sild.registers.app import create_registers_app
from sild.registers.generate import Dataset, generate, write
from sild.registers.openapi import openapi_json
from sild.store import make_engine, migrate
from sild.testing.exchange import CLIENT, CONSUMER, PROVIDER, call
from sild.testing.netthread import NetThread
from sild.testing.servers import serve_asgi
from sild.tracker.store import UsageStore

POP = PROVIDER.member.subsystem("rr").service("population")
HEALTH = PROVIDER.member.subsystem("rr").service("health")
REG = str(POP.subsystem)


@pytest.fixture
def net(tmp_path: Path, database_factory: Callable[[str], str]
        ) -> Iterator[tuple[LocalNet, Dataset]]:
    data = generate(seed=3, size="small")
    registers = make_engine(database_factory("registers"))
    migrate(registers, "registers")
    write(registers, data)
    net = LocalNet.create(tmp_path / "net", [PROVIDER, CONSUMER], instance_id="EE",
                          database_url=database_factory)
    with NetThread(net), serve_asgi(create_registers_app(registers)) as url:
        sc = net.stores[PROVIDER.server].serverconf
        for service, category in ((POP, "population"), (HEALTH, "health")):
            sc.add_service(service.subsystem, service.service_code, f"{url}/{category}", timeout=5,
                           openapi=openapi_json(category))
            sc.grant(service, parse_subject(str(CLIENT)))
            sc.declare_personal_data(service, PersonalData(categories=(category,)))
        yield net, data
    registers.dispose()


def _fetch(net: LocalNet, service: Any, path: str, **headers: str) -> tuple[int, Any]:
    status, _, body = call(f"{net.is_url_of(CONSUMER.server)}/r1/{service.path()}{path}",
                           headers={"X-Road-Client": str(CLIENT), **headers})
    return status, json.loads(body)


def test_a_person_fetched_through_the_exchange_is_recorded(
        net: tuple[LocalNet, Dataset]) -> None:
    """GET /persons/{code} through both gateways answers the person and the provider
    gateway records the use with its purpose and category."""
    ln, data = net
    person = data["pop_persons"][0]
    status, body = _fetch(ln, POP, f"/persons/{person['code']}",
                          **{"Sild-Data-Subject": person["code"],
                             "Sild-Purpose": "Company registration",
                             "X-Road-UserId": "EE38001085718"})
    assert status == 200, body
    assert body["personalCode"] == person["code"]
    assert body["surname"] == person["surname"]
    engine = make_engine(ln.gateway_settings[PROVIDER.server].database_url)
    try:
        total, usages = UsageStore(engine).find(REG, person["code"])
    finally:
        engine.dispose()
    assert total == 1
    assert usages[0].action == "Company registration"
    assert usages[0].categories == ("population",)


def test_health_data_needs_the_subject_and_purpose(net: tuple[LocalNet, Dataset]) -> None:
    """Without Sild-Data-Subject the provider gateway refuses a personal-data service;
    with it, the patient's visits come through."""
    ln, data = net
    code = str(data["health_visits"][0]["person"])
    status, body = _fetch(ln, HEALTH, f"/visits/{code}", **{"Sild-Purpose": "Treatment"})
    assert status == 400
    assert body["type"].endswith("MissingHeader")
    status, body = _fetch(ln, HEALTH, f"/visits/{code}",
                          **{"Sild-Data-Subject": code, "Sild-Purpose": "Treatment"})
    assert status == 200, body
    assert body["visits"]


def test_an_unknown_person_is_404_through_the_exchange(net: tuple[LocalNet, Dataset]) -> None:
    """The register's 404 JSON reaches the consumer."""
    ln, _ = net
    unknown = "EE38001085718"
    status, body = _fetch(ln, POP, f"/persons/{unknown}",
                          **{"Sild-Data-Subject": unknown, "Sild-Purpose": "Check"})
    assert status == 404
    assert body["type"] == "Client.NotFound"


def test_list_methods_shows_the_registers_endpoints(net: tuple[LocalNet, Dataset]) -> None:
    """listMethods lists the endpoints parsed from the registers' OpenAPI descriptions;
    getOpenAPI returns the description."""
    ln, _ = net
    status, listed = _fetch(ln, POP.subsystem, "/listMethods")
    assert status == 200
    by_code = {s["service_code"]: s for s in listed["service"]}
    assert {e["path"] for e in by_code["population"]["endpoint_list"]} == {
        "/persons/*", "/persons/*/children", "/persons/*/parents"}
    assert {e["path"] for e in by_code["health"]["endpoint_list"]} == {
        "/visits/*", "/prescriptions/*"}
    status, doc = _fetch(ln, POP.subsystem, "/getOpenAPI?serviceCode=health")
    assert status == 200
    assert doc["openapi"].startswith("3.")


def test_children_named_by_the_register_are_recorded_too(
        net: tuple[LocalNet, Dataset]) -> None:
    """A parent's /children answer names each child in Sild-Data-Subject: the provider
    gateway records a use of every child's data (flag named-by-provider) and strips the
    header before the consumer sees the answer (docs/spec/tracker.md (5))."""
    ln, data = net
    parent = str(data["pop_relations"][0]["parent"])
    children = [r["child"] for r in data["pop_relations"] if r["parent"] == parent]
    status, headers, body = call(
        f"{ln.is_url_of(CONSUMER.server)}/r1/{POP.path()}/persons/{parent}/children",
        headers={"X-Road-Client": str(CLIENT), "Sild-Data-Subject": parent,
                 "Sild-Purpose": "Acting for a child"})
    assert status == 200, body
    assert "sild-data-subject" not in headers
    assert sorted(p["personalCode"] for p in json.loads(body)["persons"]) == sorted(children)
    engine = make_engine(ln.gateway_settings[PROVIDER.server].database_url)
    try:
        store = UsageStore(engine)
        for child in children:
            total, usages = store.find(REG, child)
            assert total == 1, child
            assert "named-by-provider" in usages[0].flags
            assert usages[0].action == "Acting for a child"
        assert store.find(REG, parent)[0] == 1
    finally:
        engine.dispose()
