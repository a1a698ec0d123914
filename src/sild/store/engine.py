"""Engines for SQLite (the embedded default) and PostgreSQL (by URL), and migrations.

SQLite runs in WAL mode with foreign keys on and a busy timeout, so the CLI and a
running server can share one database file (research/limits.md §6a). PostgreSQL
URLs may be given as ``postgresql://…``; they are run through psycopg 3.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, OperationalError

from sild.errors import ConfigurationError, StorageError

__all__ = ["COMPONENTS", "alembic_config", "make_engine", "migrate", "normalise_url"]

_MIGRATIONS = Path(__file__).parent / "migrations"


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and use the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA synchronous=FULL")
    cur.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url``; :class:`ConfigurationError` if the URL is not usable."""
    url = normalise_url(url)
    try:
        if url.startswith("sqlite"):
            engine = sa.create_engine(url, connect_args={"timeout": 10})
            sa.event.listen(engine, "connect", _sqlite_pragmas)
        elif url.startswith("postgresql+psycopg://"):
            engine = sa.create_engine(url, pool_pre_ping=True)
        else:
            raise ConfigurationError(
                f"unsupported database URL {url.split(':', 1)[0]!r}: use sqlite:/// or postgresql://"
            )
    except ArgumentError as e:
        raise ConfigurationError(f"malformed database URL: {e}") from e
    return engine


# component → its migrations folder under store/migrations/ (and version table name)
COMPONENTS = ("registry", "messagelog", "serverconf", "ledger", "witness", "anchoring",
              "identity", "consent", "notify", "registers", "eservices", "replay")


def alembic_config(component: str) -> Config:
    if component not in COMPONENTS:
        raise ConfigurationError(f"unknown storage component {component!r}")
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS / component))
    cfg.attributes["version_table"] = f"alembic_version_{component}"
    return cfg


def migrate(engine: Engine, component: str = "registry") -> None:
    """Bring one component's tables up to date (Alembic ``upgrade head``)."""
    cfg = alembic_config(component)
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except OperationalError as e:
        raise StorageError(f"cannot reach the database: {e.orig}") from e
