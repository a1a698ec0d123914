"""The OpenAPI 3 descriptions of the base registries (docs/spec/registers.md §4).

Built from the same route table the apps serve (:data:`ENDPOINTS`), so a gateway's
``getOpenAPI`` and ``listMethods`` show exactly the endpoints that answer. Pure: no I/O.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["ENDPOINTS", "REGISTERS", "openapi_document", "openapi_json"]

REGISTERS = ("population", "health", "business", "tax", "vehicles", "land")

# register → (path, summary, extra query parameters, response schema name)
ENDPOINTS: dict[str, tuple[tuple[str, str, tuple[str, ...], str], ...]] = {
    "population": (
        ("/persons/{code}", "A person: names, birth date, sex, address", (), "Person"),
        ("/persons/{code}/children", "A person's children (representation)", (), "Relatives"),
        ("/persons/{code}/parents", "A person's parents", (), "Relatives"),
    ),
    "health": (
        ("/visits/{code}", "A patient's visits with diagnoses, newest first", (), "Visits"),
        ("/prescriptions/{code}", "A patient's prescriptions, newest first", (),
         "Prescriptions"),
    ),
    "business": (
        ("/companies/{regCode}", "A company and its board (not personal data)", (),
         "Company"),
        ("/roles/{code}", "A person's roles in companies (founder, board member)", (),
         "Roles"),
    ),
    "tax": (
        ("/income/{code}", "Income employers reported for a person, by year", ("year",),
         "Income"),
    ),
    "vehicles": (
        ("/vehicles/{code}", "Vehicles a person owns", (), "Vehicles"),
    ),
    "land": (
        ("/properties/{code}", "Land-register parts a person owns, with shares", (),
         "Properties"),
    ),
}

_TITLES = {"population": "Population register", "health": "Health information system",
           "business": "Business register", "tax": "Tax register (employers' reports)",
           "vehicles": "Vehicle register", "land": "Land register"}

_STR = {"type": "string"}
_INT = {"type": "integer"}
_DATE = {"type": "string", "format": "date"}
_MONEY = {"type": "string", "pattern": r"^\d+\.\d{2}$", "description": "euros"}


def _obj(props: dict[str, Any], required: tuple[str, ...] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": props,
            "required": list(required if required is not None else props)}


def _arr(ref: str) -> dict[str, Any]:
    return {"type": "array", "items": {"$ref": f"#/components/schemas/{ref}"}}


_PERSON = _obj({"personalCode": _STR, "givenName": _STR, "surname": _STR,
                "birthDate": _DATE, "sex": {"type": "string", "enum": ["M", "F"]},
                "address": _STR, "residency": {"type": "string",
                                               "enum": ["resident", "e-resident"]}})
_SCHEMAS: dict[str, dict[str, Any]] = {
    "population": {
        "Person": _PERSON,
        "Relatives": _obj({"personalCode": _STR, "persons": _arr("Person")}),
    },
    "health": {
        "Visit": _obj({"id": _INT, "date": _DATE, "provider": _STR,
                       "diagnosis": _obj({"icd10": _STR, "name": _STR})}),
        "Visits": _obj({"personalCode": _STR, "visits": _arr("Visit")}),
        "Prescription": _obj({"id": _INT, "visitId": _INT, "drug": _STR, "issued": _DATE}),
        "Prescriptions": _obj({"personalCode": _STR, "prescriptions": _arr("Prescription")}),
    },
    "business": {
        "BoardMember": _obj({"personalCode": _STR, "role": _STR, "since": _DATE}),
        "Company": _obj({"regCode": _STR, "name": _STR, "founded": _DATE, "address": _STR,
                         "board": _arr("BoardMember")}),
        "Role": _obj({"regCode": _STR, "name": _STR, "role": _STR, "since": _DATE}),
        "Roles": _obj({"personalCode": _STR, "roles": _arr("Role")}),
    },
    "tax": {
        "Report": _obj({"employer": _STR, "year": _INT, "gross": _MONEY,
                        "withheld": _MONEY}),
        "Income": _obj({"personalCode": _STR, "income": _arr("Report")}),
    },
    "vehicles": {
        "Vehicle": _obj({"plate": _STR, "vin": _STR, "make": _STR, "model": _STR,
                         "year": _INT, "registered": _DATE}),
        "Vehicles": _obj({"personalCode": _STR, "vehicles": _arr("Vehicle")}),
    },
    "land": {
        "Property": _obj({"partNumber": _STR, "cadastralCode": _STR, "areaM2": _INT,
                          "purpose": _STR, "address": _STR, "share": _STR}),
        "Properties": _obj({"personalCode": _STR, "properties": _arr("Property")}),
    },
}
_ERROR = _obj({"type": _STR, "message": _STR, "detail": _STR})


def _parameter(name: str) -> dict[str, Any]:
    if name == "code":
        return {"name": "code", "in": "path", "required": True,
                "description": "personal code with its country, e.g. EE38001085718 or "
                               "JP + 12 digits (the Sild-Data-Subject form)",
                "schema": {"type": "string", "maxLength": 40}}
    if name == "regCode":
        return {"name": "regCode", "in": "path", "required": True,
                "description": "8-digit registry code",
                "schema": {"type": "string", "pattern": r"^\d{8}$"}}
    return {"name": "year", "in": "query", "required": False,
            "description": "only this tax year", "schema": {"type": "integer",
                                                             "minimum": 1990,
                                                             "maximum": 2100}}


def openapi_document(register: str) -> dict[str, Any]:
    """The OpenAPI 3.0 description of ``register`` (one of :data:`REGISTERS`)."""
    paths: dict[str, Any] = {}
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/"
                                                                   "Error"}}}}
    for path, summary, query, schema in ENDPOINTS[register]:
        names = [p[1:-1] for p in path.split("/") if p.startswith("{")] + list(query)
        op_id = "get" + "".join(w[:1].upper() + w[1:] for w in path.replace("{", "")
                                .replace("}", "").split("/") if w)
        paths[path] = {"get": {
            "operationId": op_id, "summary": summary,
            "parameters": [_parameter(n) for n in names],
            "responses": {
                "200": {"description": "found", "content": {"application/json": {
                    "schema": {"$ref": f"#/components/schemas/{schema}"}}}},
                "400": {"description": "malformed code or parameter", **error},
                "404": {"description": "not in this register", **error}}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": f"Sild demo: {_TITLES[register]}", "version": "1",
                 "description": f"A base registry behind its organisation's gateway. "
                                f"Personal data of category '{register}': "
                                f"call it through the exchange with Sild-Data-Subject "
                                f"and Sild-Purpose (docs/spec/registers.md)."},
        "paths": paths,
        "components": {"schemas": {**_SCHEMAS[register], "Error": _ERROR}},
    }


def openapi_json(register: str) -> bytes:
    """:func:`openapi_document` as canonical JSON bytes (sorted keys: deterministic)."""
    return json.dumps(openapi_document(register), sort_keys=True, indent=1).encode()
