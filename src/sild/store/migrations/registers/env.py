"""Alembic environment of the base registries' tables (run by sild.store.migrate)."""

from sild.store.migrations import run_migrations
from sild.store.registers_tables import metadata

run_migrations(metadata)
