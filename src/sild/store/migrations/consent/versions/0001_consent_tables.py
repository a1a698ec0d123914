"""Consent service: locks and their history, consent artefacts and their status changes

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


def upgrade() -> None:
    op.create_table(
        "consent_locks",
        sa.Column("subject", sa.String(length=40), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("exceptions", sa.Text(), nullable=False),
        sa.Column("expires_at", _ts, nullable=True),
        sa.Column("since", _ts, nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("subject", "category"),
    )
    op.create_table(
        "consent_lock_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", _ts, nullable=False),
        sa.Column("subject", sa.String(length=40), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=True),
        sa.Column("exceptions", sa.Text(), nullable=True),
        sa.Column("expires_at", _ts, nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_consent_lock_events_subject", "consent_lock_events", ["subject"])
    op.create_table(
        "consent_artefacts",
        sa.Column("consent_id", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=40), nullable=False),
        sa.Column("consumer", sa.String(length=1100), nullable=False),
        sa.Column("purpose_code", sa.String(length=200), nullable=False),
        sa.Column("purpose_text", sa.Text(), nullable=False),
        sa.Column("categories", sa.Text(), nullable=False),
        sa.Column("data_life", sa.Text(), nullable=False),
        sa.Column("consent_start", _ts, nullable=False),
        sa.Column("consent_expiry", _ts, nullable=False),
        sa.Column("created_at", _ts, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_changed_at", _ts, nullable=False),
        sa.Column("signed", sa.Text(), nullable=True),
        sa.Column("use_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_use_at", _ts, nullable=True),
        sa.PrimaryKeyConstraint("consent_id"),
    )
    op.create_index("ix_consent_artefacts_subject_consumer", "consent_artefacts",
                    ["subject", "consumer"])
    op.create_table(
        "consent_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", _ts, nullable=False),
        sa.Column("consent_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=1100), nullable=False),
        sa.ForeignKeyConstraint(["consent_id"], ["consent_artefacts.consent_id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_consent_events_consent_id", "consent_events", ["consent_id"])


def downgrade() -> None:
    op.drop_table("consent_events")
    op.drop_table("consent_artefacts")
    op.drop_table("consent_lock_events")
    op.drop_table("consent_locks")
