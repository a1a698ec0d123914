"""The replay window shared by the nodes of one gateway (docs/operations.md
"Active-active topology"; docs/spec/exchange.md §4 step 2).

``replay_claims`` holds one row per accepted request id (its 16-byte BLAKE2b digest,
as :class:`sild.core.replay.ReplayCache` keeps it) until the request is stale anyway
(``expires_at``, Unix seconds). On PostgreSQL the table is UNLOGGED: an entry lives for
the freshness window only, and the message log's unique key on the request id stays
the durable backstop should PostgreSQL itself crash.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["metadata", "replay_claims"]

metadata = sa.MetaData()

replay_claims = sa.Table(
    "replay_claims",
    metadata,
    sa.Column("digest", sa.LargeBinary(16), primary_key=True),
    sa.Column("expires_at", sa.Float, nullable=False),
)
sa.Index("ix_replay_claims_expires", replay_claims.c.expires_at)
