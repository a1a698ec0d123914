"""The consent store's tables (docs/spec/consent.md §6), in SQLAlchemy Core.

Migrations under ``migrations/consent`` create the same. Subjects are canonical personal
codes (``EE38001085718``), consumers X-Road client ids in text form, times timezone-aware
UTC. Nothing changes without a trace: ``consent_locks`` holds each (person, category)'s
current lock and ``consent_lock_events`` every lock and unlock; ``consent_artefacts``
holds each consent with its current status and ``consent_events`` every status change.
The use counter (AA ``ConsentUse``) is the one field updated in place.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

_ts = sa.DateTime(timezone=True)

locks = sa.Table(
    "consent_locks",
    metadata,
    sa.Column("subject", sa.String(40), primary_key=True),
    sa.Column("category", sa.String(32), primary_key=True),
    sa.Column("mode", sa.String(16), nullable=False),  # everyone | except
    sa.Column("exceptions", sa.Text, nullable=False),  # JSON list of client ids
    sa.Column("expires_at", _ts, nullable=True),
    sa.Column("since", _ts, nullable=False),
    sa.Column("event_id", sa.Integer, nullable=False),  # the consent_lock_events row
)

lock_events = sa.Table(
    "consent_lock_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", _ts, nullable=False),
    sa.Column("subject", sa.String(40), nullable=False, index=True),
    sa.Column("category", sa.String(32), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),  # lock | unlock
    sa.Column("mode", sa.String(16), nullable=True),
    sa.Column("exceptions", sa.Text, nullable=True),
    sa.Column("expires_at", _ts, nullable=True),
    sa.Column("actor", sa.String(200), nullable=False),
)

artefacts = sa.Table(
    "consent_artefacts",
    metadata,
    sa.Column("consent_id", sa.String(64), primary_key=True),
    sa.Column("subject", sa.String(40), nullable=False),
    sa.Column("consumer", sa.String(1100), nullable=False),
    sa.Column("purpose_code", sa.String(200), nullable=False),
    sa.Column("purpose_text", sa.Text, nullable=False),
    sa.Column("categories", sa.Text, nullable=False),  # JSON list, sorted
    sa.Column("data_life", sa.Text, nullable=False),  # JSON {"unit", "value"}
    sa.Column("consent_start", _ts, nullable=False),
    sa.Column("consent_expiry", _ts, nullable=False),
    sa.Column("created_at", _ts, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("status_changed_at", _ts, nullable=False),
    sa.Column("signed", sa.Text, nullable=True),  # the JWS, once approved
    sa.Column("use_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_use_at", _ts, nullable=True),
    sa.Index("ix_consent_artefacts_subject_consumer", "subject", "consumer"),
)

events = sa.Table(
    "consent_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", _ts, nullable=False),
    sa.Column("consent_id", sa.String(64), sa.ForeignKey("consent_artefacts.consent_id"),
              nullable=False, index=True),
    sa.Column("action", sa.String(16), nullable=False),  # request | grant | approve | …
    sa.Column("from_status", sa.String(16), nullable=True),
    sa.Column("to_status", sa.String(16), nullable=False),
    sa.Column("actor", sa.String(1100), nullable=False),
)
