"""Tables of the ledger and of a ledger witness (SQLAlchemy Core; docs/spec/ledger.md §3).

The ledger keeps one row per round (the calendar entry and the round's submitted
imprints, so receipts can be served later), one state row with the latest cosigned
checkpoint, and its publications. Tiles are *derived* from the rounds and written as
static files; the database is the truth they are rebuilt from.

A witness (component ``witness``) keeps, per log origin, the last checkpoint it cosigned.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()
witness_metadata = sa.MetaData()

ledger_rounds = sa.Table(
    "ledger_rounds",
    metadata,
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),  # calendar index
    sa.Column("time_ms", sa.BigInteger, nullable=False),  # round end, Unix ms
    sa.Column("size", sa.BigInteger, nullable=False),  # hashes in the round
    sa.Column("root", sa.LargeBinary, nullable=False),  # RFC 6962 root of the round tree
    # The submitted imprints, concatenated (self-delimiting by algorithm id); NULL for
    # empty rounds and once pruned after the retention period.
    sa.Column("imprints", sa.LargeBinary, nullable=True),
)

ledger_state = sa.Table(
    "ledger_state",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),  # always 1
    sa.Column("size", sa.BigInteger, nullable=False),  # calendar size = rounds closed
    sa.Column("root", sa.LargeBinary, nullable=False),
    sa.Column("checkpoint", sa.LargeBinary, nullable=False),  # latest note, with cosignatures
)

ledger_publications = sa.Table(
    "ledger_publications",
    metadata,
    sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("root", sa.LargeBinary, nullable=False),
    sa.Column("time_ms", sa.BigInteger, nullable=False),
    sa.Column("checkpoint", sa.LargeBinary, nullable=False),  # the cosigned note
)

witness_logs = sa.Table(
    "witness_logs",
    witness_metadata,
    sa.Column("origin", sa.String(400), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("root", sa.LargeBinary, nullable=False),
    sa.Column("checkpoint", sa.LargeBinary, nullable=False),  # the last one cosigned
)
