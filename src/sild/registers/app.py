"""The base registries' information systems over HTTP (docs/spec/registers.md §4).

One Starlette app per register, each reading only its own tables, and
:func:`create_registers_app` mounting them under ``/population``, ``/health``,
``/business``, ``/tax``, ``/vehicles`` and ``/land`` — each register is one service URL
for a gateway (``http://host:8486/health``) with its description at ``…/openapi.json``.

A personal-data endpoint takes the person in the path as ``CC<code>``
(``EE38001085718``; a bare 11-digit code is read as Estonian). Not a valid personal
code: 400 ``Client.InvalidPersonalCode``; a person this register does not know: 404
``Client.NotFound`` — X-Road style JSON through :func:`sild.web.errors.answer_for`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from sild.core.usage import SUBJECT_HEADER, parse_subject
from sild.errors import InvalidRequest, NotFound
from sild.registers.openapi import ENDPOINTS, REGISTERS, openapi_json
from sild.store import registers_tables as t
from sild.web.shell import Shell, xroad_error_handlers

__all__ = ["DEFAULT_PORT", "create_register_app", "create_registers_app"]

DEFAULT_PORT = 8486
_MAX_BODY = 1024  # GET-only services: nothing to upload

Handler = Callable[[Connection, Request], dict[str, Any]]


def person_code(request: Request) -> str:
    """The path's personal code as ``CC<code>``; :class:`InvalidPersonalCode` if not one."""
    text = str(request.path_params["code"])
    return parse_subject(f"EE{text}" if text[:1].isdigit() else text)


def _day(d: dt.date) -> str:
    return d.isoformat()


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _person_row(row: Any) -> dict[str, Any]:
    return {"personalCode": row.code, "givenName": row.given_name, "surname": row.surname,
            "birthDate": _day(row.birth_date), "sex": row.sex, "address": row.address,
            "residency": row.residency}


# -- population -------------------------------------------------------------------------

def _find_person(conn: Connection, code: str) -> Any:
    row = conn.execute(sa.select(t.pop_persons).where(t.pop_persons.c.code == code)).first()
    if row is None:
        raise NotFound("no such person in the population register")
    return row


def _person(conn: Connection, request: Request) -> dict[str, Any]:
    return _person_row(_find_person(conn, person_code(request)))


def _relatives(mine: str, theirs: str) -> Handler:
    def handler(conn: Connection, request: Request) -> dict[str, Any]:
        code = _find_person(conn, person_code(request)).code
        r = t.pop_relations
        rows = conn.execute(
            sa.select(t.pop_persons).join(r, r.c[theirs] == t.pop_persons.c.code)
            .where(r.c[mine] == code).order_by(t.pop_persons.c.birth_date,
                                               t.pop_persons.c.code)).all()
        return {"personalCode": code, "persons": [_person_row(p) for p in rows]}
    return handler


# -- health -----------------------------------------------------------------------------

def _visits(conn: Connection, request: Request) -> dict[str, Any]:
    code = person_code(request)
    v = t.health_visits
    rows = conn.execute(sa.select(v).where(v.c.person == code)
                        .order_by(v.c.visit_date.desc(), v.c.id.desc())).all()
    if not rows:
        raise NotFound("no such patient in the health information system")
    return {"personalCode": code, "visits": [
        {"id": r.id, "date": _day(r.visit_date), "provider": r.provider,
         "diagnosis": {"icd10": r.icd10, "name": r.diagnosis}} for r in rows]}


def _prescriptions(conn: Connection, request: Request) -> dict[str, Any]:
    code = person_code(request)
    if conn.execute(sa.select(t.health_visits.c.id)
                    .where(t.health_visits.c.person == code).limit(1)).first() is None:
        raise NotFound("no such patient in the health information system")
    p = t.health_prescriptions
    rows = conn.execute(sa.select(p).where(p.c.person == code)
                        .order_by(p.c.issued.desc(), p.c.id.desc())).all()
    return {"personalCode": code, "prescriptions": [
        {"id": r.id, "visitId": r.visit_id, "drug": r.drug, "issued": _day(r.issued)}
        for r in rows]}


# -- business ---------------------------------------------------------------------------

def _company(conn: Connection, request: Request) -> dict[str, Any]:
    reg = str(request.path_params["regCode"])
    if len(reg) != 8 or not reg.isascii() or not reg.isdigit():
        raise InvalidRequest(f"{reg[:20]!r} is not an 8-digit registry code")
    row = conn.execute(sa.select(t.biz_companies)
                       .where(t.biz_companies.c.reg_code == reg)).first()
    if row is None:
        raise NotFound("no such company in the business register")
    b = t.biz_board
    board = conn.execute(sa.select(b).where(b.c.company == reg)
                         .order_by(b.c.role.desc(), b.c.person)).all()
    return {"regCode": row.reg_code, "name": row.name, "founded": _day(row.founded),
            "address": row.address, "board": [
                {"personalCode": m.person, "role": m.role, "since": _day(m.since)}
                for m in board]}


def _roles(conn: Connection, request: Request) -> dict[str, Any]:
    code = person_code(request)
    b, c = t.biz_board, t.biz_companies
    rows = conn.execute(sa.select(b, c.c.name).join(c, c.c.reg_code == b.c.company)
                        .where(b.c.person == code).order_by(b.c.since, b.c.company)).all()
    if not rows:
        raise NotFound("this person has no roles in the business register")
    return {"personalCode": code, "roles": [
        {"regCode": r.company, "name": r.name, "role": r.role, "since": _day(r.since)}
        for r in rows]}


