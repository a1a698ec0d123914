"""E-services: companies registered, tax returns filed

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
        "es_companies",
        sa.Column("reg_code", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("name_key", sa.String(length=100), nullable=False),
        sa.Column("founder", _code, nullable=False),
        sa.Column("address", sa.String(length=200), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("reg_code"),
        sa.UniqueConstraint("name_key"),
    )
    op.create_table(
        "es_tax_returns",
        sa.Column("person", _code, nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("gross_cents", sa.BigInteger(), nullable=False),
        sa.Column("withheld_cents", sa.BigInteger(), nullable=False),
        sa.Column("due_cents", sa.BigInteger(), nullable=False),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("person", "year"),
    )


def downgrade() -> None:
    op.drop_table("es_tax_returns")
    op.drop_table("es_companies")
