"""The base registries' store (docs/spec/registers.md §2).

One Alembic component, ``registers``, with a table prefix per register: ``pop_``
(population), ``health_``, ``biz_`` (business), ``tax_``, ``veh_`` (vehicles) and
``land_``. Each register reads only its own tables; a deployment may give each register
its own database (the same migration, only that register's tables filled) or share one.

Personal codes are stored as ``CC<code>`` (``EE38001085718``, ``JP…``), the form of
``Sild-Data-Subject``.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["REGISTER_TABLES", "biz_board", "biz_companies", "health_prescriptions",
           "health_visits", "land_owners", "land_properties", "metadata", "pop_persons",
           "pop_relations", "tax_income", "veh_vehicles"]

metadata = sa.MetaData()
_code = sa.String(16)  # CC + up to 12 digits

pop_persons = sa.Table(
    "pop_persons", metadata,
    sa.Column("code", _code, primary_key=True),
    sa.Column("given_name", sa.String(100), nullable=False),
    sa.Column("surname", sa.String(100), nullable=False),
    sa.Column("birth_date", sa.Date, nullable=False),
    sa.Column("sex", sa.String(1), nullable=False),  # M | F (ISO/IEC 5218 letters)
    sa.Column("address", sa.String(300), nullable=False),
    sa.Column("residency", sa.String(12), nullable=False),  # resident | e-resident
    sa.CheckConstraint("sex IN ('M', 'F')", name="ck_pop_persons_sex"),
)

pop_relations = sa.Table(
    "pop_relations", metadata,
    sa.Column("parent", _code, sa.ForeignKey("pop_persons.code"), primary_key=True),
    sa.Column("child", _code, sa.ForeignKey("pop_persons.code"), primary_key=True),
)
sa.Index("ix_pop_relations_child", pop_relations.c.child)

health_visits = sa.Table(
    "health_visits", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("person", _code, nullable=False),
    sa.Column("visit_date", sa.Date, nullable=False),
    sa.Column("provider", sa.String(200), nullable=False),
    sa.Column("icd10", sa.String(10), nullable=False),
    sa.Column("diagnosis", sa.String(200), nullable=False),
)
sa.Index("ix_health_visits_person", health_visits.c.person)

health_prescriptions = sa.Table(
    "health_prescriptions", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("visit_id", sa.Integer, sa.ForeignKey("health_visits.id"), nullable=False),
    sa.Column("person", _code, nullable=False),
    sa.Column("drug", sa.String(200), nullable=False),
    sa.Column("issued", sa.Date, nullable=False),
)
sa.Index("ix_health_prescriptions_person", health_prescriptions.c.person)

biz_companies = sa.Table(
    "biz_companies", metadata,
    sa.Column("reg_code", sa.String(8), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("founded", sa.Date, nullable=False),
    sa.Column("address", sa.String(300), nullable=False),
)

biz_board = sa.Table(
    "biz_board", metadata,
    sa.Column("company", sa.String(8), sa.ForeignKey("biz_companies.reg_code"),
              primary_key=True),
    sa.Column("person", _code, primary_key=True),
    sa.Column("role", sa.String(20), nullable=False),  # founder | board member
    sa.Column("since", sa.Date, nullable=False),
)
sa.Index("ix_biz_board_person", biz_board.c.person)

tax_income = sa.Table(
    "tax_income", metadata,
    sa.Column("employer", sa.String(8), primary_key=True),
    sa.Column("person", _code, primary_key=True),
    sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("gross_cents", sa.BigInteger, nullable=False),
    sa.Column("withheld_cents", sa.BigInteger, nullable=False),
)
sa.Index("ix_tax_income_person", tax_income.c.person, tax_income.c.year)

veh_vehicles = sa.Table(
    "veh_vehicles", metadata,
    sa.Column("plate", sa.String(10), primary_key=True),
    sa.Column("vin", sa.String(17), nullable=False, unique=True),
    sa.Column("make", sa.String(40), nullable=False),
    sa.Column("model", sa.String(40), nullable=False),
    sa.Column("year", sa.Integer, nullable=False),
    sa.Column("owner", _code, nullable=False),
    sa.Column("registered", sa.Date, nullable=False),
)
sa.Index("ix_veh_vehicles_owner", veh_vehicles.c.owner)

land_properties = sa.Table(
    "land_properties", metadata,
    sa.Column("part_number", sa.String(12), primary_key=True),  # registriosa number
    sa.Column("cadastral_code", sa.String(20), nullable=False, unique=True),
    sa.Column("area_m2", sa.Integer, nullable=False),
    sa.Column("purpose", sa.String(40), nullable=False),
    sa.Column("address", sa.String(300), nullable=False),
)

land_owners = sa.Table(
    "land_owners", metadata,
    sa.Column("part_number", sa.String(12), sa.ForeignKey("land_properties.part_number"),
              primary_key=True),
    sa.Column("person", _code, primary_key=True),
    sa.Column("share", sa.String(10), nullable=False),  # "1/1", "1/2"
)
sa.Index("ix_land_owners_person", land_owners.c.person)

# register → its tables, in insertion order (parents before children)
REGISTER_TABLES: dict[str, tuple[sa.Table, ...]] = {
    "population": (pop_persons, pop_relations),
    "health": (health_visits, health_prescriptions),
    "business": (biz_companies, biz_board),
    "tax": (tax_income,),
    "vehicles": (veh_vehicles,),
    "land": (land_properties, land_owners),
}
