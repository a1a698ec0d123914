"""The e-services' writes on SQLite and PostgreSQL (docs/spec/eservices.md §4): one
transaction, after every check; a refusal writes nothing. The registers are a stub
client here (the exchange path is tested in test_eservices_demo.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

from sild.embedded import free_port, start_embedded
from sild.eservices.company import create_company_app
from sild.eservices.exchange import RegisterClient
from sild.eservices.taxreturn import create_taxreturn_app
from sild.store import make_engine, migrate
from sild.store.eservices_tables import es_companies, es_tax_returns

ADULT, MINOR = "EE38001085718", "EE61802106262"


class StubRegisters(RegisterClient):
    """Answers as the registers would; counts the calls."""

    def __init__(self) -> None:
        super().__init__("http://unused", "DEMO/GOV/1/x", {})
        self.calls: list[str] = []

    async def get(self, register: str, path: str, *, subject: str, purpose: str, user: str,
                  emergency: str | None = None, query: Mapping[str, str] | None = None
                  ) -> dict[str, Any] | None:
        self.calls.append(f"{register}/{path}")
        if register == "population":
            born = "1980-01-08" if subject == ADULT else "2018-02-10"
            return {"personalCode": subject, "givenName": "A", "surname": "B",
                    "birthDate": born, "residency": "resident"}
        if register == "tax":
            return {"personalCode": subject, "income": [
                {"employer": "10000001", "year": 2025, "gross": "20000.00",
                 "withheld": "4400.00"}]}
        return None


async def _serve(app: Any, calls: list[tuple[str, str, str, object]]
                 ) -> list[tuple[int, dict[str, Any]]]:
    port = free_port()
    server, task = await start_embedded(app, "127.0.0.1", port, lifespan="on")
    out = []
    try:
        async with aiohttp.ClientSession() as s:
            for method, path, user, body in calls:
                async with s.request(method, f"http://127.0.0.1:{port}{path}",
                                     headers={"X-Road-UserId": user},
                                     data=json.dumps(body) if body is not None else None
                                     ) as r:
                    out.append((r.status, json.loads(await r.read())))
    finally:
        server.should_exit = True
        await task
    return out


def _count(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        n: int = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
        return n


def test_company_written_once_and_refusals_write_nothing(db_url: str) -> None:
    """One company; the same name (other case), a minor and a long name add no row."""
    engine = make_engine(db_url)
    migrate(engine, "eservices")
    stub = StubRegisters()
    answers = asyncio.run(_serve(create_company_app(stub, engine), [
        ("POST", "/api/companies", ADULT, {"name": "Põhja Sild OÜ", "address": "Tartu"}),
        ("POST", "/api/companies", ADULT, {"name": "PÕHJA SILD OÜ", "address": "Tartu"}),
        ("POST", "/api/companies", MINOR, {"name": "Other OÜ", "address": "Tartu"}),
        ("POST", "/api/companies", ADULT, {"name": "x" * 101, "address": "Tartu"}),
    ]))
    assert [a[0] for a in answers] == [201, 409, 409, 400]
    assert _count(engine, es_companies) == 1
    engine.dispose()


def test_oversize_field_asks_no_register(db_url: str) -> None:
    """Bad input is refused before the exchange is used at all."""
    engine = make_engine(db_url)
    migrate(engine, "eservices")
    stub = StubRegisters()
    answers = asyncio.run(_serve(create_company_app(stub, engine), [
        ("POST", "/api/companies", ADULT, {"name": "A OÜ", "address": "y" * 201})]))
    assert answers[0][0] == 400
    assert stub.calls == []
    engine.dispose()


def test_tax_return_filed_once(db_url: str) -> None:
    """Confirm writes one row with the computed refund; a second confirm is 409."""
    engine = make_engine(db_url)
    migrate(engine, "eservices")
    answers = asyncio.run(_serve(create_taxreturn_app(StubRegisters(), engine), [
        ("POST", "/api/return/confirm", ADULT, {"year": 2025}),
        ("POST", "/api/return/confirm", ADULT, {"year": 2025}),
        ("POST", "/api/return/confirm", ADULT, {"year": "2025x"}),
    ]))
    assert [a[0] for a in answers] == [201, 409, 400]
    # 22 % of (20,000.00 − 7,848.00) = 2,673.44; withheld 4,400.00 → refund 1,726.56
    assert answers[0][1]["due"] == "-1726.56"
    assert _count(engine, es_tax_returns) == 1
    engine.dispose()


@pytest.mark.parametrize("body", [b"[1]", b"not json"])
def test_company_body_not_an_object(tmp_path: Any, body: bytes) -> None:
    """A body that is not a JSON object: 400, nothing written."""
    engine = make_engine(f"sqlite:///{tmp_path}/e.db")
    migrate(engine, "eservices")

    async def run() -> int:
        port = free_port()
        server, task = await start_embedded(create_company_app(StubRegisters(), engine),
                                            "127.0.0.1", port, lifespan="on")
        try:
            async with aiohttp.ClientSession() as s, s.post(
                    f"http://127.0.0.1:{port}/api/companies", data=body,
                    headers={"X-Road-UserId": ADULT}) as r:
                return r.status
        finally:
            server.should_exit = True
            await task

    assert asyncio.run(run()) == 400
    assert _count(engine, es_companies) == 0
    engine.dispose()
