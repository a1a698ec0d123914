"""Every register endpoint over real HTTP with valid, unknown and invalid personal codes
(docs/spec/registers.md §4), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sild.gateway.serverconf.openapi import parse_openapi
from sild.registers.generate import Dataset, generate, write
from sild.registers.openapi import ENDPOINTS, REGISTERS
from sild.store import make_engine, migrate
from sild.store.registers_tables import metadata
from sild.testing.exchange import call

UNKNOWN = "EE38001085718"  # valid check digit, not generated with seed 11
BAD_CHECK = "EE38001085719"  # check digit wrong
INVALID = ["EE38001085719", "EE3800108571", "XX38001085718", "hello", "EE" + "9" * 30,
           "JP123456789012", "%3Cscript%3E"]


def _get(url: str) -> tuple[int, Any]:
    status, headers, body = call(url)
    assert headers["content-type"].startswith("application/json"), (url, headers)
    return status, json.loads(body)


def _has(data: Dataset, table: str, column: str) -> str:
    return str(data[table][0][column])


def _parent_with_children(data: Dataset) -> str:
    return str(data["pop_relations"][0]["parent"])


def test_unknown_person_is_not_in_the_data(data: Dataset) -> None:
    """The fixture's 'unknown' code really is unknown (else the 404 tests prove nothing)."""
    assert UNKNOWN not in {p["code"] for p in data["pop_persons"]}


def test_person_and_relatives(served: tuple[str, Any], data: Dataset) -> None:
    """GET /persons/{code}, …/children and …/parents answer the generated rows."""
    url, _ = served
    person = data["pop_persons"][0]
    status, body = _get(f"{url}/population/persons/{person['code']}")
    assert status == 200
    assert body == {"personalCode": person["code"], "givenName": person["given_name"],
                    "surname": person["surname"], "birthDate": person["birth_date"].isoformat(),
                    "sex": person["sex"], "address": person["address"],
                    "residency": person["residency"]}
    parent = _parent_with_children(data)
    children = sorted(r["child"] for r in data["pop_relations"] if r["parent"] == parent)
    status, headers, raw = call(f"{url}/population/persons/{parent}/children")
    body = json.loads(raw)
    assert status == 200
    # the register names every person in the answer for the provider gateway (§5)
    assert headers["sild-data-subject"].split(",") == [parent] + [
        p["personalCode"] for p in body["persons"]]
    assert sorted(p["personalCode"] for p in body["persons"]) == children
    status, body = _get(f"{url}/population/persons/{children[0]}/parents")
    assert parent in {p["personalCode"] for p in body["persons"]}
    # a bare 11-digit code is read as Estonian
    if person["code"].startswith("EE"):
        assert _get(f"{url}/population/persons/{person['code'][2:]}")[0] == 200


def test_health_visits_and_prescriptions(served: tuple[str, Any], data: Dataset) -> None:
    """GET /visits/{code} and /prescriptions/{code}: the patient's rows, newest first."""
    url, _ = served
    code = _has(data, "health_prescriptions", "person")
    status, body = _get(f"{url}/health/visits/{code}")
    assert status == 200
    mine = [v for v in data["health_visits"] if v["person"] == code]
    assert len(body["visits"]) == len(mine)
    dates = [v["date"] for v in body["visits"]]
    assert dates == sorted(dates, reverse=True)
    status, body = _get(f"{url}/health/prescriptions/{code}")
    assert status == 200
    assert {p["drug"] for p in body["prescriptions"]} == {
        p["drug"] for p in data["health_prescriptions"] if p["person"] == code}


def test_business_company_and_roles(served: tuple[str, Any], data: Dataset) -> None:
    """GET /companies/{regCode} with its board, /roles/{code} for a founder."""
    url, _ = served
    company = data["biz_companies"][0]
    status, body = _get(f"{url}/business/companies/{company['reg_code']}")
    assert status == 200
    assert body["name"] == company["name"]
    founder = next(m for m in body["board"] if m["role"] == "founder")
    status, body = _get(f"{url}/business/roles/{founder['personalCode']}")
    assert status == 200
    assert company["reg_code"] in {r["regCode"] for r in body["roles"]}
    assert _get(f"{url}/business/companies/12345678")[0] == 404
    for bad in ("1234567", "abcdefgh", "123456789"):
        status, body = _get(f"{url}/business/companies/{bad}")
        assert (status, body["type"]) == (400, "Client.InvalidRequest"), bad


def test_tax_income_by_year(served: tuple[str, Any], data: Dataset) -> None:
    """GET /income/{code}?year= filters one year; money is euros with two decimals."""
    url, _ = served
    code = _has(data, "tax_income", "person")
    years = {r["year"] for r in data["tax_income"] if r["person"] == code}
    status, body = _get(f"{url}/tax/income/{code}")
    assert status == 200
    assert {r["year"] for r in body["income"]} == years
    year = min(years)
    row = next(r for r in data["tax_income"] if r["person"] == code and r["year"] == year)
    status, body = _get(f"{url}/tax/income/{code}?year={year}")
    assert [r["gross"] for r in body["income"]] == [
        f"{row['gross_cents'] // 100}.{row['gross_cents'] % 100:02d}"]
    assert _get(f"{url}/tax/income/{code}?year=1995")[1]["income"] == []
    fullwidth_2024 = "%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%94"
    for bad in ("twenty", "-1", "12345", "1800", fullwidth_2024):
        status, body = _get(f"{url}/tax/income/{code}?year={bad}")
        assert (status, body["type"]) == (400, "Client.InvalidRequest"), bad