# -- tax --------------------------------------------------------------------------------

def _year(request: Request) -> int | None:
    text = request.query_params.get("year")
    if text is None:
        return None
    if not (text.isascii() and text.isdigit() and len(text) == 4
            and 1990 <= int(text) <= 2100):
        raise InvalidRequest(f"year must be a year 1990-2100, not {text[:20]!r}")
    return int(text)


def _income(conn: Connection, request: Request) -> dict[str, Any]:
    code = person_code(request)
    year = _year(request)
    i = t.tax_income
    rows = conn.execute(sa.select(i).where(i.c.person == code)
                        .order_by(i.c.year.desc(), i.c.employer)).all()
    if not rows:
        raise NotFound("no income reported for this person")
    return {"personalCode": code, "income": [
        {"employer": r.employer, "year": r.year, "gross": _money(r.gross_cents),
         "withheld": _money(r.withheld_cents)} for r in rows if year in (None, r.year)]}


# -- vehicles and land ------------------------------------------------------------------

def _vehicles(conn: Connection, request: Request) -> dict[str, Any]:
    code = person_code(request)
    v = t.veh_vehicles
    rows = conn.execute(sa.select(v).where(v.c.owner == code)
                        .order_by(v.c.registered, v.c.plate)).all()
    if not rows:
        raise NotFound("this person owns no vehicles in the vehicle register")
    return {"personalCode": code, "vehicles": [
        {"plate": r.plate, "vin": r.vin, "make": r.make, "model": r.model, "year": r.year,
         "registered": _day(r.registered)} for r in rows]}


def _properties(conn: Connection, request: Request) -> dict[str, Any]:
    code = person_code(request)
    o, p = t.land_owners, t.land_properties
    rows = conn.execute(sa.select(p, o.c.share).join(o, o.c.part_number == p.c.part_number)
                        .where(o.c.person == code).order_by(p.c.part_number)).all()
    if not rows:
        raise NotFound("this person owns no property in the land register")
    return {"personalCode": code, "properties": [
        {"partNumber": r.part_number, "cadastralCode": r.cadastral_code,
         "areaM2": r.area_m2, "purpose": r.purpose, "address": r.address, "share": r.share}
        for r in rows]}


_HANDLERS: dict[str, dict[str, Handler]] = {
    "population": {"/persons/{code}": _person,
                   "/persons/{code}/children": _relatives("parent", "child"),
                   "/persons/{code}/parents": _relatives("child", "parent")},
    "health": {"/visits/{code}": _visits, "/prescriptions/{code}": _prescriptions},
    "business": {"/companies/{regCode}": _company, "/roles/{code}": _roles},
    "tax": {"/income/{code}": _income},
    "vehicles": {"/vehicles/{code}": _vehicles},
    "land": {"/properties/{code}": _properties},
}
assert all(set(_HANDLERS[r]) == {e[0] for e in ENDPOINTS[r]} for r in REGISTERS)


def _subjects(answer: Any, found: dict[str, None]) -> dict[str, None]:
    """Every ``personalCode`` in ``answer``, in order, once each."""
    if isinstance(answer, dict):
        for key, value in answer.items():
            if key == "personalCode" and isinstance(value, str):
                found[value] = None
            else:
                _subjects(value, found)
    elif isinstance(answer, list):
        for item in answer:
            _subjects(item, found)
    return found


def _route(engine: Engine, path: str, handler: Handler) -> Route:
    def endpoint(request: Request) -> Response:  # sync: Starlette runs it in a thread
        with engine.connect() as conn:
            answer = handler(conn, request)
        # Name every person whose data the answer holds (a parent's children, a board):
        # the provider gateway records and consent-checks them too and strips the header
        # (docs/spec/tracker.md, "subjects named by the provider"; registers.md §5).
        named = ",".join(_subjects(answer, {}))
        return JSONResponse(answer, headers={SUBJECT_HEADER: named} if named else None)
    return Route(path, endpoint, methods=["GET"])


def create_register_app(register: str, engine: Engine) -> Starlette:
    """One register's information system: its endpoints and ``GET /openapi.json``."""
    if register not in REGISTERS:
        raise InvalidRequest(f"unknown register {register[:20]!r}; known: "
                             f"{', '.join(REGISTERS)}")
    doc = openapi_json(register)

    def openapi(_request: Request) -> Response:
        return Response(doc, media_type="application/json")

    routes = [_route(engine, path, h) for path, h in _HANDLERS[register].items()]
    routes.append(Route("/openapi.json", openapi, methods=["GET"]))
    return Starlette(routes=routes, exception_handlers=xroad_error_handlers())


def create_registers_app(engine: Engine) -> Shell:
    """Every register under its own prefix, inside the web shell (body limit, /metrics)."""
    async def index(_request: Request) -> Response:
        return JSONResponse({"registers": {r: {"openapi": f"/{r}/openapi.json"}
                                           for r in REGISTERS}})

    def healthz(_request: Request) -> Response:
        with engine.connect() as conn:
            conn.execute(sa.select(1))
        return JSONResponse({"status": "OK"})

    routes: list[Route | Mount] = [Route("/", index, methods=["GET"]),
                                   Route("/healthz", healthz, methods=["GET"])]
    routes += [Mount(f"/{r}", app=create_register_app(r, engine)) for r in REGISTERS]
    app = Starlette(routes=routes, exception_handlers=xroad_error_handlers())
    return Shell(app, max_body=_MAX_BODY)
