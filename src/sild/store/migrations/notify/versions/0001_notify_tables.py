"""Notification service: subscriptions, received usage events, deliveries

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ts = sa.DateTime(timezone=True)
_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "notify_subscriptions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("secret", sa.String(length=80), nullable=True),
        sa.Column("categories", sa.Text(), nullable=False),
        sa.Column("emergency_only", sa.Boolean(), nullable=False),
        sa.Column("created_at", _ts, nullable=False),
        sa.CheckConstraint("kind IN ('webhook', 'inbox')", name="ck_notify_subscriptions_kind"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_notify_subscriptions_subject", "notify_subscriptions", ["subject"])
    op.create_table(
        "notify_events",
        sa.Column("id", _id, autoincrement=True, nullable=False),
        sa.Column("register", sa.String(length=1100), nullable=False),
        sa.Column("subject", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("logged_at", _ts, nullable=False),
        sa.Column("received_at", _ts, nullable=False),
        sa.Column("emergency", sa.Boolean(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("register", "subject", "seq", name="ux_notify_events_key"),
    )
    op.create_table(
        "notify_deliveries",
        sa.Column("id", _id, autoincrement=True, nullable=False),
        sa.Column("subscription_id", sa.String(length=40), nullable=False),
        sa.Column("event_id", _id, nullable=False),
        sa.Column("subject", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("priority", sa.SmallInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", _ts, nullable=False),
        sa.Column("created_at", _ts, nullable=False),
        sa.Column("done_at", _ts, nullable=True),
        sa.Column("read_at", _ts, nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.CheckConstraint("state IN ('pending', 'delivered', 'dead', 'inbox')",
                           name="ck_notify_deliveries_state"),
        sa.ForeignKeyConstraint(["event_id"], ["notify_events.id"]),
        sa.ForeignKeyConstraint(["subscription_id"], ["notify_subscriptions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subscription_id", "event_id", name="ux_notify_deliveries_pair"),
    )
    op.create_index("ix_notify_deliveries_due", "notify_deliveries",
                    ["state", "priority", "next_at"])
    op.create_index("ix_notify_deliveries_subject", "notify_deliveries",
                    ["subject", "state", "id"])


def downgrade() -> None:
    op.drop_table("notify_deliveries")
    op.drop_table("notify_events")
    op.drop_index("ix_notify_subscriptions_subject", table_name="notify_subscriptions")
    op.drop_table("notify_subscriptions")
