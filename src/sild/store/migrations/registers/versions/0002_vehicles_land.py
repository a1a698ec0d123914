"""Base registries: vehicles and land

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_code = sa.String(length=16)


def upgrade() -> None:
    op.create_table(
        "veh_vehicles",
        sa.Column("plate", sa.String(length=10), nullable=False),
        sa.Column("vin", sa.String(length=17), nullable=False),
        sa.Column("make", sa.String(length=40), nullable=False),
        sa.Column("model", sa.String(length=40), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("owner", _code, nullable=False),
        sa.Column("registered", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("plate"),
        sa.UniqueConstraint("vin"),
    )
    op.create_index("ix_veh_vehicles_owner", "veh_vehicles", ["owner"])
    op.create_table(
        "land_properties",
        sa.Column("part_number", sa.String(length=12), nullable=False),
        sa.Column("cadastral_code", sa.String(length=20), nullable=False),
        sa.Column("area_m2", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("part_number"),
        sa.UniqueConstraint("cadastral_code"),
    )
    op.create_table(
        "land_owners",
        sa.Column("part_number", sa.String(length=12), nullable=False),
        sa.Column("person", _code, nullable=False),
        sa.Column("share", sa.String(length=10), nullable=False),
        sa.ForeignKeyConstraint(["part_number"], ["land_properties.part_number"]),
        sa.PrimaryKeyConstraint("part_number", "person"),
    )
    op.create_index("ix_land_owners_person", "land_owners", ["person"])


def downgrade() -> None:
    op.drop_table("land_owners")
    op.drop_table("land_properties")
    op.drop_table("veh_vehicles")
