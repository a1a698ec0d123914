"""A gateway's database-backed parts: the message log and the service configuration."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sild.errors import StorageError
from sild.gateway.config import GatewaySettings
from sild.gateway.messagelog.log import MessageLog
from sild.gateway.serverconf.store import ServerConf
from sild.store import make_engine, migrate

__all__ = ["GatewayStores", "migrate_all", "migration_lock"]

# The PostgreSQL advisory lock held while a gateway node migrates ("SildMigr"): nodes
# sharing one database start together without racing on CREATE TABLE.
MIGRATION_LOCK = 0x53696C64_4D696772


@contextmanager
def migration_lock(engine: Engine) -> Iterator[None]:
    """Hold the migration lock on PostgreSQL (SQLite serialises writers itself)."""
    if engine.dialect.name != "postgresql":
        yield
        return
    try:
        conn = engine.connect()
    except sa.exc.OperationalError as e:
        raise StorageError(f"cannot reach the database: {e.orig}") from e
    with conn:
        conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK})
            conn.commit()


def migrate_all(settings: GatewaySettings) -> None:
    """Every table a gateway process may create at start, now (before forking several
    processes on one SQLite file, where no advisory lock serialises them)."""
    engine = make_engine(settings.database_url)
    try:
        with migration_lock(engine):
            for component in ("messagelog", "serverconf", "anchoring"):
                migrate(engine, component)
            if engine.dialect.name == "postgresql":
                migrate(engine, "replay")
    finally:
        engine.dispose()


@dataclass
class GatewayStores:
    settings: GatewaySettings
    engine: Engine = field(init=False)
    log: MessageLog = field(init=False)
    serverconf: ServerConf = field(init=False)

    def __post_init__(self) -> None:
        self.engine = make_engine(self.settings.database_url)
        with migration_lock(self.engine):
            migrate(self.engine, "messagelog")
            migrate(self.engine, "serverconf")
        self.log = MessageLog(self.engine, body_mode=self.settings.log_body)
        self.serverconf = ServerConf(self.engine)

    def check_database(self) -> None:
        """Raise if the database does not answer (for /health)."""
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    async def start(self) -> None:
        await self.log.start()

    async def close(self) -> None:
        await self.log.close()
        self.engine.dispose()
