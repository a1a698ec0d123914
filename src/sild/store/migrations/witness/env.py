"""Alembic environment of a ledger witness's tables (run by sild.store.migrate)."""

from sild.store.ledger_tables import witness_metadata
from sild.store.migrations import run_migrations

run_migrations(witness_metadata)
