"""The notification service's store: subscriptions, events once each, deliveries.

docs/spec/notify.md §3–§5. Synchronous (SQLAlchemy Core); the app and the delivery
worker call it in worker threads. Every state change is one transaction:

* :meth:`NotifyStore.add_events` stores the events it has not seen (the key is the
  event id, §2) and, in the same transaction, one delivery per matching subscription —
  a duplicate event adds nothing;
* :meth:`NotifyStore.claim` takes due webhook deliveries and leases them (``next_at``
  moves to the lease's end and ``attempts`` goes up), so a process that dies in the
  middle leaves them due again after the lease; :meth:`NotifyStore.finish` records
  the outcome: delivered, a later retry, or dead.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from sild.clock import utc_now
from sild.core.usage import check_category, parse_subject
from sild.errors import DuplicateEntry, InvalidRequest, NotFound, StorageError
from sild.notify.model import (
    Event,
    Network,
    NotifyLimits,
    check_webhook_url,
    event_id,
    matches,
    new_secret,
)
from sild.store.notify_tables import notify_deliveries, notify_events, notify_subscriptions

__all__ = ["Claimed", "Notice", "NotifyStore", "Subscription"]


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _iso(when: datetime | None) -> str | None:
    if when is None:
        return None
    return _aware(when).astimezone(UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    subject: str
    kind: str  # webhook | inbox
    url: str | None
    categories: tuple[str, ...]
    emergency_only: bool
    created_at: datetime
    counts: Mapping[str, int]  # deliveries by state

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "kind": self.kind}
        if self.url is not None:
            out["url"] = self.url
        out.update({"categories": list(self.categories), "emergencyOnly": self.emergency_only,
                    "createdAt": _iso(self.created_at),
                    "deliveries": {s: self.counts.get(s, 0)
                                   for s in ("pending", "delivered", "dead", "inbox")}})
        return out


@dataclass(frozen=True, slots=True)
class Notice:
    """An inbox notice or a delivery, with its event."""

    id: int
    subscription_id: str
    state: str
    attempts: int
    created_at: datetime
    done_at: datetime | None
    read_at: datetime | None
    next_at: datetime
    last_status: int | None
    last_error: str | None
    event: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "subscription": self.subscription_id,
                               "state": self.state, "createdAt": _iso(self.created_at)}
        if self.state == "inbox":
            out["read"] = self.read_at is not None
        else:
            out.update({"attempts": self.attempts, "doneAt": _iso(self.done_at),
                        "nextAttemptAt": _iso(self.next_at) if self.state == "pending"
                        else None, "lastStatus": self.last_status,
                        "lastError": self.last_error})
        out["event"] = self.event
        return out


@dataclass(frozen=True, slots=True)
class Claimed:
    """A webhook delivery leased to the worker."""

    id: int
    subscription_id: str
    url: str
    secret: str
    attempts: int  # including this one
    event_id: str
    body: bytes  # what is POSTed (§5.1)


def _categories(values: Sequence[object]) -> tuple[str, ...]:
    if not isinstance(values, list | tuple) or len(values) > 32:
        raise InvalidRequest("categories is a list of at most 32 data categories")
    return tuple(sorted({check_category(c) for c in values}))


class NotifyStore:
    """The notification service's tables on one engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine, *, limits: NotifyLimits | None = None,
                 allowed: Sequence[Network] = (),
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.engine = engine
        self.limits = limits or NotifyLimits()
        self.allowed = tuple(allowed)
        self.clock = clock

    def _tx(self, fn: Callable[[Connection], Any]) -> Any:
        try:
            with self.engine.begin() as conn:
                return fn(conn)
        except SQLAlchemyError as e:
            raise StorageError(f"notification store unavailable: {type(e).__name__}") from e

    # -- §3 subscriptions --------------------------------------------------------------

    def subscribe(self, subject: object, *, webhook: object = None, inbox: bool = False,
                  categories: Sequence[object] = (), emergency_only: bool = False,
                  ) -> tuple[Subscription, str | None]:
        """A new subscription, and its signing secret (webhooks; shown once)."""
        person = parse_subject(subject)
        if (webhook is None) == (not inbox):
            raise InvalidRequest("a subscription is either a webhook URL or the inbox")
        url = check_webhook_url(webhook, self.allowed) if webhook is not None else None
        cats = _categories(categories)
        if not isinstance(emergency_only, bool):
            raise InvalidRequest("emergencyOnly is true or false")
        kind = "webhook" if url is not None else "inbox"
        secret = new_secret() if url is not None else None
        sub_id = f"sub_{secrets.token_urlsafe(15)}"
        now = self.clock()
        s = notify_subscriptions.c

        def write(conn: Connection) -> None:
            rows = conn.execute(sa.select(s.kind, s.url).where(s.subject == person)).all()
            if kind == "inbox" and any(r.kind == "inbox" for r in rows):
                raise DuplicateEntry(f"{person} already has an inbox subscription")
            if kind == "webhook":
                if any(r.url == url for r in rows):
                    raise DuplicateEntry(f"{person} already has a subscription to this URL")
                if sum(r.kind == "webhook" for r in rows) >= self.limits.max_webhooks:
                    raise InvalidRequest(f"at most {self.limits.max_webhooks} webhooks per "
                                         f"person")
            conn.execute(notify_subscriptions.insert().values(
                id=sub_id, subject=person, kind=kind, url=url, secret=secret,
                categories=",".join(cats), emergency_only=emergency_only, created_at=now))
        self._tx(write)
        return Subscription(sub_id, person, kind, url, cats, emergency_only, now, {}), secret

    def unsubscribe(self, subject: object, sub_id: str) -> None:
        """Remove a subscription with its deliveries (and inbox notices)."""
        person = parse_subject(subject)
        s, d = notify_subscriptions.c, notify_deliveries.c

        def write(conn: Connection) -> None:
            found = conn.execute(sa.select(s.id).where(s.id == sub_id, s.subject == person)
                                 ).first()
            if found is None:
                raise NotFound(f"{person} has no subscription {sub_id[:60]!r}")
            conn.execute(notify_deliveries.delete().where(d.subscription_id == sub_id))
            conn.execute(notify_subscriptions.delete().where(s.id == sub_id))
        self._tx(write)

    def subscriptions(self, subject: object) -> list[Subscription]:
        person = parse_subject(subject)
        s, d = notify_subscriptions.c, notify_deliveries.c

        def read(conn: Connection) -> list[Subscription]:
            counts: dict[str, dict[str, int]] = {}
            for sid, state, n in conn.execute(
                    sa.select(d.subscription_id, d.state, sa.func.count())
                    .where(d.subject == person).group_by(d.subscription_id, d.state)):
                counts.setdefault(sid, {})[state] = int(n)
            return [Subscription(r.id, r.subject, r.kind, r.url,
                                 tuple(c for c in r.categories.split(",") if c),
                                 bool(r.emergency_only), _aware(r.created_at),
                                 counts.get(r.id, {}))
                    for r in conn.execute(sa.select(notify_subscriptions)
                                          .where(s.subject == person)
                                          .order_by(s.created_at, s.id))]
        result: list[Subscription] = self._tx(read)
        return result

    # -- §4.2 events, once each ----------------------------------------------------------

    def add_events(self, events: Sequence[Event]) -> tuple[int, int]:
        """Store the new ones with their deliveries; (accepted, duplicates)."""
        for attempt in range(3):  # another node stored one of them meanwhile: look again
            try:
                result: tuple[int, int] = self._tx(lambda conn: self._add(conn, events))
                return result
            except StorageError as e:
                if not isinstance(e.__cause__, IntegrityError) or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _add(self, conn: Connection, events: Sequence[Event]) -> tuple[int, int]:
        e, s = notify_events.c, notify_subscriptions.c
        unique: dict[tuple[str, str, int], Event] = {}
        for ev in events:
            unique.setdefault((ev.register, ev.subject, ev.seq), ev)
        seen: set[tuple[str, str, int]] = set()
        keys = list(unique)
        for i in range(0, len(keys), 100):
            chunk = keys[i:i + 100]
            seen.update((r.register, r.subject, int(r.seq)) for r in conn.execute(
                sa.select(e.register, e.subject, e.seq).where(sa.tuple_(
                    e.register, e.subject, e.seq).in_(chunk))))
        new = [ev for k, ev in unique.items() if k not in seen]
        if not new:
            return 0, len(events)
        now = self.clock()
        subjects = sorted({ev.subject for ev in new})
        subs: dict[str, list[Any]] = {}
        for r in conn.execute(sa.select(s.id, s.subject, s.kind, s.categories,
                                        s.emergency_only).where(s.subject.in_(subjects))):
            subs.setdefault(r.subject, []).append(r)
        deliveries = []
        for ev in new:
            pk = conn.execute(notify_events.insert().values(
                register=ev.register, subject=ev.subject, seq=ev.seq,
                logged_at=ev.logged_at, received_at=now, emergency=ev.emergency,
                body=orjson.dumps(ev.body).decode())).inserted_primary_key
            assert pk is not None
            for sub in subs.get(ev.subject, []):
                cats = tuple(c for c in sub.categories.split(",") if c)
                if not matches(cats, bool(sub.emergency_only), ev):
                    continue
                deliveries.append({
                    "subscription_id": sub.id, "event_id": int(pk[0]), "subject": ev.subject,
                    "state": "inbox" if sub.kind == "inbox" else "pending",
                    "priority": 0 if ev.emergency else 1, "attempts": 0, "next_at": now,
                    "created_at": now})
        if deliveries:
            conn.execute(notify_deliveries.insert(), deliveries)
        return len(new), len(events) - len(new)

    # -- §3.3 the inbox and delivery status --------------------------------------------

    def _notices(self, conn: Connection, where: list[Any], *, offset: int,
                 limit: int) -> list[Notice]:
        d, e = notify_deliveries.c, notify_events.c
        rows = conn.execute(sa.select(notify_deliveries, e.body).join(
            notify_events, e.id == d.event_id).where(*where).order_by(d.id.desc())
            .offset(offset).limit(limit))
        return [Notice(int(r.id), r.subscription_id, r.state, int(r.attempts),
                       _aware(r.created_at), r.done_at and _aware(r.done_at),
                       r.read_at and _aware(r.read_at), _aware(r.next_at), r.last_status,
                       r.last_error, orjson.loads(r.body)) for r in rows]

    def inbox(self, subject: object, *, unread_only: bool = False, offset: int = 0,
              limit: int = 100) -> tuple[int, int, list[Notice]]:
        """(total, unread, page): the person's inbox notices, newest first."""
        person = parse_subject(subject)
        d = notify_deliveries.c
        where: list[Any] = [d.subject == person, d.state == "inbox"]

        def read(conn: Connection) -> tuple[int, int, list[Notice]]:
            total = conn.execute(sa.select(sa.func.count()).select_from(notify_deliveries)
                                 .where(*where)).scalar_one()
            unread = conn.execute(sa.select(sa.func.count()).select_from(notify_deliveries)
                                  .where(*where, d.read_at.is_(None))).scalar_one()
            page_where = [*where, d.read_at.is_(None)] if unread_only else where
            return int(total), int(unread), self._notices(conn, page_where, offset=offset,
                                                          limit=limit)
        result: tuple[int, int, list[Notice]] = self._tx(read)
        return result

    def mark_read(self, subject: object, ids: Sequence[int] | None = None) -> int:
        """Mark the person's inbox notices read (all unread ones when ``ids`` is None)."""
        person = parse_subject(subject)
        d = notify_deliveries.c
        where: list[Any] = [d.subject == person, d.state == "inbox", d.read_at.is_(None)]
        if ids is not None:
            if len(ids) > 1000 or not all(isinstance(i, int) and not isinstance(i, bool)
                                          for i in ids):
                raise InvalidRequest("ids is a list of at most 1000 notice ids")
            where.append(d.id.in_(list(ids)))
        now = self.clock()
        n = self._tx(lambda conn: conn.execute(
            notify_deliveries.update().where(*where).values(read_at=now)).rowcount)
        return int(n or 0)

    def deliveries(self, subject: object, *, state: str | None = None, offset: int = 0,
                   limit: int = 100) -> list[Notice]:
        """The person's webhook deliveries, newest first (pending, delivered, dead)."""
        person = parse_subject(subject)
        d = notify_deliveries.c
        if state is not None and state not in ("pending", "delivered", "dead"):
            raise InvalidRequest("state is pending, delivered or dead")
        where: list[Any] = [d.subject == person,
                            d.state == state if state else d.state != "inbox"]
        result: list[Notice] = self._tx(lambda conn: self._notices(
            conn, where, offset=offset, limit=limit))
        return result

    def counts(self) -> dict[str, int]:
        """Deliveries by state, over everyone (for /healthz and the operator)."""
        d = notify_deliveries.c
        rows = self._tx(lambda conn: conn.execute(
            sa.select(d.state, sa.func.count()).group_by(d.state)).all())
        return {str(state): int(n) for state, n in rows}

    # -- §5 the worker's side ---------------------------------------------------------------

    def claim(self, *, limit: int, busy: Mapping[str, int]) -> list[Claimed]:
        """Lease up to ``limit`` due webhook deliveries, break-glass first, skipping
        subscriptions that already have ``per_subscription`` in flight (``busy``)."""
        if limit <= 0:
            return []
        now = self.clock()
        lease_end = now + timedelta(seconds=self.limits.lease)
        d, e, s = notify_deliveries.c, notify_events.c, notify_subscriptions.c
        per_sub = self.limits.per_subscription

        def write(conn: Connection) -> list[Claimed]:
            taken: list[Claimed] = []
            load = dict(busy)
            for _ in range(4):  # a subscription with many due rows fills a window: look again
                full = [k for k, v in load.items() if v >= per_sub]
                where = [d.state == "pending", d.next_at <= now]
                if full:  # a slow receiver's backlog never hides other people's notices
                    where.append(d.subscription_id.not_in(full))
                rows = conn.execute(
                    sa.select(d.id, d.subscription_id, d.attempts, s.url, s.secret,
                              e.register, e.subject, e.seq, e.body)
                    .join(notify_subscriptions, s.id == d.subscription_id)
                    .join(notify_events, e.id == d.event_id)
                    .where(*where).order_by(d.priority, d.next_at, d.id)
                    .limit((limit - len(taken)) * 4)).all()
                skipped = False
                for r in rows:
                    if len(taken) >= limit:
                        break
                    if load.get(r.subscription_id, 0) >= per_sub:
                        skipped = True
                        continue
                    # optimistic lease: another worker that took it first changed attempts
                    won = conn.execute(notify_deliveries.update().where(
                        d.id == r.id, d.state == "pending", d.attempts == r.attempts).values(
                        attempts=r.attempts + 1, next_at=lease_end)).rowcount
                    if won != 1:
                        continue
                    load[r.subscription_id] = load.get(r.subscription_id, 0) + 1
                    eid = event_id(r.register, r.subject, int(r.seq))
                    body = b'{"type":"sild.usage","id":' + orjson.dumps(eid) + \
                        b',"subscription":' + orjson.dumps(r.subscription_id) + \
                        b',"usage":' + r.body.encode() + b"}"
                    taken.append(Claimed(int(r.id), r.subscription_id, r.url or "",
                                         r.secret or "", int(r.attempts) + 1, eid, body))
                if len(taken) >= limit or not skipped:
                    break
            return taken
        result: list[Claimed] = self._tx(write)
        return result

    def finish(self, delivery_id: int, *, ok: bool, status: int | None, error: str | None,
               retry_in: float | None) -> str:
        """Record one attempt's outcome; returns the new state. ``retry_in`` None after a
        failure: dead (attempts used up)."""
        now = self.clock()
        d = notify_deliveries.c
        if ok:
            values: dict[str, Any] = {"state": "delivered", "done_at": now,
                                      "last_status": status, "last_error": None}
        elif retry_in is None:
            values = {"state": "dead", "done_at": now, "last_status": status,
                      "last_error": error}
        else:
            values = {"next_at": now + timedelta(seconds=retry_in), "last_status": status,
                      "last_error": error}
        self._tx(lambda conn: conn.execute(notify_deliveries.update().where(
            d.id == delivery_id, d.state == "pending").values(**values)))
        return str(values.get("state", "pending"))

    def next_due(self) -> datetime | None:
        """When the earliest pending delivery is due (for the worker's sleep)."""
        d = notify_deliveries.c
        found = self._tx(lambda conn: conn.execute(
            sa.select(sa.func.min(d.next_at)).where(d.state == "pending")).scalar())
        return _aware(found) if found is not None else None
