"""Register a company (docs/spec/eservices.md §5.1): the Centre of Registers' e-service.

The founder is the acting person; the service pulls them from the population register
(name, birth date, residency — e-residents included) and their roles from the business
register, checks them, and only then writes the new company, in one transaction.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sild.clock import utc_now
from sild.errors import EServiceRefused, InvalidRequest, NotFound
from sild.eservices.exchange import RegisterClient
from sild.eservices.web import (
    acting_person,
    build_app,
    json_answer,
    page,
    read_json,
    text_field,
    utc_text,
)
from sild.store.eservices_tables import es_companies
from sild.web.shell import Shell

__all__ = ["PURPOSE", "create_company_app"]

PURPOSE = "Registering a company (Commercial Code §22)"
_MAX_ROLES = 20  # a founder with more companies is sent to a notary (demo rule)


def _adult(birth: str, today: dt.date) -> bool:
    born = dt.date.fromisoformat(birth)
    return (today.year - born.year - ((today.month, today.day) < (born.month, born.day))) >= 18


def create_company_app(client: RegisterClient, engine: Engine) -> Shell:
    async def register(request: Request) -> Response:
        # (1) everything the caller sent is checked before any register is asked
        founder = acting_person(request)
        data = await read_json(request)
        name = text_field(data, "name", limit=100)
        address = text_field(data, "address", limit=200)
        # (2) the founder from the population register, (3) their roles from the business one
        who = await client.get("population", f"persons/{founder}", subject=founder,
                               purpose=PURPOSE, user=founder)
        if who is None:
            raise EServiceRefused("the founder is not in the population register")
        if not _adult(who["birthDate"], utc_now().date()):
            raise EServiceRefused("a founder must be at least 18 years old")
        roles = await client.get("business", f"roles/{founder}", subject=founder,
                                 purpose=PURPOSE, user=founder)
        held = roles["roles"] if roles else []
        if len(held) >= _MAX_ROLES:
            raise EServiceRefused(f"the founder already holds {len(held)} roles")
        if any(r["name"].casefold() == name.casefold() for r in held):
            raise EServiceRefused(f"the founder already has a company named {name!r}")
        # (4) one transaction: the company exists whole or not at all
        key = name.casefold()
        rng = random.SystemRandom()
        for _ in range(5):
            reg = f"9{rng.randrange(10**7):07d}"  # 9…: registered here, not generated
            try:
                with engine.begin() as conn:
                    if conn.execute(sa.select(es_companies.c.reg_code).where(
                            es_companies.c.name_key == key)).first() is not None:
                        raise EServiceRefused(f"a company named {name!r} is already "
                                              "registered")
                    conn.execute(es_companies.insert().values(
                        reg_code=reg, name=name, name_key=key, founder=founder,
                        address=address, registered_at=utc_now()))
                break
            except IntegrityError as e:  # the same name at the same moment, or the code
                with engine.connect() as conn:
                    if conn.execute(sa.select(es_companies.c.reg_code).where(
                            es_companies.c.name_key == key)).first() is not None:
                        raise EServiceRefused(f"a company named {name!r} is already "
                                              "registered") from e
        else:  # pragma: no cover - five collisions in 10^7 codes
            raise EServiceRefused("no free registry code; try again")
        return json_answer({
            "regCode": reg, "name": name, "address": address,
            "founder": {k: who[k] for k in ("personalCode", "givenName", "surname",
                                            "residency")},
            "founderRoles": held}, status=201)

    def show(request: Request) -> Response:
        reg = str(request.path_params["regCode"])
        if not (len(reg) == 8 and reg.isascii() and reg.isdigit()):
            raise InvalidRequest(f"{reg[:20]!r} is not an 8-digit registry code")
        with engine.connect() as conn:
            row = conn.execute(sa.select(es_companies).where(
                es_companies.c.reg_code == reg)).first()
        if row is None:
            raise NotFound("no company with this registry code was registered here")
        answer: dict[str, Any] = {"regCode": row.reg_code, "name": row.name,
                                  "address": row.address, "founder": row.founder,
                                  "registeredAt": utc_text(row.registered_at)}
        return json_answer(answer)

    index = page("Register a company", "Found a private limited company (OÜ). Your name, "
                 "birth date and residency come from the population register and your "
                 "existing roles from the business register — you type only what is new.",
                 action="/api/companies", fields=(), purpose=PURPOSE,
                 api=("POST /api/companies {\"name\": \"…\", \"address\": \"…\"} "
                      "(X-Road-UserId: the founder)", "GET /api/companies/{regCode}"))
    return build_app([Route("/api/companies", register, methods=["POST"]),
                      Route("/api/companies/{regCode}", show, methods=["GET"])],
                     client, index)
