"""Alembic environment of the gateway's message-log tables (run by sild.store.migrate)."""

from sild.store.messagelog_tables import metadata
from sild.store.migrations import run_migrations

run_migrations(metadata)
