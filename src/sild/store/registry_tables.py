"""All tables, in SQLAlchemy Core. Migrations under ``migrations/`` create the same.

Identifiers are stored in their text form (``EE/GOV/70000562/rr``), parsed again
by :mod:`sild.core.identifiers` when read. Times are timezone-aware UTC.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

_ts = sa.DateTime(timezone=True)

# -- registry -----------------------------------------------------------------

conf_state = sa.Table(
    "conf_state",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),  # always 1: a single row
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("changed_at", _ts, nullable=False),
)

config_keys = sa.Table(
    "config_keys",
    metadata,
    sa.Column("key_id", sa.String(64), primary_key=True),
    sa.Column("algorithm", sa.String(16), nullable=False),
    sa.Column("public_key", sa.LargeBinary, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # active | retired
    sa.Column("created_at", _ts, nullable=False),
)

cas = sa.Table(
    "cas",
    metadata,
    sa.Column("fingerprint", sa.String(64), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("certificate_pem", sa.Text, nullable=False),
    sa.Column("added_at", _ts, nullable=False),
)

revocations = sa.Table(
    "revocations",
    metadata,
    sa.Column("ca_fingerprint", sa.String(64), sa.ForeignKey("cas.fingerprint"),
              primary_key=True),
    sa.Column("serial", sa.String(64), primary_key=True),
    sa.Column("revoked_at", _ts, nullable=False),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
)

members = sa.Table(
    "members",
    metadata,
    sa.Column("id", sa.String(800), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("created_at", _ts, nullable=False),
)

subsystems = sa.Table(
    "subsystems",
    metadata,
    sa.Column("id", sa.String(1100), primary_key=True),
    sa.Column("member_id", sa.String(800), sa.ForeignKey("members.id"), nullable=False),
    sa.Column("created_at", _ts, nullable=False),
)

gateways = sa.Table(
    "gateways",
    metadata,
    sa.Column("id", sa.String(1100), primary_key=True),
    sa.Column("owner_id", sa.String(800), sa.ForeignKey("members.id"), nullable=False),
    sa.Column("address", sa.Text, nullable=False),
    sa.Column("auth_fingerprint", sa.String(64), nullable=False, unique=True),
    sa.Column("auth_certificate_pem", sa.Text, nullable=False),
    sa.Column("registered_at", _ts, nullable=False),
)

gateway_clients = sa.Table(
    "gateway_clients",
    metadata,
    sa.Column("gateway_id", sa.String(1100), sa.ForeignKey("gateways.id"), primary_key=True),
    sa.Column("client_id", sa.String(1100), primary_key=True),
)

global_groups = sa.Table(
    "global_groups",
    metadata,
    sa.Column("id", sa.String(600), primary_key=True),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
)

global_group_members = sa.Table(
    "global_group_members",
    metadata,
    sa.Column("group_id", sa.String(600), sa.ForeignKey("global_groups.id"), primary_key=True),
    sa.Column("client_id", sa.String(1100), primary_key=True),
)

# Registered purposes of processing personal data (docs/spec/tracker.md §1):
# published in the global configuration; Sild-Purpose may name a code.
purposes = sa.Table(
    "purposes",
    metadata,
    sa.Column("code", sa.String(64), primary_key=True),
    sa.Column("text", sa.String(200), nullable=False),
)

ledger_endpoints = sa.Table(
    "ledger_endpoints",
    metadata,
    sa.Column("url", sa.String(2000), primary_key=True),
    sa.Column("public_key", sa.Text, nullable=False, server_default=""),
)

registration_requests = sa.Table(
    "registration_requests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),  # gateway | client
    sa.Column("server_id", sa.String(1100), nullable=False),
    sa.Column("client_id", sa.String(1100), nullable=True),
    sa.Column("address", sa.Text, nullable=True),
    sa.Column("auth_fingerprint", sa.String(64), nullable=True),
    sa.Column("envelope", sa.LargeBinary, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("submitted_at", _ts, nullable=False),
    sa.Column("decided_at", _ts, nullable=True),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
)
