"""anchoring tables

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_id = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "anchor_rounds",
        sa.Column("id", _id, autoincrement=False, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_record_id", sa.BigInteger(), nullable=False),
        sa.Column("last_record_id", sa.BigInteger(), nullable=False),
        sa.Column("last_logged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("ledger_id", sa.String(length=64), nullable=True),
        sa.Column("receipt", sa.LargeBinary(), nullable=True),
        sa.Column("anchored_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_anchor_rounds_pending", "anchor_rounds", ["anchored_at"])
    op.create_table(
        "anchor_records",
        sa.Column("record_id", _id, autoincrement=False, nullable=False),
        sa.Column("round_id", sa.BigInteger(), nullable=False),
        sa.Column("leaf_index", sa.Integer(), nullable=False),
        sa.Column("path", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["round_id"], ["anchor_rounds.id"]),
        sa.PrimaryKeyConstraint("record_id"),
        sa.UniqueConstraint("round_id", "leaf_index", name="ux_anchor_records_leaf"),
    )


def downgrade() -> None:
    op.drop_table("anchor_records")
    op.drop_index("ix_anchor_rounds_pending", table_name="anchor_rounds")
    op.drop_table("anchor_rounds")
