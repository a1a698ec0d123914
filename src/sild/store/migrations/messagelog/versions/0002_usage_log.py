"""data tracker usage records; message_log ids never reused on SQLite

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # AUTOINCREMENT: SQLite otherwise reuses the ids of purged newest rows, which
        # then fall under the anchoring watermark and are never anchored (issue #12).
        with op.batch_alter_table("message_log", recreate="always",
                                  table_kwargs={"sqlite_autoincrement": True}):
            pass
    op.create_table(
        "usage_log",
        sa.Column("id", _id, autoincrement=True, nullable=False),
        sa.Column("register", sa.String(length=1100), nullable=False),
        sa.Column("subject", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("logged_at", _ts, nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("purpose_code", sa.String(length=64), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("receiver", sa.String(length=1100), nullable=False),
        sa.Column("receiver_name", sa.Text(), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("service", sa.String(length=1400), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("consent_id", sa.String(length=255), nullable=False),
        sa.Column("categories", sa.Text(), nullable=False),
        sa.Column("flags", sa.Text(), nullable=False),
        sa.Column("sealed", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("record_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("chain", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("register", "subject", "seq", name="ux_usage_log_seq"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_usage_log_subject_time", "usage_log",
                    ["subject", "register", "logged_at", "id"], unique=False)
    op.create_index("ix_usage_log_logged_at", "usage_log", ["logged_at"], unique=False)
    op.create_table(
        "usage_heads",
        sa.Column("register", sa.String(length=1100), nullable=False),
        sa.Column("subject", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("chain", sa.LargeBinary(length=32), nullable=False),
        sa.Column("updated_at", _ts, nullable=False),
        sa.PrimaryKeyConstraint("register", "subject"),
    )
    op.create_table(
        "usage_releases",
        sa.Column("usage_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("release_id", sa.BigInteger(), nullable=False),
        sa.Column("decision", sa.Text(), nullable=False),
        sa.Column("released_at", _ts, nullable=False),
        sa.PrimaryKeyConstraint("usage_id"),
    )
    op.create_table(
        "usage_cutoffs",
        sa.Column("register", sa.String(length=1100), nullable=False),
        sa.Column("subject", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("chain", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("register", "subject"),
    )


def downgrade() -> None:
    op.drop_table("usage_cutoffs")
    op.drop_table("usage_releases")
    op.drop_table("usage_heads")
    op.drop_index("ix_usage_log_logged_at", table_name="usage_log")
    op.drop_index("ix_usage_log_subject_time", table_name="usage_log")
    op.drop_table("usage_log")
