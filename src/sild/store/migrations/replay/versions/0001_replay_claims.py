"""replay claims shared by a gateway's nodes

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # UNLOGGED: entries live for the freshness window only (sild.store.replay_tables)
        op.execute("CREATE UNLOGGED TABLE replay_claims ("
                   "digest bytea PRIMARY KEY, expires_at double precision NOT NULL)")
    else:
        op.create_table(
            "replay_claims",
            sa.Column("digest", sa.LargeBinary(length=16), nullable=False),
            sa.Column("expires_at", sa.Float(), nullable=False),
            sa.PrimaryKeyConstraint("digest"),
        )
    op.create_index("ix_replay_claims_expires", "replay_claims", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_replay_claims_expires", table_name="replay_claims")
    op.drop_table("replay_claims")
