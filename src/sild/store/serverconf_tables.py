"""A gateway's services, endpoints, access rights and local groups (docs/spec/access.md §4).

X-Road keeps these in the security server's ``serverconf`` database (DM-SS);
Sild keeps them in SQLAlchemy Core tables prefixed ``sc_`` so that they can share
one database with the other gateway components. Identifiers are stored in their
text form and parsed again when read (:mod:`sild.core.identifiers`).
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

_ts = sa.DateTime(timezone=True)

# A single row (id 1) whose version grows on every change: running gateways poll it
# to see changes made by another process (the CLI) cheaply.
sc_state = sa.Table(
    "sc_state",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("changed_at", _ts, nullable=False),
)

sc_services = sa.Table(
    "sc_services",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("subsystem_id", sa.String(1100), nullable=False),
    sa.Column("service_code", sa.String(255), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("timeout", sa.Integer, nullable=False),  # seconds
    sa.Column("verify_tls", sa.Boolean, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False),
    sa.Column("disabled_notice", sa.Text, nullable=False, server_default=""),
    sa.Column("openapi", sa.Text, nullable=True),  # the OpenAPI 3 description, as given
    sa.Column("created_at", _ts, nullable=False),
    # A SOAP service registered from a WSDL (docs/spec/wsdl.md §4): the description it
    # came from (sc_wsdls.id; no FK so that SQLite can add the column) and its version.
    sa.Column("wsdl_id", sa.Integer, nullable=True),
    sa.Column("service_version", sa.String(255), nullable=True),
    sa.UniqueConstraint("subsystem_id", "service_code", name="uq_sc_services_code"),
)

sc_endpoints = sa.Table(
    "sc_endpoints",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("service_id", sa.Integer,
              sa.ForeignKey("sc_services.id", ondelete="CASCADE"), nullable=False),
    sa.Column("method", sa.String(16), nullable=False),
    sa.Column("path", sa.String(2048), nullable=False),
    sa.Column("generated", sa.Boolean, nullable=False),  # parsed from the OpenAPI description
    sa.UniqueConstraint("service_id", "method", "path", name="uq_sc_endpoints"),
)

sc_access_rights = sa.Table(
    "sc_access_rights",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("service_id", sa.Integer,
              sa.ForeignKey("sc_services.id", ondelete="CASCADE"), nullable=False),
    # MEMBER | SUBSYSTEM | GLOBALGROUP | LOCALGROUP (X-Road object types)
    sa.Column("subject_type", sa.String(16), nullable=False),
    sa.Column("subject_id", sa.String(1100), nullable=False),
    # NULL: the whole service (X-Road's base endpoint "* **")
    sa.Column("endpoint_id", sa.Integer,
              sa.ForeignKey("sc_endpoints.id", ondelete="CASCADE"), nullable=True),
    sa.Column("granted_at", _ts, nullable=False),
)

sc_local_groups = sa.Table(
    "sc_local_groups",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("subsystem_id", sa.String(1100), nullable=False),  # the owner
    sa.Column("code", sa.String(255), nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.UniqueConstraint("subsystem_id", "code", name="uq_sc_local_groups"),
)

sc_local_group_members = sa.Table(
    "sc_local_group_members",
    metadata,
    sa.Column("group_id", sa.Integer,
              sa.ForeignKey("sc_local_groups.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("client_id", sa.String(1100), primary_key=True),
    sa.Column("added_at", _ts, nullable=False),
)

# Services that carry personal data (docs/spec/tracker.md §1): requests to them must
# name their data subjects and purpose, and the gateway writes usage records.
sc_personal_data = sa.Table(
    "sc_personal_data",
    metadata,
    sa.Column("service_id", sa.Integer,
              sa.ForeignKey("sc_services.id", ondelete="CASCADE"), primary_key=True,
              autoincrement=False),
    sa.Column("categories", sa.Text, nullable=False),  # comma-separated, sorted
    # Bulk services need not log per person (Estonia's logging guide: batches of
    # more than about 100 persons, research/citizen.md §1.5).
    sa.Column("bulk", sa.Boolean, nullable=False),
    sa.Column("max_subjects", sa.Integer, nullable=False),
    sa.Column("legal_basis", sa.Text, nullable=False),
)

# WSDL service descriptions (docs/spec/wsdl.md §4; X-Road UG-SS "Adding a WSDL"): one
# row per registered WSDL; each of its operations is a row of sc_services.
sc_wsdls = sa.Table(
    "sc_wsdls",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("subsystem_id", sa.String(1100), nullable=False),
    sa.Column("source", sa.Text, nullable=False),  # the URL or file it was read from
    sa.Column("wsdl", sa.Text, nullable=False),  # the document as given (UTF-8)
    sa.Column("created_at", _ts, nullable=False),
)
