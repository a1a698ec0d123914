"""Usage records in the message log's transaction (docs/spec/tracker.md §2–§3).

A :class:`UsageRecord` is appended together with the message-log records of its
exchange (:meth:`sild.gateway.messagelog.log.MessageLog.append`), so the usage row and
the message-log rows commit in one transaction and one group commit: both or neither.

Each (register, subject) pair has a hash chain (:func:`sild.core.usage.chain_next`).
The writer thread numbers the records and extends the chains inside the transaction
(:class:`UsageChains`); the heads live in ``usage_heads`` and in a bounded cache that
is only updated after a commit, and dropped after a failed one, so a retried batch
reads the heads again from the database. Another writer (``sild tracker unseal``, a
second gateway node) is caught by the unique ``(register, subject, seq)`` key: the
batch fails, the cache is dropped, and the same batch is committed again, numbered
from the stored heads (:func:`chain_race`, up to :data:`MAX_CHAIN_RACES` times per
batch): losing such a race never fails a request (docs/operations.md "Active-active
topology").
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from sild.core.headertext import storable
from sild.core.timefmt import format_micros
from sild.core.usage import CHAIN_START, UsageContent, chain_next
from sild.store.messagelog_tables import usage_heads, usage_log

__all__ = ["MAX_CHAIN_RACES", "UsageChains", "UsageRecord", "chain_race", "upsert_heads"]

# Times one batch is committed again after losing a chain race to another writer; each
# retry reads the heads that writer stored, so only a writer that keeps winning on the
# same chain can exhaust this (then the batch falls back to the halving retry).
MAX_CHAIN_RACES = 8


def chain_race(error: BaseException) -> bool:
    """Whether ``error`` is another writer's record taking a chain's next ``seq``
    (the unique key ``ux_usage_log_seq``; SQLite names its columns instead), or two
    writers' batches locking the same chains' heads in opposite order (PostgreSQL
    aborts one: deadlock 40P01, or serialisation failure 40001)."""
    if getattr(getattr(error, "orig", None), "sqlstate", None) in ("40P01", "40001"):
        return True
    if not isinstance(error, IntegrityError):
        return False
    text = str(error.orig)
    return "ux_usage_log_seq" in text or "usage_log.seq" in text

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_Key = tuple[str, str]
_Head = tuple[int, bytes, datetime]  # seq, chain value, logged_at of the head record


_LIMITS = {name: usage_log.c[name].type.length  # type: ignore[attr-defined]
           for name in ("register", "subject", "purpose_code", "receiver", "user_id",
                        "service", "message_id", "request_id", "consent_id")}


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageRecord:
    """One use of one person's data, before the writer numbers and chains it."""

    register: str
    subject: str
    logged_at: datetime
    action: str
    purpose_code: str = ""
    legal_basis: str = ""
    receiver: str
    receiver_name: str = ""
    user_id: str = ""
    service: str
    message_id: str = ""
    request_id: str = ""
    consent_id: str = ""
    categories: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    reason: str = ""

    def __post_init__(self) -> None:
        if self.logged_at.tzinfo is None or self.logged_at.utcoffset() is None:
            raise ValueError("logged_at must be timezone-aware")
        for name, limit in _LIMITS.items():
            if not storable(getattr(self, name), limit=limit):
                raise ValueError(f"usage {name} cannot be stored")
        for name in ("action", "legal_basis", "receiver_name", "reason"):
            if not storable(getattr(self, name), limit=4096):
                raise ValueError(f"usage {name} cannot be stored")
        object.__setattr__(self, "categories", tuple(sorted(set(self.categories))))
        object.__setattr__(self, "flags", tuple(sorted(set(self.flags))))

    @property
    def key(self) -> _Key:
        return (self.register, self.subject)

    def content(self, seq: int, at: datetime | None = None) -> UsageContent:
        return UsageContent(
            register=self.register, subject=self.subject, seq=seq,
            logged_at=format_micros(at or self.logged_at), action=self.action,
            purpose_code=self.purpose_code, legal_basis=self.legal_basis,
            receiver=self.receiver, receiver_name=self.receiver_name, user_id=self.user_id,
            service=self.service, message_id=self.message_id, consent_id=self.consent_id,
            categories=self.categories, flags=self.flags, reason=self.reason)

    def to_row(self, seq: int, record_hash: bytes, chain: bytes,
               at: datetime | None = None) -> dict[str, Any]:
        return {
            "register": self.register, "subject": self.subject, "seq": seq,
            "logged_at": (at or self.logged_at).astimezone(UTC), "action": self.action,
            "purpose_code": self.purpose_code, "legal_basis": self.legal_basis,
            "receiver": self.receiver, "receiver_name": self.receiver_name,
            "user_id": self.user_id, "service": self.service,
            "message_id": self.message_id, "request_id": self.request_id,
            "consent_id": self.consent_id, "categories": ",".join(self.categories),
            "flags": ",".join(self.flags), "sealed": "sealed" in self.flags,
            "reason": self.reason,
            "record_hash": record_hash, "chain": chain,
        }


