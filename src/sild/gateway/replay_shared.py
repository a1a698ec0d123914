"""The replay window shared by several nodes of one gateway (docs/operations.md
"Active-active topology"; docs/spec/exchange.md §4 step 2).

Each node keeps its own :class:`sild.core.replay.ReplayCache`, which refuses a replay
that reaches the same node for free. Behind a load balancer a replay may reach the
other node, whose cache has never seen the id; the message log's unique key on the
request id would only refuse its log record *after* the provider IS had answered it.
So on PostgreSQL each node also claims every accepted request id in ``replay_claims``
before the IS is called: ``INSERT … ON CONFLICT DO NOTHING`` — no row inserted means
another node took the id first, and the request is refused as a replay.

The claim commits with ``synchronous_commit = off`` into an UNLOGGED table: it must be
visible to the other nodes (it is, at commit), not survive a PostgreSQL crash (the
message log's unique key is the durable backstop). Stale claims are deleted now and
then; the freshness check refuses their requests anyway.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from sild.errors import InvalidMessage, StorageError
from sild.gateway.stores import migration_lock
from sild.store import migrate
from sild.store.replay_tables import replay_claims

__all__ = ["SharedReplay"]

# Stale claims are deleted at most this often (seconds), by whichever claim comes next.
PURGE_EVERY = 10.0


class SharedReplay:
    """``await claim(request_id, expires_at=…)``; :class:`InvalidMessage` if taken."""

    def __init__(self, engine: Engine, *, threads: int = 4) -> None:
        if engine.dialect.name != "postgresql":
            raise StorageError("a shared replay window needs PostgreSQL")
        self.engine = engine
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="sild-replay")
        self._purged = 0.0

    @classmethod
    def open(cls, engine: Engine) -> SharedReplay:
        with migration_lock(engine):  # nodes starting together
            migrate(engine, "replay")
        return cls(engine)

    async def claim(self, request_id: str, *, expires_at: float) -> None:
        digest = hashlib.blake2b(request_id.encode(), digest_size=16).digest()
        loop = asyncio.get_running_loop()
        try:
            won = await loop.run_in_executor(self._executor, self._claim, digest, expires_at)
        except SQLAlchemyError as e:
            raise StorageError(f"replay window: {type(e).__name__}") from e
        if not won:
            raise InvalidMessage(f"request {request_id} was already received (replay)")

    def _claim(self, digest: bytes, expires_at: float) -> bool:
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(sa.text("SET LOCAL synchronous_commit = off"))
            if now - self._purged > PURGE_EVERY:
                self._purged = now
                conn.execute(replay_claims.delete().where(replay_claims.c.expires_at < now))
            won = conn.execute(pg_insert(replay_claims).values(
                digest=digest, expires_at=expires_at).on_conflict_do_nothing()
                .returning(replay_claims.c.digest)).first()
        return won is not None

    def close(self) -> None:
        self._executor.shutdown(wait=True)
