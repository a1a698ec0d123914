"""The company's in-house systems: HR, payroll, CRM and accounting, each a small REST
service (Starlette) with its own OpenAPI description, that cannot talk to each other.

Each is registered on a gateway as one service (``getOpenAPI``/``listMethods`` show its
real endpoints). A personal-data endpoint takes the employee in the path as
``EE<code>`` (a bare 11-digit code is read as Estonian), like the base registries
(docs/spec/registers.md §4): not a personal code → 400 ``Client.InvalidPersonalCode``,
unknown → 404 ``Client.NotFound``, X-Road style JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sild.core.usage import parse_subject
from sild.enterprise.data import Company, Employee, money, payslips
from sild.errors import InvalidRequest, NotFound
from sild.web.shell import xroad_error_handlers

__all__ = ["SYSTEMS", "create_system_app", "openapi_document"]

Handler = Callable[[Company, Request], dict[str, Any]]

# system → (title, path, summary, response properties)
SYSTEMS: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "hr": ("HR system", "/employees/{code}", "An employee's employment record",
           ("personalCode", "givenName", "surname", "department", "title", "started")),
    "payroll": ("Payroll", "/payslips/{code}", "An employee's last payslips",
                ("personalCode", "payslips")),
    "crm": ("CRM", "/contacts/{code}", "An account manager's business contact card",
            ("personalCode", "name", "email", "customers")),
    "accounting": ("Accounting", "/invoices/{number}", "An invoice (names its contact)",
                   ("number", "customer", "issued", "amount", "contact")),
}


def _employee(company: Company, request: Request) -> Employee:
    text = str(request.path_params["code"])
    code = parse_subject(f"EE{text}" if text[:1].isdigit() else text)
    found = company.employee(code)
    if found is None:
        raise NotFound("no such employee in this system")
    return found


def _hr(company: Company, request: Request) -> dict[str, Any]:
    e = _employee(company, request)
    return {"personalCode": e.code, "givenName": e.given_name, "surname": e.surname,
            "department": e.department, "title": e.title, "started": e.started.isoformat()}


def _payroll(company: Company, request: Request) -> dict[str, Any]:
    e = _employee(company, request)
    return {"personalCode": e.code, "payslips": payslips(e)}


def _crm(company: Company, request: Request) -> dict[str, Any]:
    e = _employee(company, request)
    customers = sorted({i.customer for i in company.invoices if i.contact == e.code})
    if not customers:
        raise NotFound("this employee is no customer's contact in the CRM")
    return {"personalCode": e.code, "name": e.name, "email": e.email, "customers": customers}


def _accounting(company: Company, request: Request) -> dict[str, Any]:
    number = str(request.path_params["number"])
    if len(number) > 20 or not number.isascii() or not number.replace("-", "").isalnum():
        raise InvalidRequest(f"{number[:20]!r} is not an invoice number like INV-2026-0001")
    found = company.invoice(number)
    if found is None:
        raise NotFound("no such invoice")
    return {"number": found.number, "customer": found.customer,
            "issued": found.issued.isoformat(), "amount": money(found.amount_cents),
            "contact": {"personalCode": found.contact}}


_HANDLERS: dict[str, Handler] = {"hr": _hr, "payroll": _payroll, "crm": _crm,
                                 "accounting": _accounting}


def openapi_document(system: str) -> dict[str, Any]:
    """The OpenAPI 3 description of one system, from the same table the app serves."""
    title, path, summary, props = SYSTEMS[system]
    param = path.split("{")[1].rstrip("}")
    # Relative to the service URL (``{base}/employees``): the gateway forwards
    # /r1/…/hr/employees/EE… to {base}/employees/EE….
    path = "/{" + param + "}"
    return {
        "openapi": "3.0.3",
        "info": {"title": f"Kask & Partners {title}", "version": "1.0"},
        "paths": {path: {"get": {
            "summary": summary, "operationId": f"get_{system}",
            "parameters": [{"name": param, "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "responses": {
                "200": {"description": summary, "content": {"application/json": {
                    "schema": {"type": "object", "required": list(props),
                               "properties": {p: {} for p in props}}}}},
                "400": {"description": "malformed parameter"},
                "404": {"description": "not found"}}}}},
    }


def create_system_app(system: str, company: Company) -> Starlette:
    """One in-house system: its endpoint and ``GET /openapi.json``."""
    if system not in SYSTEMS:
        raise InvalidRequest(f"unknown system {system[:20]!r}; known: {', '.join(SYSTEMS)}")
    handler = _HANDLERS[system]
    doc = json.dumps(openapi_document(system), indent=1).encode()

    async def endpoint(request: Request) -> Response:
        return JSONResponse(handler(company, request))

    async def openapi(_request: Request) -> Response:
        return Response(doc, media_type="application/json")

    return Starlette(routes=[Route(SYSTEMS[system][1], endpoint, methods=["GET"]),
                             Route("/openapi.json", openapi, methods=["GET"])],
                     exception_handlers=xroad_error_handlers())
