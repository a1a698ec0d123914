"""A gateway's database-backed parts: the message log and the service configuration."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sild.gateway.config import GatewaySettings
from sild.gateway.messagelog.log import MessageLog
from sild.gateway.serverconf.store import ServerConf
from sild.store import make_engine, migrate

__all__ = ["GatewayStores"]


@dataclass
class GatewayStores:
    settings: GatewaySettings
    engine: Engine = field(init=False)
    log: MessageLog = field(init=False)
    serverconf: ServerConf = field(init=False)

    def __post_init__(self) -> None:
        self.engine = make_engine(self.settings.database_url)
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
