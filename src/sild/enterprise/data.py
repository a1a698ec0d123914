"""The company's generated data: employees, payslips, business contacts, invoices.

Deterministic from a seed (Faker's ``et_EE`` names, valid Estonian personal codes from
:mod:`sild.core.personal_code`), held in memory: the in-house systems of
``sild demo --scenario enterprise`` are small REST services, each seeing only its own
slice (HR the employment records, payroll the payslips, CRM the contact cards,
accounting the invoices). Pure: no I/O.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from faker import Faker

from sild.core.personal_code import Sex, generate

__all__ = ["Company", "Employee", "Invoice", "make_company", "money", "payslips"]

_DEPARTMENTS = (("Sales", "Account manager"), ("Finance", "Accountant"),
                ("Operations", "Logistics specialist"), ("People", "HR partner"),
                ("Engineering", "Software engineer"))
_CUSTOMERS = ("Tamm Logistics OÜ", "Saar Retail AS", "Mets Energia OÜ", "Järv Foods AS")


@dataclass(frozen=True, slots=True)
class Employee:
    code: str  # EE + 11 digits, findUsage's userCode form
    given_name: str
    surname: str
    department: str
    title: str
    started: dt.date
    salary_cents: int  # gross per month

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.surname}"

    @property
    def email(self) -> str:
        return f"{self.given_name}.{self.surname}@kask.example".lower()


@dataclass(frozen=True, slots=True)
class Invoice:
    number: str
    customer: str
    issued: dt.date
    amount_cents: int
    contact: str  # the account manager's personal code


@dataclass(frozen=True, slots=True)
class Company:
    employees: tuple[Employee, ...]
    invoices: tuple[Invoice, ...]

    def employee(self, code: str) -> Employee | None:
        return next((e for e in self.employees if e.code == code), None)

    def invoice(self, number: str) -> Invoice | None:
        return next((i for i in self.invoices if i.number == number), None)

    @property
    def account_managers(self) -> tuple[Employee, ...]:
        return tuple(e for e in self.employees if e.department == "Sales")


def make_company(n: int = 40, *, seed: int = 1918) -> Company:
    """``n`` employees (at least five, one per department) and their invoices."""
    rng = random.Random(seed)  # noqa: S311  (generated demo data, not secrets)
    fake = Faker("et_EE")
    fake.seed_instance(seed)
    people: dict[str, Employee] = {}
    while len(people) < max(n, len(_DEPARTMENTS)):
        sex = rng.choice((Sex.MALE, Sex.FEMALE))
        born = dt.date(1960, 1, 1) + dt.timedelta(days=rng.randrange(40 * 365))
        code = f"EE{generate('EE', rng, birth_date=born, sex=sex).code}"
        given = fake.first_name_male() if sex is Sex.MALE else fake.first_name_female()
        department, title = _DEPARTMENTS[len(people) % len(_DEPARTMENTS)]
        started = dt.date(2012, 1, 1) + dt.timedelta(days=rng.randrange(14 * 365))
        people.setdefault(code, Employee(code, given, fake.last_name(), department, title,
                                         started, rng.randrange(1800, 6500) * 100))
    employees = tuple(people.values())
    sales = [e for e in employees if e.department == "Sales"]
    invoices = tuple(
        Invoice(f"INV-2026-{i + 1:04d}", _CUSTOMERS[i % len(_CUSTOMERS)],
                dt.date(2026, 1, 2) + dt.timedelta(days=3 * i),
                rng.randrange(20_000, 2_000_000), sales[i % len(sales)].code)
        for i in range(max(8, n // 2)))
    return Company(employees, invoices)


def payslips(employee: Employee, *, months: int = 3) -> list[dict[str, object]]:
    """The last ``months`` payslips (Estonian income tax 22 %, 2026)."""
    out: list[dict[str, object]] = []
    for back in range(months):
        month = 12 - back
        gross = employee.salary_cents
        tax = gross * 22 // 100
        out.append({"month": f"2026-{month:02d}", "gross": _money(gross),
                    "incomeTax": _money(tax), "net": _money(gross - tax)})
    return out


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def money(cents: int) -> str:
    """Euros as ``1234.50``."""
    return _money(cents)
