"""The demo's population and health registers: generated persons behind two services.

Deterministic from a seed (Faker's ``et_EE`` names, valid Estonian personal codes from
:mod:`sild.core.personal_code`), held in memory: the demo needs a few thousand people
to look up, not a database (the base registries with their own databases come with the
demo-country issue). One aiohttp app serves both registers' information systems:

* ``GET /person/{code}`` — the population register: name, birth date, sex, address;
* ``GET /records/{code}`` — the health register: visits with diagnoses and prescriptions.

``code`` is ``EE38001085718`` (as ``Sild-Data-Subject``) or the bare 11 digits.
Unknown: 404; not a personal code: 400 — JSON either way.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from aiohttp import web
from faker import Faker

from sild.core.personal_code import Sex, generate
from sild.core.usage import parse_subject
from sild.errors import SildError

__all__ = ["Person", "create_registers_app", "make_people"]

_STREETS = ("Narva mnt", "Pärnu mnt", "Tartu mnt", "Raekoja plats", "Kalevi", "Vabaduse pst",
            "Rüütli", "Jaama", "Riia", "Tehnika")
_CITIES = ("Tallinn", "Tartu", "Narva", "Pärnu", "Kohtla-Järve", "Viljandi", "Rakvere",
           "Maardu", "Kuressaare", "Võru")
_DIAGNOSES = (("J06.9", "Acute upper respiratory infection"), ("I10", "Essential hypertension"),
              ("E11.9", "Type 2 diabetes mellitus"), ("M54.5", "Low back pain"),
              ("K21.9", "Gastro-oesophageal reflux disease"), ("F41.1", "Generalised anxiety"),
              ("J45.9", "Asthma"), ("S93.4", "Sprain of ankle"))
_DRUGS = ("paracetamol 500 mg", "ramipril 5 mg", "metformin 850 mg", "ibuprofen 400 mg",
          "omeprazole 20 mg", "salbutamol inhaler")


@dataclass(frozen=True, slots=True)
class Person:
    code: str  # EE + 11 digits
    given_name: str
    surname: str
    birth_date: dt.date
    sex: str
    address: str


def make_people(n: int, *, seed: int = 2014) -> list[Person]:
    """``n`` distinct persons, the same for the same seed."""
    rng = random.Random(seed)  # noqa: S311  (generated test data, not secrets)
    fake = Faker("et_EE")
    fake.seed_instance(seed)
    people: dict[str, Person] = {}
    while len(people) < n:
        sex = rng.choice((Sex.MALE, Sex.FEMALE))
        born = dt.date(1930, 1, 1) + dt.timedelta(days=rng.randrange(90 * 365))
        code = generate("EE", rng, birth_date=born, sex=sex)
        given = fake.first_name_male() if sex is Sex.MALE else fake.first_name_female()
        address = (f"{rng.choice(_STREETS)} {rng.randrange(1, 120)}, "
                   f"{rng.choice(_CITIES)}")
        key = f"EE{code.code}"
        people[key] = Person(key, given, fake.last_name(), born, sex.value, address)
    return list(people.values())


def _records(person: Person) -> list[dict[str, object]]:
    rng = random.Random(person.code)  # noqa: S311  (generated test data)
    visits: list[dict[str, object]] = []
    for _ in range(rng.randrange(0, 6)):
        day = dt.date(2020, 1, 1) + dt.timedelta(days=rng.randrange(6 * 365))
        code, name = rng.choice(_DIAGNOSES)
        visits.append({"date": day.isoformat(), "diagnosis": {"icd10": code, "name": name},
                       "prescription": rng.choice(_DRUGS) if rng.random() < 0.6 else None})
    return sorted(visits, key=lambda v: str(v["date"]), reverse=True)


def create_registers_app(people: list[Person]) -> web.Application:
    by_code = {p.code: p for p in people}

    def find(request: web.Request) -> Person:
        text = request.match_info["code"]
        try:
            code = parse_subject(text if text[:2].isalpha() else f"EE{text}")
        except SildError as e:
            raise web.HTTPBadRequest(text=f'{{"error": "{e.message}"}}',
                                     content_type="application/json") from e
        person = by_code.get(code)
        if person is None:
            raise web.HTTPNotFound(text='{"error": "no such person in this register"}',
                                   content_type="application/json")
        return person

    async def person(request: web.Request) -> web.Response:
        p = find(request)
        return web.json_response({
            "personalCode": p.code, "givenName": p.given_name, "surname": p.surname,
            "birthDate": p.birth_date.isoformat(), "sex": p.sex, "address": p.address})

    async def records(request: web.Request) -> web.Response:
        p = find(request)
        return web.json_response({"personalCode": p.code, "visits": _records(p)})

    app = web.Application()
    app.router.add_get("/person/{code}", person)
    app.router.add_get("/records/{code}", records)
    return app
