"""Deterministic generation of the base registries (docs/spec/registers.md §3).

Pure: ``generate(seed=, size=)`` returns every register's rows; the same seed and size
give the same rows (Faker's ``et_EE`` and ``ja_JP`` locales, each seeded, and one
``random.Random``; valid personal codes from :mod:`sild.core.personal_code`).
:func:`write` stores them through SQLAlchemy Core, in one transaction.
"""

from __future__ import annotations

import bisect
import datetime as dt
import random
from collections.abc import Mapping
from typing import Any

from faker import Faker

from sild.core.personal_code import Sex
from sild.core.personal_code import generate as generate_code
from sild.errors import InvalidRequest

__all__ = ["SIZES", "Dataset", "generate", "write"]

# size → number of persons (the demo's default population is 10 k: issue #10)
SIZES: Mapping[str, int] = {"small": 100, "medium": 1000, "large": 10_000}

Dataset = dict[str, list[dict[str, Any]]]  # table name → rows, in insertion order

_E_RESIDENT_SHARE = 0.1  # persons with a Japanese My Number: e-residents
_STREETS = ("Narva mnt", "Pärnu mnt", "Tartu mnt", "Raekoja plats", "Kalevi", "Vabaduse pst",
            "Rüütli", "Jaama", "Riia", "Tehnika", "Mustamäe tee", "Sõpruse pst")
_CITIES = ("Tallinn", "Tartu", "Narva", "Pärnu", "Kohtla-Järve", "Viljandi", "Rakvere",
           "Maardu", "Kuressaare", "Võru")
_DIAGNOSES = (("J06.9", "Acute upper respiratory infection"), ("I10", "Essential hypertension"),
              ("E11.9", "Type 2 diabetes mellitus"), ("M54.5", "Low back pain"),
              ("K21.9", "Gastro-oesophageal reflux disease"), ("F41.1", "Generalised anxiety"),
              ("J45.9", "Asthma"), ("S93.4", "Sprain of ankle"), ("Z00.0", "General check-up"))
_DRUGS = ("paracetamol 500 mg", "ramipril 5 mg", "metformin 850 mg", "ibuprofen 400 mg",
          "omeprazole 20 mg", "salbutamol inhaler", "sertraline 50 mg")
_PROVIDERS = ("Tallinna Perearstikeskus", "Tartu Ülikooli Kliinikum", "Ida-Tallinna Keskhaigla",
              "Pärnu Haigla", "Põhja-Eesti Regionaalhaigla", "Narva Haigla")
_COMPANY_WORDS = ("Põhja", "Lõuna", "Mere", "Metsa", "Kivi", "Tuule", "Valge", "Sild",
                  "Kalda", "Järve", "Sakura", "Fuji")
_COMPANY_KINDS = ("Tehnoloogia", "Ehitus", "Logistika", "Konsultatsioon", "Disain", "Kaubandus",
                  "Tarkvara", "Energia")
_TAX_YEARS = (2023, 2024, 2025)
_CARS = (("Toyota", "Corolla"), ("Toyota", "RAV4"), ("Škoda", "Octavia"), ("Volkswagen", "Golf"),
         ("Volvo", "XC60"), ("BMW", "320d"), ("Nissan", "Leaf"), ("Honda", "Civic"),
         ("Mazda", "CX-5"), ("Tesla", "Model 3"))
_VIN_CHARS = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"  # ISO 3779: no I, O, Q
_PLATE_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"
_LAND_PURPOSES = ("residential", "commercial", "profit-yielding land", "forest", "industrial")
_TODAY = dt.date(2026, 1, 1)  # the registers' "now": generation never reads the clock


def _years_before(day: dt.date, years: int) -> dt.date:
    return day.replace(year=day.year - years, day=min(day.day, 28))


def _persons(rng: random.Random, ee: Faker, jp: Faker, n: int) -> list[dict[str, Any]]:
    people: dict[str, dict[str, Any]] = {}
    while len(people) < n:
        sex = rng.choice((Sex.MALE, Sex.FEMALE))
        born = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(80 * 365))
        if rng.random() < _E_RESIDENT_SHARE:  # an e-resident living in Japan
            born = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(60 * 365))
            code = generate_code("JP", rng)
            male = sex is Sex.MALE
            given = jp.first_romanized_name_male() if male else jp.first_romanized_name_female()
            surname = jp.last_romanized_name()
            address = jp.address().replace("\n", " ")
            residency = "e-resident"
        else:
            code = generate_code("EE", rng, birth_date=born, sex=sex)
            given = ee.first_name_male() if sex is Sex.MALE else ee.first_name_female()
            surname = ee.last_name()
            address = (f"{rng.choice(_STREETS)} {rng.randrange(1, 120)}-{rng.randrange(1, 60)}, "
                       f"{rng.choice(_CITIES)}, Estonia")
            residency = "resident"
        key = f"{code.country}{code.code}"
        if key in people:
            continue
        people[key] = {"code": key, "given_name": given, "surname": surname,
                       "birth_date": born, "sex": sex.value, "address": address,
                       "residency": residency}
    return list(people.values())


