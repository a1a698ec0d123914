"""The identity store's tables (docs/spec/identity.md §4), in SQLAlchemy Core.

Migrations under ``migrations/identity`` create the same. Certificate serial
numbers are lower-case hex text (127-bit numbers do not fit a BIGINT); key
fingerprints are SHA-256 over the DER SubjectPublicKeyInfo, hex. Times are
timezone-aware UTC.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

_ts = sa.DateTime(timezone=True)

persons = sa.Table(
    "identity_persons",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("country", sa.String(2), nullable=False),
    sa.Column("code", sa.String(32), nullable=False),
    sa.Column("given_name", sa.Text, nullable=False),
    sa.Column("surname", sa.Text, nullable=False),
    sa.Column("birth_date", sa.Date, nullable=True),  # where the code's scheme carries it
    sa.Column("sex", sa.String(1), nullable=True),  # M | F
    sa.Column("kind", sa.String(16), nullable=False),  # citizen | e-resident
    sa.Column("created_at", _ts, nullable=False),
    sa.UniqueConstraint("country", "code", name="uq_identity_persons_code"),
)

identities = sa.Table(
    "identity_identities",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("person_id", sa.Integer, sa.ForeignKey("identity_persons.id"), nullable=False,
              index=True),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("issuer", sa.String(64), nullable=False),  # person CA fingerprint
    sa.Column("key_type", sa.String(16), nullable=False),
    sa.Column("auth_serial", sa.String(40), nullable=False, unique=True),
    sa.Column("sign_serial", sa.String(40), nullable=False, unique=True),
    sa.Column("auth_key_sha256", sa.String(64), nullable=False),
    sa.Column("sign_key_sha256", sa.String(64), nullable=False),
    sa.Column("auth_public_key", sa.LargeBinary, nullable=False),  # DER SPKI
    sa.Column("sign_public_key", sa.LargeBinary, nullable=False),
    sa.Column("auth_certificate", sa.Text, nullable=False),  # PEM
    sa.Column("sign_certificate", sa.Text, nullable=False),
    sa.Column("issued_at", _ts, nullable=False),
    sa.Column("not_after", _ts, nullable=False),
    sa.Column("picked_up_at", _ts, nullable=True),
    sa.Column("state_changed_at", _ts, nullable=False),
    # Set while suspended (reason certificateHold) and once revoked; what OCSP reports.
    sa.Column("revoked_at", _ts, nullable=True),
    sa.Column("revocation_reason", sa.String(32), nullable=True),
    sa.Column("replaces_id", sa.Integer, sa.ForeignKey("identity_identities.id"),
              nullable=True, unique=True),
)

officers = sa.Table(
    "identity_officers",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),  # police | registrar
    sa.Column("added_at", _ts, nullable=False),
)

applications = sa.Table(
    "identity_eresidency_applications",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("citizenship", sa.String(2), nullable=False),
    sa.Column("given_name", sa.Text, nullable=False),
    sa.Column("surname", sa.Text, nullable=False),
    sa.Column("birth_date", sa.Date, nullable=False),
    sa.Column("sex", sa.String(1), nullable=False),
    sa.Column("document_photo_sha256", sa.String(64), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("submitted_at", _ts, nullable=False),
    sa.Column("checked_by", sa.String(200), nullable=True),
    sa.Column("check_result", sa.String(16), nullable=True),  # clear | flagged
    sa.Column("check_note", sa.Text, nullable=True),
    sa.Column("checked_at", _ts, nullable=True),
    sa.Column("decided_by", sa.String(200), nullable=True),
    sa.Column("decision", sa.String(16), nullable=True),  # approve | reject
    sa.Column("decision_reason", sa.Text, nullable=True),
    sa.Column("decided_at", _ts, nullable=True),
    sa.Column("person_id", sa.Integer, sa.ForeignKey("identity_persons.id"), nullable=True),
    sa.Column("identity_id", sa.Integer, sa.ForeignKey("identity_identities.id"),
              nullable=True),
    sa.Column("issued_at", _ts, nullable=True),
    sa.Column("picked_up_at", _ts, nullable=True),
)

events = sa.Table(
    "identity_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", _ts, nullable=False),
    sa.Column("identity_id", sa.Integer, nullable=True, index=True),
    sa.Column("application_id", sa.Integer, nullable=True, index=True),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
)

# --- OpenID Connect provider (docs/spec/oidc.md §4) ---------------------------------------

oidc_clients = sa.Table(
    "identity_oidc_clients",
    metadata,
    sa.Column("client_id", sa.String(64), primary_key=True),
    # SHA-256 of a 256-bit random secret (high entropy: a slow hash adds nothing).
    sa.Column("secret_sha256", sa.String(64), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("redirect_uris", sa.Text, nullable=False),  # JSON list, matched exactly
    sa.Column("created_at", _ts, nullable=False),
)

# A Web eID-style challenge: a single-use 256-bit nonce bound to an origin, carrying the
# pending authorization request (JSON) it was issued for.
oidc_challenges = sa.Table(
    "identity_oidc_challenges",
    metadata,
    sa.Column("nonce", sa.String(64), primary_key=True),  # base64url of 32 bytes
    sa.Column("origin", sa.String(300), nullable=False),
    sa.Column("request", sa.Text, nullable=False),
    sa.Column("created_at", _ts, nullable=False),
    sa.Column("expires_at", _ts, nullable=False),
    sa.Column("used_at", _ts, nullable=True),
)

# Authorization codes, stored as SHA-256 (a database reader cannot redeem them).
oidc_codes = sa.Table(
    "identity_oidc_codes",
    metadata,
    sa.Column("code_sha256", sa.String(64), primary_key=True),
    sa.Column("client_id", sa.String(64), nullable=False),
    sa.Column("redirect_uri", sa.Text, nullable=False),
    sa.Column("code_challenge", sa.String(128), nullable=False),
    sa.Column("claims", sa.Text, nullable=False),  # JSON: sub, names, nonce, auth_time, amr
    sa.Column("created_at", _ts, nullable=False),
    sa.Column("expires_at", _ts, nullable=False),
    sa.Column("used_at", _ts, nullable=True),
)

# --- Passkeys (WebAuthn Level 3) and provider sessions (docs/spec/identity.md §7) -------

# A person's passkey credentials. ``credential_id`` is the base64url of the raw id
# (WebAuthn §4 "Credential ID", at most 1023 bytes → 1364 characters); ``public_key`` the
# COSE_Key as the authenticator gave it; ``sign_count`` the last signature counter seen.
passkeys = sa.Table(
    "identity_passkeys",
    metadata,
    sa.Column("credential_id", sa.String(1400), primary_key=True),
    sa.Column("person_code", sa.String(40), nullable=False, index=True),  # EE38001085718
    sa.Column("user_handle", sa.String(64), nullable=False),  # base64url, random, no PII
    sa.Column("public_key", sa.LargeBinary, nullable=False),
    sa.Column("sign_count", sa.BigInteger, nullable=False),
    sa.Column("transports", sa.Text, nullable=False),  # JSON list, as the browser said
    sa.Column("aaguid", sa.String(36), nullable=False),
    sa.Column("backed_up", sa.Boolean, nullable=False),  # a synced (multi-device) passkey
    sa.Column("created_at", _ts, nullable=False),
    sa.Column("last_used_at", _ts, nullable=True),
)

# A browser session at the provider, opened by a certificate login; stored as SHA-256
# of the cookie value. Only such a session may register a passkey.
oidc_sessions = sa.Table(
    "identity_oidc_sessions",
    metadata,
    sa.Column("session_sha256", sa.String(64), primary_key=True),
    sa.Column("person_code", sa.String(40), nullable=False),
    sa.Column("subject", sa.Text, nullable=False),  # JSON: names, birth date, amr
    sa.Column("created_at", _ts, nullable=False),
    sa.Column("expires_at", _ts, nullable=False),
    sa.Column("ended_at", _ts, nullable=True),
)

# Single-use WebAuthn registration challenges, bound to the session that asked.
passkey_challenges = sa.Table(
    "identity_passkey_challenges",
    metadata,
    sa.Column("challenge", sa.String(64), primary_key=True),  # base64url of 32 bytes
    sa.Column("session_sha256", sa.String(64), nullable=False),
    sa.Column("user_handle", sa.String(64), nullable=False),
    sa.Column("created_at", _ts, nullable=False),
    sa.Column("expires_at", _ts, nullable=False),
    sa.Column("used_at", _ts, nullable=True),
)
