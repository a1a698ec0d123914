"""the data tracker's head map, anchored with each round (docs/spec/tracker.md §3.4)

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
    with op.batch_alter_table("anchor_rounds") as t:
        t.add_column(sa.Column("map_root", sa.LargeBinary(length=32), nullable=True))
        t.add_column(sa.Column("map_entries", sa.BigInteger(), nullable=True))
        t.add_column(sa.Column("map_path", sa.LargeBinary(), nullable=True))
        t.add_column(sa.Column("map_through", sa.BigInteger(), nullable=True))
    op.create_table(
        "usage_map_buckets",
        sa.Column("bucket", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("round_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("entries", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "round_id"),
    )
    op.create_table(
        "usage_map_nodes",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("round_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", "round_id"),
    )


def downgrade() -> None:
    op.drop_table("usage_map_nodes")
    op.drop_table("usage_map_buckets")
    with op.batch_alter_table("anchor_rounds") as t:
        t.drop_column("map_through")
        t.drop_column("map_path")
        t.drop_column("map_entries")
        t.drop_column("map_root")
