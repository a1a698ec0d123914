"""Alembic environment of the gateway's serverconf tables (run by sild.store.migrate)."""

from sild.store.migrations import run_migrations
from sild.store.serverconf_tables import metadata

run_migrations(metadata)
