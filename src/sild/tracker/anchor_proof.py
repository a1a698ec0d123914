"""The anchor section of a usage proof: the person's head in the anchored head map.

docs/spec/tracker.md §3.4. Built at the newest round that carries a map root and has
its ledger receipt: the person's bucket as it was then (other entries only as key and
commitment), the bucket's path to the map root, the map leaf's path to the round root,
and the round's receipt. :func:`sild.core.headmap.verify_anchor` checks it.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from sild.core.headmap import (
    ANCHOR_TYPE,
    BUCKETS,
    HASH,
    bucket_hash,
    bucket_of,
    decode_entries,
    entries_for_proof,
    head_value,
    map_key,
)
from sild.core.merkle import LeafHash, root_from_inclusion_proof
from sild.core.usage import CHAIN_START
from sild.errors import StorageError
from sild.gateway.anchoring.headmap import latest_bucket, newest_anchored_map, path_at
from sild.store.anchoring_tables import anchor_rounds, usage_map_buckets

__all__ = ["AnchoredHead", "anchored_head"]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass(frozen=True, slots=True)
class AnchoredHead:
    """The person's head as the newest anchored map holds it, and the section proving it."""

    seq: int
    chain: bytes
    section: dict[str, Any]


_ATTEMPTS = 3


def anchored_head(engine: Engine, register: str, subject: str) -> AnchoredHead | None:
    """None while no round with a head map has its receipt (or anchoring is off).

    The section is read in several statements while the anchorer may prune versions
    older than a round that just got its receipt; the section is checked against the
    round's map root before it is given out, and read again if a prune came between.
    """
    try:
        for _ in range(_ATTEMPTS):
            with engine.connect() as conn:
                found = _build(conn, register, subject)
            if found is None or found[1]:
                break
        return None if found is None else found[0]
    except SQLAlchemyError as e:
        raise StorageError(f"anchoring tables unavailable: {type(e).__name__}") from e


def _build(conn: Connection, register: str, subject: str
           ) -> tuple[AnchoredHead, bool] | None:
    if not sa.inspect(conn).has_table(usage_map_buckets.name):
        return None
    at = newest_anchored_map(conn)
    if at is None:
        return None
    r = anchor_rounds.c
    rnd = conn.execute(sa.select(r.size, r.map_root, r.map_entries, r.map_path, r.receipt)
                       .where(r.id == at)).one()
    key = map_key(register, subject)
    bucket = bucket_of(key)
    stored = latest_bucket(conn, bucket, at_round=at)
    entries = decode_entries(stored[0]) if stored is not None else {}
    seq, chain = entries.get(key, (0, CHAIN_START))
    path = path_at(conn, bucket, at_round=at)
    pairs = sorted((k, head_value(*v)) for k, v in entries.items())
    consistent = root_from_inclusion_proof(
        leaf=LeafHash(bucket_hash(pairs)), index=bucket, size=BUCKETS,
        proof=path) == bytes(rnd.map_root)
    map_path = bytes(rnd.map_path)
    section = {
        "type": ANCHOR_TYPE,
        "bucket": bucket,
        "entries": entries_for_proof(pairs),
        "path": [_b64(h) for h in path],
        "mapRoot": _b64(bytes(rnd.map_root)),
        "mapEntries": int(rnd.map_entries),
        "round": {"id": at, "size": int(rnd.size), "leafIndex": int(rnd.size) - 1,
                  "path": [_b64(map_path[i:i + HASH]) for i in range(0, len(map_path), HASH)]},
        "receipt": bytes(rnd.receipt).decode("utf-8"),
    }
    return AnchoredHead(seq, chain, section), consistent
