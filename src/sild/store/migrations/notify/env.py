"""Alembic environment of the notification service's tables (run by sild.store.migrate)."""

from sild.store.migrations import run_migrations
from sild.store.notify_tables import metadata

run_migrations(metadata)
