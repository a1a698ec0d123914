"""Alembic environment of a gateway's shared replay window (run by sild.store.migrate)."""

from sild.store.migrations import run_migrations
from sild.store.replay_tables import metadata

run_migrations(metadata)
