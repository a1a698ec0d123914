"""Alembic environment of the e-services' tables (run by sild.store.migrate)."""

from sild.store.eservices_tables import metadata
from sild.store.migrations import run_migrations

run_migrations(metadata)