def test_vehicles_and_land(served: tuple[str, Any], data: Dataset) -> None:
    """GET /vehicles/{code} and /properties/{code}: what the person owns, with shares."""
    url, _ = served
    owner = _has(data, "veh_vehicles", "owner")
    status, body = _get(f"{url}/vehicles/vehicles/{owner}")
    assert status == 200
    assert {v["plate"] for v in body["vehicles"]} == {
        v["plate"] for v in data["veh_vehicles"] if v["owner"] == owner}
    shared = next((o for o in data["land_owners"] if o["share"] == "1/2"),
                  data["land_owners"][0])
    status, body = _get(f"{url}/land/properties/{shared['person']}")
    assert status == 200
    mine = {p["partNumber"]: p["share"] for p in body["properties"]}
    assert mine[shared["part_number"]] == shared["share"]


_PERSONAL = [(r, path) for r in REGISTERS for path, *_ in ENDPOINTS[r] if "{code}" in path]


@pytest.mark.parametrize(("register", "path"), _PERSONAL)
def test_unknown_person_is_404(served: tuple[str, Any], register: str, path: str) -> None:
    """A valid code this register does not hold: 404 Client.NotFound, JSON."""
    url, _ = served
    status, body = _get(f"{url}/{register}{path.replace('{code}', UNKNOWN)}")
    assert status == 404
    assert body["type"] == "Client.NotFound"


@pytest.mark.parametrize(("register", "path"), _PERSONAL)
def test_invalid_codes_are_400(served: tuple[str, Any], register: str, path: str) -> None:
    """Not a personal code (check digit, length, country, text, script): 400, JSON."""
    url, _ = served
    for bad in INVALID:
        status, body = _get(f"{url}/{register}{path.replace('{code}', bad)}")
        assert status == 400, (bad, body)
        assert body["type"] == "Client.InvalidPersonalCode", bad
        assert set(body) == {"type", "message", "detail"}  # JSON, never an HTML echo


def test_openapi_served_per_register(served: tuple[str, Any]) -> None:
    """GET /{register}/openapi.json parses with the gateway's parser; unknown paths are 404
    JSON and other methods 405."""
    url, _ = served
    for register in REGISTERS:
        status, _, body = call(f"{url}/{register}/openapi.json")
        assert status == 200
        assert len(parse_openapi(body)) == len(ENDPOINTS[register])
    assert _get(f"{url}/population/nothing")[0] == 404
    status, _, _ = call(f"{url}/population/persons/{UNKNOWN}", method="POST", body=b"{}")
    assert status == 405
    status, _, _ = call(f"{url}/population/persons/{UNKNOWN}", method="POST", body=b"x" * 5000)
    assert status == 413


def _dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {name: sorted(tuple(str(v) for v in row) for row in
                                 conn.execute(sa.select(table)).all())
                    for name, table in metadata.tables.items()}
    finally:
        engine.dispose()


def test_stored_rows_are_deterministic(database_factory: Any) -> None:
    """Two databases generated with one seed and size hold the same rows; another seed not."""
    urls = [database_factory(name) for name in ("a", "b", "c")]
    for url, seed in zip(urls, (21, 21, 22), strict=True):
        engine = make_engine(url)
        migrate(engine, "registers")
        write(engine, generate(seed=seed, size="small"))
        engine.dispose()
    a, b, c = (_dump(u) for u in urls)
    assert a == b
    assert sum(len(rows) for rows in a.values()) > 500
    assert a["pop_persons"] != c["pop_persons"]


def test_writing_twice_is_refused_and_leaves_the_rows(db_url: str) -> None:
    """A second write into a filled database is refused; nothing is added."""
    from sild.errors import InvalidStateTransition

    engine = make_engine(db_url)
    migrate(engine, "registers")
    data = generate(seed=1, size="small")
    write(engine, data)
    with pytest.raises(InvalidStateTransition):
        write(engine, generate(seed=2, size="small"))
    with engine.connect() as conn:
        n = conn.execute(sa.select(sa.func.count()).select_from(
            metadata.tables["pop_persons"])).scalar_one()
    engine.dispose()
    assert n == len(data["pop_persons"])


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(min_size=1, max_size=60))
def test_any_path_text_is_a_json_error_or_an_answer(served: tuple[str, Any], text: str) -> None:
    """Whatever a stranger puts where the code goes: 200, 400 or 404 JSON, never a 500."""
    url, _ = served
    quoted = quote(text, safe="")
    for register, path in (("population", "/persons/{code}/children"),
                           ("tax", "/income/{code}"), ("business", "/companies/{regCode}")):
        status, headers, body = call(
            f"{url}/{register}{path.replace('{code}', quoted).replace('{regCode}', quoted)}")
        assert status in (200, 400, 404), (text, status, body)
        assert headers["content-type"].startswith("application/json")
        json.loads(body)
