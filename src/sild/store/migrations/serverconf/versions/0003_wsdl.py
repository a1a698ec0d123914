"""SOAP services registered from a WSDL (docs/spec/wsdl.md §4)

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sc_wsdls",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subsystem_id", sa.String(length=1100), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("wsdl", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.add_column("sc_services", sa.Column("wsdl_id", sa.Integer(), nullable=True))
    op.add_column("sc_services",
                  sa.Column("service_version", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sc_services") as batch:
        batch.drop_column("service_version")
        batch.drop_column("wsdl_id")
    op.drop_table("sc_wsdls")
