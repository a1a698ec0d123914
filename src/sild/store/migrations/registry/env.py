"""Alembic environment of the registry's tables (run by sild.store.migrate)."""

from sild.store.migrations import run_migrations
from sild.store.registry_tables import metadata

run_migrations(metadata)
