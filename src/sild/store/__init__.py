"""Storage: SQLAlchemy 2 Core tables, engines for SQLite and PostgreSQL, migrations."""

from sild.store.engine import make_engine, migrate

__all__ = ["make_engine", "migrate"]