def _relations(rng: random.Random, persons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Parent–child links among residents: a mother and often a father, 18–45 years older."""
    by_sex: dict[str, list[tuple[dt.date, str]]] = {"M": [], "F": []}
    for p in persons:
        if p["residency"] == "resident":
            by_sex[p["sex"]].append((p["birth_date"], p["code"]))
    for group in by_sex.values():
        group.sort()
    rows: list[dict[str, Any]] = []
    for child in persons:
        if child["residency"] != "resident" or rng.random() > 0.7:
            continue
        born = child["birth_date"]
        lo, hi = _years_before(born, 45), _years_before(born, 18)
        for sex, chance in (("F", 1.0), ("M", 0.8)):
            group = by_sex[sex]
            i, j = bisect.bisect_left(group, (lo, "")), bisect.bisect_right(group, (hi, "~"))
            if i < j and rng.random() < chance:
                rows.append({"parent": group[rng.randrange(i, j)][1], "child": child["code"]})
    return rows


def _health(rng: random.Random, persons: list[dict[str, Any]]
            ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    visits: list[dict[str, Any]] = []
    prescriptions: list[dict[str, Any]] = []
    for p in persons:
        if p["residency"] != "resident":
            continue
        for _ in range(rng.randrange(0, 6)):
            day = dt.date(2020, 1, 1) + dt.timedelta(days=rng.randrange(6 * 365))
            icd10, name = rng.choice(_DIAGNOSES)
            visit = {"id": len(visits) + 1, "person": p["code"], "visit_date": day,
                     "provider": rng.choice(_PROVIDERS), "icd10": icd10, "diagnosis": name}
            visits.append(visit)
            if rng.random() < 0.6:
                prescriptions.append({"id": len(prescriptions) + 1, "visit_id": visit["id"],
                                      "person": p["code"], "drug": rng.choice(_DRUGS),
                                      "issued": day})
    return visits, prescriptions


def _business(rng: random.Random, persons: list[dict[str, Any]]
              ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    adults = [p for p in persons if p["birth_date"] <= _years_before(_TODAY, 18)]
    e_residents = [p for p in adults if p["residency"] == "e-resident"]
    companies: list[dict[str, Any]] = []
    board: list[dict[str, Any]] = []
    codes: set[str] = set()
    for n in range(max(3, len(persons) // 10)):
        reg_code = f"1{rng.randrange(10**7):07d}"
        if reg_code in codes:
            continue
        codes.add(reg_code)
        founded = dt.date(1995, 1, 1) + dt.timedelta(days=rng.randrange(30 * 365))
        name = f"{rng.choice(_COMPANY_WORDS)} {rng.choice(_COMPANY_KINDS)} OÜ"
        companies.append({"reg_code": reg_code, "name": name, "founded": founded,
                          "address": f"{rng.choice(_STREETS)} {rng.randrange(1, 120)}, "
                                     f"{rng.choice(_CITIES)}, Estonia"})
        # every third company has an e-resident founder (e-Residency's point)
        pool = e_residents if e_residents and n % 3 == 0 else adults
        members = {rng.choice(pool)["code"]: "founder"}
        for _ in range(rng.randrange(0, 3)):
            members.setdefault(rng.choice(adults)["code"], "board member")
        for person, role in members.items():
            board.append({"company": reg_code, "person": person, "role": role,
                          "since": founded})
    return companies, board


def _income(rng: random.Random, persons: list[dict[str, Any]],
            companies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Income employers reported: residents of working age, one employer a year."""
    rows: list[dict[str, Any]] = []
    for p in persons:
        if p["residency"] != "resident":
            continue
        employer = rng.choice(companies)["reg_code"]
        for year in _TAX_YEARS:
            age = year - p["birth_date"].year
            if not 18 <= age <= 66 or rng.random() < 0.15:
                continue
            if rng.random() < 0.2:
                employer = rng.choice(companies)["reg_code"]
            gross = rng.randrange(900_000, 6_000_000)  # cents a year
            rows.append({"employer": employer, "person": p["code"], "year": year,
                         "gross_cents": gross, "withheld_cents": gross * 22 // 100})
    return rows


def _vehicles(rng: random.Random, persons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cars owned by adult residents: plates ``123 ABC``, VINs of ISO 3779's alphabet."""
    rows: list[dict[str, Any]] = []
    plates: set[str] = set()
    vins: set[str] = set()
    adult = _years_before(_TODAY, 18)
    for p in persons:
        if p["residency"] != "resident" or p["birth_date"] > adult or rng.random() > 0.4:
            continue
        for _ in range(rng.randrange(1, 3)):
            plate = (f"{rng.randrange(1000):03d} "
                     + "".join(rng.choice(_PLATE_LETTERS) for _ in range(3)))
            vin = "".join(rng.choice(_VIN_CHARS) for _ in range(17))
            if plate in plates or vin in vins:
                continue
            plates.add(plate)
            vins.add(vin)
            make, model = rng.choice(_CARS)
            year = rng.randrange(2000, 2026)
            rows.append({"plate": plate, "vin": vin, "make": make, "model": model,
                         "year": year, "owner": p["code"],
                         "registered": dt.date(year, 1, 1)
                         + dt.timedelta(days=rng.randrange(365))})
    return rows


def _land(rng: random.Random, persons: list[dict[str, Any]]
          ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Land-register parts (Kinnistusraamat, research/citizen.md §4) with one or two owners."""
    adults = [p for p in persons if p["birth_date"] <= _years_before(_TODAY, 18)]
    properties: list[dict[str, Any]] = []
    owners: list[dict[str, Any]] = []
    parts: set[str] = set()
    cadastrals: set[str] = set()
    for _ in range(max(2, len(persons) // 5)):
        part = f"{rng.randrange(10**7, 10**8)}"
        cadastral = (f"{rng.randrange(10000, 100000)}:{rng.randrange(1000):03d}:"
                     f"{rng.randrange(10000):04d}")
        if part in parts or cadastral in cadastrals:
            continue
        parts.add(part)
        cadastrals.add(cadastral)
        properties.append({"part_number": part, "cadastral_code": cadastral,
                           "area_m2": rng.randrange(300, 200_000),
                           "purpose": rng.choice(_LAND_PURPOSES),
                           "address": f"{rng.choice(_STREETS)} {rng.randrange(1, 120)}, "
                                      f"{rng.choice(_CITIES)}, Estonia"})
        first = rng.choice(adults)["code"]
        second = rng.choice(adults)["code"] if rng.random() < 0.3 else first
        for person in dict.fromkeys((first, second)):
            owners.append({"part_number": part, "person": person,
                           "share": "1/1" if first == second else "1/2"})
    return properties, owners


def generate(*, seed: int, size: str) -> Dataset:
    """Every register's rows for ``seed`` and ``size`` (``small``, ``medium``, ``large``)."""
    if size not in SIZES:
        raise InvalidRequest(f"size must be one of {', '.join(SIZES)}, not {size[:20]!r}")
    rng = random.Random(seed)  # noqa: S311  (generated demo data, not secrets)
    ee, jp = Faker("et_EE"), Faker("ja_JP")
    ee.seed_instance(seed)
    jp.seed_instance(seed)
    persons = _persons(rng, ee, jp, SIZES[size])
    relations = _relations(rng, persons)
    visits, prescriptions = _health(rng, persons)
    companies, board = _business(rng, persons)
    income = _income(rng, persons, companies)
    vehicles = _vehicles(rng, persons)  # after the others: adding a register kept their rows
    properties, owners = _land(rng, persons)
    return {"pop_persons": persons, "pop_relations": relations, "health_visits": visits,
            "health_prescriptions": prescriptions, "biz_companies": companies,
            "biz_board": board, "tax_income": income, "veh_vehicles": vehicles,
            "land_properties": properties, "land_owners": owners}


def write(engine: Any, data: Dataset, *, chunk: int = 2000) -> None:
    """Store ``data`` in an empty, migrated ``registers`` database (one transaction)."""
    import sqlalchemy as sa

    from sild.errors import InvalidStateTransition
    from sild.store.registers_tables import metadata

    with engine.begin() as conn:
        if conn.execute(sa.select(sa.func.count()).select_from(
                metadata.tables["pop_persons"])).scalar_one():
            raise InvalidStateTransition("the registers' database already holds data; "
                                         "use an empty one")
        for name, rows in data.items():
            table = metadata.tables[name]
            for start in range(0, len(rows), chunk):
                conn.execute(table.insert(), rows[start:start + chunk])
