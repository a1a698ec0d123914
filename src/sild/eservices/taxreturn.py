"""A prefilled tax return (docs/spec/eservices.md §5.2): the Tax Board's e-service.

The income employers reported (the tax register) fills the return; the person only
looks and confirms with one call. Estonia's flat rate (22 %) and basic exemption are
applied; the confirmation re-reads the reports (the register is the truth) and writes
the return in one transaction — filed once per person and year.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sild.clock import utc_now
from sild.errors import EServiceRefused, InvalidRequest
from sild.eservices.exchange import RegisterClient
from sild.eservices.web import acting_person, build_app, json_answer, page, read_json, utc_text
from sild.store.eservices_tables import es_tax_returns
from sild.web.shell import Shell

__all__ = ["PURPOSE", "YEARS", "compute", "create_taxreturn_app"]

PURPOSE = "Prefilling the income tax return (Taxation Act §57)"
YEARS = (2023, 2024, 2025)  # the years employers' reports exist for
RATE_PERCENT = 22
EXEMPTION_CENTS = 784_800  # basic exemption, € 7,848 a year


def _cents(text: str) -> int:
    euros, _, cents = text.partition(".")
    return int(euros) * 100 + int(cents or 0)


def _money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def compute(income: list[dict[str, Any]]) -> dict[str, int]:
    """Gross, withheld, tax and due (negative: refund), in cents. Pure."""
    gross = sum(_cents(r["gross"]) for r in income)
    withheld = sum(_cents(r["withheld"]) for r in income)
    tax = max(0, gross - EXEMPTION_CENTS) * RATE_PERCENT // 100
    return {"gross": gross, "withheld": withheld, "tax": tax, "due": tax - withheld}


def _year(value: object) -> int:
    text = str(value) if value is not None else ""
    if not (text.isascii() and text.isdigit() and len(text) == 4 and int(text) in YEARS):
        raise InvalidRequest(f"year must be one of {', '.join(map(str, YEARS))}, "
                             f"not {text[:20]!r}")
    return int(text)


def create_taxreturn_app(client: RegisterClient, engine: Engine) -> Shell:
    async def prefill(person: str, year: int) -> tuple[list[dict[str, Any]], dict[str, int]]:
        answer = await client.get("tax", f"income/{person}", subject=person, purpose=PURPOSE,
                                  user=person, query={"year": str(year)})
        income = answer["income"] if answer else []
        return income, compute(income)

    def filed(person: str, year: int) -> Any:
        with engine.connect() as conn:
            return conn.execute(sa.select(es_tax_returns).where(
                es_tax_returns.c.person == person, es_tax_returns.c.year == year)).first()

    def shown(person: str, year: int, income: list[dict[str, Any]], sums: dict[str, int],
              row: Any) -> dict[str, Any]:
        return {"personalCode": person, "year": year, "income": income,
                "gross": _money(sums["gross"]), "withheld": _money(sums["withheld"]),
                "tax": _money(sums["tax"]), "due": _money(sums["due"]),
                "filed": utc_text(row.filed_at) if row is not None else None}

    async def show(request: Request) -> Response:
        person = acting_person(request)
        year = _year(request.query_params.get("year", str(YEARS[-1])))
        income, sums = await prefill(person, year)
        return json_answer(shown(person, year, income, sums, filed(person, year)))

    async def confirm(request: Request) -> Response:
        person = acting_person(request)
        year = _year((await read_json(request)).get("year"))
        if filed(person, year) is not None:
            raise EServiceRefused(f"the {year} return is already filed")
        income, sums = await prefill(person, year)  # the register's reports, read again
        if not income:
            raise EServiceRefused(f"no income was reported for {year}; nothing to confirm")
        try:
            with engine.begin() as conn:
                conn.execute(es_tax_returns.insert().values(
                    person=person, year=year, gross_cents=sums["gross"],
                    withheld_cents=sums["withheld"], due_cents=sums["due"],
                    filed_at=utc_now()))
        except IntegrityError as e:  # a second confirmation raced the first
            raise EServiceRefused(f"the {year} return is already filed") from e
        return json_answer(shown(person, year, income, sums, filed(person, year)), status=201)

    index = page("Your tax return", "Prefilled from what your employers reported. Check it "
                 "and confirm with one click.", action="/api/return", purpose=PURPOSE,
                 fields=(("user", "Your personal code", ""), ("year", "Year", str(YEARS[-1]))),
                 api=("GET /api/return?year=2025 (X-Road-UserId: the person)",
                      "POST /api/return/confirm {\"year\": 2025}"))
    return build_app([Route("/api/return", show, methods=["GET"]),
                      Route("/api/return/confirm", confirm, methods=["POST"])], client, index)
