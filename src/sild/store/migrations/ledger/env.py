"""Alembic environment of the ledger's tables (run by sild.store.migrate)."""

from sild.store.ledger_tables import metadata
from sild.store.migrations import run_migrations

run_migrations(metadata)
