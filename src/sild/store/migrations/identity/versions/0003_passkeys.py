"""Passkeys (WebAuthn), provider sessions, passkey registration challenges

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identity_passkeys",
        sa.Column("credential_id", sa.String(length=1400), nullable=False),
        sa.Column("person_code", sa.String(length=40), nullable=False),
        sa.Column("user_handle", sa.String(length=64), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("transports", sa.Text(), nullable=False),
        sa.Column("aaguid", sa.String(length=36), nullable=False),
        sa.Column("backed_up", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("credential_id"),
    )
    op.create_index("ix_identity_passkeys_person_code", "identity_passkeys",
                    ["person_code"])
    op.create_table(
        "identity_oidc_sessions",
        sa.Column("session_sha256", sa.String(length=64), nullable=False),
        sa.Column("person_code", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("session_sha256"),
    )
    op.create_table(
        "identity_passkey_challenges",
        sa.Column("challenge", sa.String(length=64), nullable=False),
        sa.Column("session_sha256", sa.String(length=64), nullable=False),
        sa.Column("user_handle", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("challenge"),
    )


def downgrade() -> None:
    op.drop_table("identity_passkey_challenges")
    op.drop_table("identity_oidc_sessions")
    op.drop_index("ix_identity_passkeys_person_code", table_name="identity_passkeys")
    op.drop_table("identity_passkeys")
