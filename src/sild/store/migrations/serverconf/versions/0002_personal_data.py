"""services that carry personal data (data tracker)

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sc_personal_data",
        sa.Column("service_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("categories", sa.Text(), nullable=False),
        sa.Column("bulk", sa.Boolean(), nullable=False),
        sa.Column("max_subjects", sa.Integer(), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["service_id"], ["sc_services.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("service_id"),
    )


def downgrade() -> None:
    op.drop_table("sc_personal_data")