class UsageChains:
    """Numbers and chains usage records inside the writer's transaction (one thread)."""

    def __init__(self, max_cached: int = 100_000) -> None:
        self._heads: OrderedDict[_Key, _Head] = OrderedDict()
        self._max = max_cached

    def rows(self, conn: Connection, records: Sequence[UsageRecord]
             ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[_Key, _Head]]:
        """The ``usage_log`` rows, the ``usage_heads`` rows and the new heads (to
        :meth:`committed` once the transaction is durable).

        A record's time never goes back along its chain (§3.2): it is the later of its
        own time and its predecessor's, so seq order is time order and a period of
        time is one run of the chain.
        """
        heads: dict[_Key, _Head] = {}
        rows = []
        for r in records:
            key = r.key
            head = heads.get(key) or self._heads.get(key) or self._stored(conn, key)
            seq, at = head[0] + 1, max(r.logged_at, head[2])
            record_hash = r.content(seq, at).record_hash()
            chain = chain_next(head[1], record_hash)
            heads[key] = (seq, chain, at)
            rows.append(r.to_row(seq, record_hash, chain, at))
        head_rows = [{"register": k[0], "subject": k[1], "seq": v[0], "chain": v[1],
                      "updated_at": v[2]} for k, v in heads.items()]
        return rows, head_rows, heads

    @staticmethod
    def _stored(conn: Connection, key: _Key) -> _Head:
        h = usage_heads.c
        row = conn.execute(sa.select(h.seq, h.chain, h.updated_at).where(
            h.register == key[0], h.subject == key[1])).first()
        if row is None:
            return (0, CHAIN_START, _EPOCH)
        at = row[2] if row[2].tzinfo is not None else row[2].replace(tzinfo=UTC)
        return (int(row[0]), bytes(row[1]), at)

    def committed(self, heads: dict[_Key, _Head]) -> None:
        for key, head in heads.items():
            self._heads[key] = head
            self._heads.move_to_end(key)
        while len(self._heads) > self._max:
            self._heads.popitem(last=False)

    def forget(self) -> None:
        """After a failed commit: read heads from the database again."""
        self._heads.clear()


def upsert_heads(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """``INSERT … ON CONFLICT DO UPDATE`` (the same SQL on SQLite ≥ 3.24 and PostgreSQL)."""
    if not rows:
        return
    dialect = conn.dialect
    if dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert
        stmt: Any = pg_insert(usage_heads)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert
        stmt = sqlite_insert(usage_heads)
    stmt = stmt.on_conflict_do_update(
        index_elements=[usage_heads.c.register, usage_heads.c.subject],
        set_={"seq": stmt.excluded.seq, "chain": stmt.excluded.chain,
              "updated_at": stmt.excluded.updated_at})
    conn.execute(stmt, rows)
