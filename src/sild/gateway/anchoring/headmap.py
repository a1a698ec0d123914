"""The anchorer's head map: keeping the map of all usage-chain heads current, each round.

docs/spec/tracker.md §3.4 (steps cited in comments). The map's hashing is pure
(:mod:`sild.core.headmap`); this module does its I/O inside the anchoring round's one
transaction (docs/spec/anchoring.md §3):

1. the usage records committed since the last mapped one (``usage_log.id`` above the
   newest ``anchor_rounds.map_through``, in id order, stopping before an id gap as §3
   step 3 does for the message log), or every head when nothing was mapped yet;
2. the current heads of the (register, subject) pairs they belong to;
3. the buckets those fall in, from their newest stored version, with those heads put in;
4. the buckets' new hashes and the map tree's changed nodes, planned in memory;
5. the new bucket versions and block roots (the 256 nodes of level 8) stored under the
   round's id, and versions no proof can need any more pruned (older than the newest
   one at or before the newest anchored round).

The tree itself (4 MB) lives in memory, loaded at start from the newest bucket
versions; it changes only after the round has committed (:meth:`HeadMap.committed`).
A head that does not extend the one mapped before (its chain was rewritten) is not
mapped: the old head stays, and that person's proofs keep failing. The anchorer never
writes ``usage_log`` or ``usage_heads``: the gateway's writer is
never blocked by it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection, Engine

from sild.core.headmap import (
    DEPTH,
    EMPTY_BUCKET,
    HeadMapTree,
    MapUpdate,
    bucket_hash,
    bucket_of,
    decode_entries,
    empty_node,
    encode_entries,
    head_value,
    map_key,
)
from sild.core.merkle import LeafHash, MerkleTree
from sild.store.anchoring_tables import anchor_rounds, usage_map_buckets, usage_map_nodes
from sild.store.messagelog_tables import usage_cutoffs, usage_heads, usage_log

log = structlog.get_logger("sild.gateway.anchoring.headmap")

__all__ = ["HeadMap", "MapPlan", "latest_bucket", "latest_buckets", "newest_anchored_map",
           "path_at"]

_CHUNK = 500  # keys per IN (…) query
_OR_TERMS = 100  # key lookups per query
# Inner nodes are stored at one level only: the roots of the 256 blocks of 256 buckets.
# A path is rebuilt from one block's buckets and those 256 roots (§3.4 step 5), so a
# round stores one row per changed bucket and at most 256 node rows.
SPLIT = DEPTH // 2
BLOCK = 1 << SPLIT


@dataclass(frozen=True, slots=True)
class MapPlan:
    """What one round changes in the map (written by :meth:`HeadMap.write`)."""

    update: MapUpdate
    buckets: dict[int, tuple[bytes, bytes, int]]  # bucket → (hash, stored entries, count)
    entries: int  # entries in the whole map after the round
    through: int  # the last usage_log id covered


def _by_register(t: Any, pairs: Iterable[tuple[str, str]]) -> list[Any]:
    """``register = ? AND subject IN (…)`` conditions covering ``pairs`` (a row-value
    IN would make SQLite scan the whole table)."""
    by: dict[str, list[str]] = defaultdict(list)
    for register, subject in sorted(pairs):
        by[register].append(subject)
    return [sa.and_(t.register == register, t.subject.in_(subjects[i:i + _CHUNK]))
            for register, subjects in by.items() for i in range(0, len(subjects), _CHUNK)]


def _pair_queries(conn: Connection, t: Any, select: Any,
                  pairs: Iterable[tuple[str, str]]) -> list[Any]:
    """``select`` restricted to (register, subject) ``pairs``, as index searches: a join
    with a VALUES list on PostgreSQL (sure of the index without table statistics),
    ``register = ? AND subject IN (…)`` on SQLite."""
    if conn.dialect.name != "postgresql":
        return [select.where(w) for w in _by_register(t, pairs)]
    ordered = sorted(pairs)
    out = []
    for i in range(0, len(ordered), _CHUNK):
        v = sa.values(sa.column("r", sa.String), sa.column("s", sa.String),
                      name="v").data(ordered[i:i + _CHUNK])
        out.append(select.join(v, sa.and_(t.register == v.c.r, t.subject == v.c.s)))
    return out


def latest_bucket(conn: Connection, bucket: int, *, at_round: int | None = None
                  ) -> tuple[bytes, int, int] | None:
    """The newest stored version of a bucket (at or before ``at_round``):
    (entries, count, round id), or None when the bucket was always empty."""
    b = usage_map_buckets.c
    q = sa.select(b.entries, b.count.label("n"), b.round_id).where(b.bucket == bucket)
    if at_round is not None:
        q = q.where(b.round_id <= at_round)
    row = conn.execute(q.order_by(b.round_id.desc()).limit(1)).first()
    return None if row is None else (bytes(row.entries), int(row.n), int(row.round_id))


def latest_buckets(conn: Connection, buckets: Iterable[int]) -> dict[int, bytes]:
    """The newest stored entries of each of ``buckets`` (absent: always empty)."""
    b = usage_map_buckets.c
    out: dict[int, bytes] = {}
    ordered = sorted(set(buckets))
    for i in range(0, len(ordered), _CHUNK):
        part = ordered[i:i + _CHUNK]
        top = (sa.select(b.bucket, sa.func.max(b.round_id).label("r"))
               .where(b.bucket.in_(part)).group_by(b.bucket).subquery())
        for row in conn.execute(sa.select(b.bucket, b.entries).join(
                top, sa.and_(top.c.bucket == b.bucket, top.c.r == b.round_id))):
            out[int(row.bucket)] = bytes(row.entries)
    return out


def _newest(conn: Connection, table: sa.Table, where: list[Any], key: str, *,
            at_round: int) -> dict[int, bytes]:
    """``{key: hash}`` of the newest versions at or before ``at_round``."""
    t = table.c
    top = (sa.select(t[key], sa.func.max(t.round_id).label("r"))
           .where(*where, t.round_id <= at_round).group_by(t[key]).subquery())
    rows = conn.execute(sa.select(t[key], t.hash).where(*where).join(
        top, sa.and_(top.c[key] == t[key], top.c.r == t.round_id)))
    return {int(r[0]): bytes(r[1]) for r in rows}


def path_at(conn: Connection, bucket: int, *, at_round: int) -> list[bytes]:
    """The bucket's inclusion path in the map as of ``at_round`` (§3.4 step 5: from the
    256 buckets of its block and the 256 stored block roots, level ``SPLIT``)."""
    low = bucket >> SPLIT << SPLIT
    b = usage_map_buckets.c
    hashes = _newest(conn, usage_map_buckets, [b.bucket >= low, b.bucket < low + BLOCK],
                     "bucket", at_round=at_round)
    block = MerkleTree([LeafHash(hashes.get(x, EMPTY_BUCKET))
                        for x in range(low, low + BLOCK)])
    n = usage_map_nodes.c
    tops = _newest(conn, usage_map_nodes, [n.level == SPLIT], "idx", at_round=at_round)
    upper = MerkleTree([LeafHash(tops.get(x, empty_node(SPLIT))) for x in range(BLOCK)])
    return block.inclusion_proof(bucket - low) + upper.inclusion_proof(bucket >> SPLIT)


def newest_anchored_map(conn: Connection) -> int | None:
    """The newest round that carries a map root and has its ledger receipt: the round
    proofs are built at (§3.4), and the limit of pruning."""
    r = anchor_rounds.c
    found = conn.execute(sa.select(sa.func.max(r.id)).where(
        r.receipt.is_not(None), r.map_root.is_not(None))).scalar()
    return None if found is None else int(found)


class HeadMap:
    """The map of one gateway database, kept by its anchorer (one thread)."""

    def __init__(self, *, max_records: int = 100_000) -> None:
        self.tree = HeadMapTree()
        self.entries = 0
        self.max_records = max_records  # usage rows per round; more make more rounds

    @staticmethod
    def available(engine: Engine) -> bool:
        """Whether this database has the usage tables (a gateway that never served
        personal data since the tracker existed has them too, empty)."""
        with engine.connect() as conn:
            return bool(sa.inspect(conn).has_table(usage_heads.name))

    def load(self, conn: Connection) -> None:
        """The tree from the newest version of every bucket."""
        b = usage_map_buckets.c
        newest = (sa.select(b.bucket, sa.func.max(b.round_id).label("r"))
                  .group_by(b.bucket).subquery())
        rows = conn.execute(sa.select(b.bucket, b.hash, b.count.label("n")).join(
            newest, sa.and_(newest.c.bucket == b.bucket, newest.c.r == b.round_id))).all()
        self.tree = HeadMapTree({int(r.bucket): bytes(r.hash) for r in rows})
        self.entries = sum(int(r.n) for r in rows)

    # -- §3.4 steps 1–4: plan ------------------------------------------------------------

    def plan(self, conn: Connection, *, gaps: dict[int, float], monotonic: float,
             gap_wait: float) -> MapPlan | None:
        """The round's change to the map, or None when no head changed."""
        r = anchor_rounds.c
        through = conn.execute(sa.select(sa.func.max(r.map_through))).scalar()
        u, h = usage_log.c, usage_heads.c
        if through is None:
            # (1) nothing mapped yet: every head (usage rows expire, heads stay)
            newest = conn.execute(sa.select(sa.func.max(u.id))).scalar()
            if newest is None and conn.execute(
                    sa.select(sa.func.count()).select_from(usage_heads)).scalar() == 0:
                return None
            heads = {(x.register, x.subject): (int(x.seq), bytes(x.chain)) for x in
                     conn.execute(sa.select(h.register, h.subject, h.seq, h.chain))}
            last = int(newest or 0)
        else:
            # (1) the usage rows since, in id order, stopping before a young id gap
            rows = conn.execute(sa.select(u.id, u.register, u.subject)
                                .where(u.id > int(through)).order_by(u.id)
                                .limit(self.max_records)).all()
            expected, keys, last = int(through) + 1, set(), int(through)
            for row in rows:
                if row.id != expected:
                    gap = -expected  # usage gaps, apart from the message log's
                    seen = gaps.setdefault(gap, monotonic)
                    if monotonic - seen < gap_wait:
                        break
                    gaps.pop(gap, None)
                keys.add((row.register, row.subject))
                last = expected = int(row.id)
                expected += 1
            if not keys:
                return None
            # (2) their heads now
            heads = {}
            for q in _pair_queries(conn, h, sa.select(h.register, h.subject, h.seq, h.chain),
                                   keys):
                for x in conn.execute(q):
                    heads[(x.register, x.subject)] = (int(x.seq), bytes(x.chain))
        # (3) the buckets they fall in, with these heads put in — unless a head does not
        # extend the one mapped before (the chain was rewritten behind the gateway's back)
        by_bucket: dict[int, dict[bytes, tuple[int, bytes]]] = defaultdict(dict)
        names: dict[bytes, tuple[str, str]] = {}
        for (register, subject), head in heads.items():
            key = map_key(register, subject)
            by_bucket[bucket_of(key)][key] = head
            names[key] = (register, subject)
        buckets: dict[int, tuple[bytes, bytes, int]] = {}
        stored = latest_buckets(conn, by_bucket)
        olds = {bucket: decode_entries(stored[bucket]) if bucket in stored else {}
                for bucket in by_bucket}
        refused = self._rewritten(conn, {
            key: (names[key], olds[b][key]) for b, new in by_bucket.items() for key in new
            if key in olds[b] and olds[b][key] != new[key]}, heads)
        entries = self.entries
        for bucket, new in by_bucket.items():
            current = olds[bucket]
            entries -= len(current)
            current.update({k: v for k, v in new.items() if k not in refused})
            entries += len(current)
            blob = encode_entries(current)
            buckets[bucket] = (bucket_hash([(k, head_value(*v)) for k, v in
                                            sorted(current.items())]), blob, len(current))
        # (4) the tree's changed nodes
        update = self.tree.plan({b: v[0] for b, v in buckets.items()})
        return MapPlan(update, buckets, entries, last)

    @staticmethod
    def _rewritten(conn: Connection, changed: dict[bytes, tuple[tuple[str, str],
                                                                 tuple[int, bytes]]],
                   heads: dict[tuple[str, str], tuple[int, bytes]]) -> set[bytes]:
        """§3.4 step 3: the keys whose new head does not extend the mapped one: the
        stored record at the mapped seq must carry the mapped chain value (or have
        expired, below the chain's cutoff). Those keep their mapped head, so every
        proof of that person fails from now on, instead of the rewrite being laundered
        into the next anchored map."""
        bad: set[bytes] = set()
        wanted = {}
        for key, (name, (seq, _)) in changed.items():
            if heads[name][0] < seq:
                bad.add(key)
            else:
                wanted[(name[0], name[1], seq)] = key
        u, c = usage_log.c, usage_cutoffs.c
        found: dict[tuple[str, str, int], bytes] = {}
        cut: dict[tuple[str, str], int] = {}
        ordered = sorted(wanted)
        for i in range(0, len(ordered), _OR_TERMS):
            # Index searches of the whole unique key, whatever the table statistics: on
            # PostgreSQL a join with the VALUES list, on SQLite an OR of equalities
            # (SQLite scans for a row-value IN; PostgreSQL filters a long OR row by row
            # until the table has been analysed).
            part = ordered[i:i + _OR_TERMS]
            if conn.dialect.name == "postgresql":
                v = sa.values(sa.column("r", sa.String), sa.column("s", sa.String),
                              sa.column("n", sa.BigInteger), name="v").data(part)
                q = sa.select(u.register, u.subject, u.seq, u.chain).join(v, sa.and_(
                    u.register == v.c.r, u.subject == v.c.s, u.seq == v.c.n))
            else:
                q = sa.select(u.register, u.subject, u.seq, u.chain).where(sa.or_(*[
                    sa.and_(u.register == r, u.subject == s_, u.seq == n)
                    for r, s_, n in part]))
            for x in conn.execute(q):
                found[(x.register, x.subject, int(x.seq))] = bytes(x.chain)
        for where in _by_register(c, {(r, s) for r, s, _ in ordered}):
            for y in conn.execute(sa.select(c.register, c.subject, c.seq).where(where)):
                cut[(y.register, y.subject)] = int(y.seq)
        for where, key in wanted.items():
            mapped = changed[key][1][1]
            stored = found.get(where)
            expired = stored is None and cut.get(where[:2], 0) >= where[2]
            if stored != mapped and not expired:
                bad.add(key)
        for key in bad:
            register, subject = changed[key][0]
            log.warning("usage_chain_rewritten", register=register, subject=subject,
                        mapped_seq=changed[key][1][0])
        return bad

    # -- §3.4 step 5: store --------------------------------------------------------------

    def write(self, conn: Connection, round_id: int, plan: MapPlan) -> None:
        """Store the round's bucket and node versions and prune what no proof needs."""
        conn.execute(usage_map_buckets.insert(), [
            {"bucket": b, "round_id": round_id, "hash": v[0], "entries": v[1], "count": v[2]}
            for b, v in sorted(plan.buckets.items())])
        inner = [(lv, i, hsh) for (lv, i), hsh in sorted(plan.update.nodes.items())
                 if lv == SPLIT]
        if inner:
            conn.execute(usage_map_nodes.insert(), [
                {"level": lv, "idx": i, "round_id": round_id, "hash": hsh}
                for lv, i, hsh in inner])
        anchored = newest_anchored_map(conn)
        if anchored is not None:
            self._prune(conn, int(anchored), plan.buckets, ((lv, i) for lv, i, _ in inner))

    @staticmethod
    def _prune(conn: Connection, anchored: int, buckets: Iterable[int],
               nodes: Iterable[tuple[int, int]]) -> None:
        """Versions older than the newest one at or before ``anchored`` (§3.4 step 5)."""
        b = usage_map_buckets.c
        b2 = usage_map_buckets.alias("b2")
        keep_b = (sa.select(sa.func.max(b2.c.round_id)).where(
            b2.c.bucket == sa.bindparam("p_bucket"), b2.c.round_id <= anchored)
            .scalar_subquery())
        conn.execute(usage_map_buckets.delete().where(
            b.bucket == sa.bindparam("p_bucket"), b.round_id < keep_b),
            [{"p_bucket": x} for x in buckets])
        n = usage_map_nodes.c
        n2 = usage_map_nodes.alias("n2")
        keep_n = (sa.select(sa.func.max(n2.c.round_id)).where(
            n2.c.level == sa.bindparam("p_level"), n2.c.idx == sa.bindparam("p_idx"),
            n2.c.round_id <= anchored).scalar_subquery())
        params = [{"p_level": lv, "p_idx": i} for lv, i in nodes]
        if params:
            conn.execute(usage_map_nodes.delete().where(
                n.level == sa.bindparam("p_level"), n.idx == sa.bindparam("p_idx"),
                n.round_id < keep_n), params)

    def committed(self, plan: MapPlan) -> None:
        """The round is durable: the tree and the count move on."""
        self.tree.apply(plan.update)
        self.entries = plan.entries
