"""A gateway's anchoring state: local rounds over message-log record hashes, and proofs.

docs/spec/anchoring.md §2. ``anchor_rounds`` holds one row per local round (the RFC
6962 root over its records' hashes and, once the ledger answered, the receipt of that
root); ``anchor_records`` holds, beside each anchored ``message_log`` row (same id),
its local inclusion path. There is deliberately no foreign key to ``message_log``: a
row deleted behind the gateway's back must leave its proof behind, so ``sild audit``
can name it (§5), and purging archived rows must not be blocked.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["anchor_records", "anchor_rounds", "metadata", "usage_map_buckets", "usage_map_nodes"]

metadata = sa.MetaData()

_ts = sa.DateTime(timezone=True)
_id = sa.BigInteger().with_variant(sa.Integer, "sqlite")

anchor_rounds = sa.Table(
    "anchor_rounds",
    metadata,
    sa.Column("id", _id, primary_key=True, autoincrement=False),  # 1, 2, 3, … no gaps
    sa.Column("created_at", _ts, nullable=False),
    sa.Column("first_record_id", sa.BigInteger, nullable=False),
    sa.Column("last_record_id", sa.BigInteger, nullable=False),
    sa.Column("last_logged_at", _ts, nullable=False),  # newest logged_at among its records
    sa.Column("size", sa.Integer, nullable=False),  # leaves (records) in the round tree
    sa.Column("root", sa.LargeBinary(32), nullable=False),  # RFC 6962 root, §2.2
    sa.Column("ledger_id", sa.String(64), nullable=True),  # "<round>.<leaf>" once submitted
    sa.Column("receipt", sa.LargeBinary, nullable=True),  # c2sp tlog-proof of the root
    sa.Column("anchored_at", _ts, nullable=True),
    # docs/spec/tracker.md §3.4: the head map's root, the round tree's last leaf (then
    # ``size`` counts it), that leaf's inclusion path, and the last usage_log id it covers.
    sa.Column("map_root", sa.LargeBinary(32), nullable=True),
    sa.Column("map_entries", sa.BigInteger, nullable=True),
    sa.Column("map_path", sa.LargeBinary, nullable=True),
    sa.Column("map_through", sa.BigInteger, nullable=True),
)
sa.Index("ix_anchor_rounds_pending", anchor_rounds.c.anchored_at)

anchor_records = sa.Table(
    "anchor_records",
    metadata,
    sa.Column("record_id", _id, primary_key=True, autoincrement=False),  # message_log.id
    sa.Column("round_id", sa.BigInteger, sa.ForeignKey("anchor_rounds.id"), nullable=False),
    sa.Column("leaf_index", sa.Integer, nullable=False),
    sa.Column("path", sa.LargeBinary, nullable=False),  # 32-byte hashes, leaf sibling first
    sa.UniqueConstraint("round_id", "leaf_index", name="ux_anchor_records_leaf"),
)

# The head map's buckets and inner nodes by round (tracker.md §3.4): a version is kept
# while it is the newest at or before the newest anchored round, or newer than it, so a
# proof at the newest anchored round can always be built; older versions are pruned.
usage_map_buckets = sa.Table(
    "usage_map_buckets",
    metadata,
    sa.Column("bucket", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("round_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("hash", sa.LargeBinary(32), nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("entries", sa.LargeBinary, nullable=False),  # (key || u64 seq || chain)*
)

usage_map_nodes = sa.Table(
    "usage_map_nodes",
    metadata,
    sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),  # 8 (§3.4)
    sa.Column("idx", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("round_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("hash", sa.LargeBinary(32), nullable=False),
)
