"""Alembic environment of a gateway's anchoring tables (run by sild.store.migrate)."""

from sild.store.anchoring_tables import metadata
from sild.store.migrations import run_migrations

run_migrations(metadata)
