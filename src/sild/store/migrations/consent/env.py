"""Alembic environment of the consent store's tables (run by sild.store.migrate)."""

from sild.store.consent_tables import metadata
from sild.store.migrations import run_migrations

run_migrations(metadata)
