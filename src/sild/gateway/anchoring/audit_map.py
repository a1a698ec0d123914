"""``sild audit``: the newest head map against the usage heads (docs/spec/tracker.md §3.4.5).

The rounds' map leaves and receipts are checked with the rounds (anchoring.md §5); this
checks what only the gateway's database can show:

1. each stored bucket's entries give its stored hash;
2. the newest version of every bucket gives the newest round's map root;
3. every usage-chain head equals its entry in the map, unless records of that chain
   were committed after the map (then it is counted as not anchored yet);
4. every map entry still has its head.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sild.core.headmap import (
    HeadMapTree,
    bucket_of,
    decode_entries,
    map_key,
    stored_bucket_hash,
)
from sild.gateway.anchoring.audit import Finding
from sild.store.anchoring_tables import anchor_rounds, usage_map_buckets
from sild.store.messagelog_tables import usage_heads, usage_log

__all__ = ["MapAudit", "audit_head_map"]


class MapAudit:
    """Findings and counts of :func:`audit_head_map`."""

    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self.mapped = 0
        self.unmapped = 0


def audit_head_map(conn: Connection) -> MapAudit:
    """§3.4.5 steps 1–4 (memory grows with the number of heads)."""
    out = MapAudit()
    inspector = sa.inspect(conn)
    if not inspector.has_table(usage_map_buckets.name) or not inspector.has_table(
            usage_heads.name):
        return out
    r = anchor_rounds.c
    newest = conn.execute(sa.select(r.id, r.map_root, r.map_through).where(
        r.map_root.is_not(None)).order_by(r.id.desc()).limit(1)).first()
    heads = conn.execute(sa.select(usage_heads.c.register, usage_heads.c.subject,
                                   usage_heads.c.seq, usage_heads.c.chain)).all()
    if newest is None:
        out.unmapped = len(heads)
        return out
    b = usage_map_buckets.c
    top = sa.select(b.bucket, sa.func.max(b.round_id).label("r")).group_by(b.bucket).subquery()
    mapped: dict[bytes, tuple[int, bytes]] = {}
    hashes: dict[int, bytes] = {}
    for row in conn.execute(sa.select(b.bucket, b.hash, b.entries, b.round_id).join(
            top, sa.and_(top.c.bucket == b.bucket, top.c.r == b.round_id))):
        # (1) entries → bucket hash
        try:
            ok = stored_bucket_hash(bytes(row.entries)) == bytes(row.hash)
            entries = decode_entries(bytes(row.entries))
        except ValueError:
            ok, entries = False, {}
        if not ok:
            out.findings.append(Finding("edited", f"head map bucket {row.bucket} (round "
                                        f"{row.round_id}): its entries do not give its hash",
                                        round_id=int(row.round_id)))
        if any(bucket_of(k) != row.bucket for k in entries):
            out.findings.append(Finding("edited", f"head map bucket {row.bucket} holds a key "
                                        "of another bucket", round_id=int(row.round_id)))
        hashes[int(row.bucket)] = bytes(row.hash)
        mapped.update(entries)
    # (2) buckets → the newest map root
    try:
        root = HeadMapTree(hashes).root()
    except ValueError:
        root = None
    if root != bytes(newest.map_root):
        out.findings.append(Finding("round", "the stored head map does not give this round's "
                                    "anchored map root", round_id=int(newest.id)))
    # (3) heads → map entries; heads of chains written since the map are not anchored yet
    later = {(x.register, x.subject) for x in conn.execute(
        sa.select(usage_log.c.register, usage_log.c.subject).distinct().where(
            usage_log.c.id > int(newest.map_through or 0)))}
    for h in heads:
        key = map_key(h.register, h.subject)
        entry = mapped.pop(key, None)
        if entry == (int(h.seq), bytes(h.chain)):
            out.mapped += 1
        elif (h.register, h.subject) in later:
            out.unmapped += 1
        else:
            shown = "no entry" if entry is None else f"record {entry[0]}"
            out.findings.append(Finding(
                "edited", f"usage head of {h.subject} in {h.register} (record {h.seq}) "
                f"disagrees with the anchored head map ({shown})", round_id=int(newest.id)))
    # (4) map entries whose head is gone
    for key, (seq, _) in mapped.items():
        out.findings.append(Finding("deleted", f"the head map holds a head (record {seq}, key "
                                    f"{key.hex()[:16]}…) that usage_heads no longer has",
                                    round_id=int(newest.id)))
    return out
