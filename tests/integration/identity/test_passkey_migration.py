"""Alembic revision 0003 of the identity store (passkeys, sessions, registration
challenges): it builds what the tables module declares, and it goes down and up again,
on SQLite and PostgreSQL (docs/spec/identity.md §7.5)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from sild.store import make_engine, migrate
from sild.store.engine import alembic_config
from sild.store.identity_tables import metadata

NEW = {"identity_passkeys", "identity_oidc_sessions", "identity_passkey_challenges"}


def test_revision_0003_matches_the_tables_and_round_trips(db_url: str) -> None:
    """upgrade head = identity_tables (no differences); downgrade 0002 drops exactly the
    three tables; upgrade brings them back."""
    engine = make_engine(db_url)
    try:
        migrate(engine, "identity")
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert [d for d in diff if any(t in str(d) for t in NEW)] == []
        cfg = alembic_config("identity")
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0002")
        names = set(sa.inspect(engine).get_table_names())
        assert not NEW & names
        assert "identity_oidc_codes" in names
        migrate(engine, "identity")
        assert set(sa.inspect(engine).get_table_names()) >= NEW
    finally:
        engine.dispose()
