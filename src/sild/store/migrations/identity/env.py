"""Alembic environment of the identity store's tables (run by sild.store.migrate)."""

from sild.store.identity_tables import metadata
from sild.store.migrations import run_migrations

run_migrations(metadata)
