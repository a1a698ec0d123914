"""Migrations create exactly the tables the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from sild.store import make_engine, migrate
from sild.store.anchoring_tables import metadata as anchoring_metadata
from sild.store.consent_tables import metadata as consent_metadata
from sild.store.engine import COMPONENTS
from sild.store.eservices_tables import metadata as eservices_metadata
from sild.store.identity_tables import metadata as identity_metadata
from sild.store.ledger_tables import metadata as ledger_metadata
from sild.store.ledger_tables import witness_metadata
from sild.store.messagelog_tables import metadata as messagelog_metadata
from sild.store.notify_tables import metadata as notify_metadata
from sild.store.registers_tables import metadata as registers_metadata
from sild.store.registry_tables import metadata as registry_metadata
from sild.store.replay_tables import metadata as replay_metadata
from sild.store.serverconf_tables import metadata as serverconf_metadata

METADATA = {"registry": registry_metadata, "messagelog": messagelog_metadata,
            "serverconf": serverconf_metadata, "ledger": ledger_metadata,
            "witness": witness_metadata, "anchoring": anchoring_metadata,
            "identity": identity_metadata, "consent": consent_metadata,
            "notify": notify_metadata, "registers": registers_metadata,
            "eservices": eservices_metadata,
            "replay": replay_metadata}


@pytest.mark.parametrize("component", COMPONENTS)
def test_migrations_match_table_definitions(db_url: str, component: str) -> None:
    """After `upgrade head` Alembic finds no difference from the declared tables."""
    engine = make_engine(db_url)
    migrate(engine, component)
    migrate(engine, component)  # idempotent
    with engine.connect() as conn:
        opts = {"version_table": f"alembic_version_{component}"}
        ctx = MigrationContext.configure(conn, opts=opts)
        diff = [d for d in compare_metadata(ctx, METADATA[component])
                if not (d[0] == "remove_table" and str(d[1].name).startswith("alembic_version"))]
    engine.dispose()
    assert diff == []
