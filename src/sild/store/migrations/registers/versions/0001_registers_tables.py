"""Base registries: population, health, business, tax (table prefix per register)

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_code = sa.String(length=16)


def upgrade() -> None:
    op.create_table(
        "pop_persons",
        sa.Column("code", _code, nullable=False),
        sa.Column("given_name", sa.String(length=100), nullable=False),
        sa.Column("surname", sa.String(length=100), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("sex", sa.String(length=1), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("residency", sa.String(length=12), nullable=False),
        sa.CheckConstraint("sex IN ('M', 'F')", name="ck_pop_persons_sex"),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "pop_relations",
        sa.Column("parent", _code, nullable=False),
        sa.Column("child", _code, nullable=False),
        sa.ForeignKeyConstraint(["parent"], ["pop_persons.code"]),
        sa.ForeignKeyConstraint(["child"], ["pop_persons.code"]),
        sa.PrimaryKeyConstraint("parent", "child"),
    )
    op.create_index("ix_pop_relations_child", "pop_relations", ["child"])
    op.create_table(
        "health_visits",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("person", _code, nullable=False),
        sa.Column("visit_date", sa.Date(), nullable=False),
        sa.Column("provider", sa.String(length=200), nullable=False),
        sa.Column("icd10", sa.String(length=10), nullable=False),
        sa.Column("diagnosis", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_health_visits_person", "health_visits", ["person"])
    op.create_table(
        "health_prescriptions",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("person", _code, nullable=False),
        sa.Column("drug", sa.String(length=200), nullable=False),
        sa.Column("issued", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["visit_id"], ["health_visits.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_health_prescriptions_person", "health_prescriptions", ["person"])
    op.create_table(
        "biz_companies",
        sa.Column("reg_code", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("founded", sa.Date(), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("reg_code"),
    )
    op.create_table(
        "biz_board",
        sa.Column("company", sa.String(length=8), nullable=False),
        sa.Column("person", _code, nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("since", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["company"], ["biz_companies.reg_code"]),
        sa.PrimaryKeyConstraint("company", "person"),
    )
    op.create_index("ix_biz_board_person", "biz_board", ["person"])
    op.create_table(
        "tax_income",
        sa.Column("employer", sa.String(length=8), nullable=False),
        sa.Column("person", _code, nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("gross_cents", sa.BigInteger(), nullable=False),
        sa.Column("withheld_cents", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("employer", "person", "year"),
    )
    op.create_index("ix_tax_income_person", "tax_income", ["person", "year"])


def downgrade() -> None:
    op.drop_table("tax_income")
    op.drop_table("biz_board")
    op.drop_table("biz_companies")
    op.drop_table("health_prescriptions")
    op.drop_table("health_visits")
    op.drop_table("pop_relations")
    op.drop_table("pop_persons")
