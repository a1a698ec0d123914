"""Locks, consents and decisions on one store (docs/spec/consent.md §2-§4, §6).

:class:`ConsentService` is the only writer of the consent store. Each change is one
transaction that writes the new state and its history row together (both or
neither); a status change is a conditional ``UPDATE … WHERE status = <expected>``, so
two callers racing on one consent cannot both win. Synchronous: the HTTP app runs it in
a worker thread.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from joserfc.jwk import ECKey, KeySet
from sqlalchemy.engine import Connection, Engine, RowMapping
from sqlalchemy.exc import IntegrityError, OperationalError

from sild.clock import utc_now
from sild.consent.artefact import sign_artefact, verify_artefact
from sild.consent.model import (
    DEFAULT_MAX_AGE,
    MAX_EXCEPTIONS,
    Action,
    Artefact,
    Candidate,
    DataLife,
    Decision,
    Lock,
    LockMode,
    Purpose,
    Status,
    decide,
    effective_status,
    new_artefact,
    parse_categories,
    parse_category,
    parse_consumer,
    parse_purpose,
    parse_subject,
    step,
)
from sild.core.timefmt import format_rfc3339
from sild.errors import (
    ConsentInvalid,
    DuplicateEntry,
    InvalidRequest,
    InvalidStateTransition,
    NotFound,
    StorageError,
)
from sild.store.consent_tables import artefacts, events, lock_events, locks

__all__ = ["ConsentRecord", "ConsentService"]

_CONSENT_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
_ACTOR_MAX = 1100


def _aware(t: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back; everything stored is UTC."""
    return None if t is None else (t if t.tzinfo else t.replace(tzinfo=UTC))


def _at(row: RowMapping, column: str) -> datetime:
    """A NOT NULL time column, timezone-aware."""
    value: datetime = row[column]
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _actor(name: object) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > _ACTOR_MAX \
            or not name.isprintable():
        raise InvalidRequest("an actor is 1-1100 printable characters")
    return name.strip()


def check_consent_id(text: object) -> str:
    if not isinstance(text, str) or not _CONSENT_ID.fullmatch(text):
        raise InvalidRequest("a consent id is 1-64 of A-Z, a-z, 0-9 and '-'")
    return text


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    """A consent as the store holds it: the artefact, its status at read time, its use."""

    artefact: Artefact
    status: Status
    status_changed_at: datetime
    signed: str | None
    use_count: int
    last_use_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        """AA ``ConsentArtefact`` fields plus the detail in clear for the person's view."""
        a = self.artefact
        return {"ver": "1", "consentId": a.consent_id, "status": self.status.value,
                "statusChangedAt": format_rfc3339(self.status_changed_at),
                "createTimestamp": format_rfc3339(a.created_at),
                "signedConsent": self.signed, "detail": a.to_payload(),
                "consentUse": {"count": self.use_count, "lastUseDateTime":
                               format_rfc3339(self.last_use_at) if self.last_use_at else None}}


def _lock_of(row: RowMapping) -> Lock:
    expires = _aware(row["expires_at"])
    since = _aware(row["since"])
    assert since is not None
    return Lock(row["subject"], row["category"], LockMode(row["mode"]),
                tuple(json.loads(row["exceptions"])), expires, since)


def _record_of(row: RowMapping, now: datetime) -> ConsentRecord:
    life = json.loads(row["data_life"])
    start, expiry, created, changed = (_at(row, k) for k in (
        "consent_start", "consent_expiry", "created_at", "status_changed_at"))
    art = Artefact(row["consent_id"], row["subject"], row["consumer"],
                   Purpose(row["purpose_code"], row["purpose_text"]),
                   tuple(json.loads(row["categories"])), DataLife.parse(life), start, expiry,
                   created)
    return ConsentRecord(art, effective_status(Status(row["status"]), expiry, now), changed,
                         row["signed"], int(row["use_count"]), _aware(row["last_use_at"]))


class ConsentService:
    """The consent store's logic (module docstring)."""

    def __init__(self, engine: Engine, *, key: ECKey, clock: Callable[[], datetime] = utc_now,
                 max_age: int = DEFAULT_MAX_AGE) -> None:
        if not key.kid or not key.is_private:
            raise ValueError("the consent service signs with a private key that has a kid")
        self.engine = engine
        self.key = key
        self.clock = clock
        self.max_age = max_age
        self._public = KeySet([ECKey.import_key(key.as_dict(private=False))])

    # -- plumbing ---------------------------------------------------------------------------

    @contextmanager
    def tx(self) -> Iterator[Connection]:
        """One transaction; database failures become :class:`StorageError`."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except IntegrityError as e:
            raise DuplicateEntry(f"already recorded: {e.orig}") from e
        except OperationalError as e:
            raise StorageError(f"consent store failed: {e.orig}") from e

    def jwks(self) -> dict[str, Any]:
        """The public signing key as a JWK Set (RFC 7517 §5), what providers verify with."""
        return dict(self._public.as_dict(private=False))

    @property
    def public_keys(self) -> KeySet:
        return self._public

    # -- locks (§2) -------------------------------------------------------------------------

    def lock(self, subject: str, category: str, *, exceptions: Sequence[str] = (),
             expires_at: datetime | None = None, actor: str) -> Lock:
        """Close ``category`` of ``subject``'s data to everyone but ``exceptions``."""
        subject, category = parse_subject(subject), parse_category(category)
        if len(exceptions) > MAX_EXCEPTIONS:
            raise InvalidRequest(f"at most {MAX_EXCEPTIONS} excepted consumers")
        named = tuple(sorted({parse_consumer(c) for c in exceptions}))
        mode = LockMode.EXCEPT if named else LockMode.EVERYONE
        now = self.clock()
        if expires_at is not None and expires_at <= now:
            raise InvalidRequest("a lock's expiry must be in the future")
        actor = _actor(actor)
        with self.tx() as conn:
            res = conn.execute(lock_events.insert().values(
                at=now, subject=subject, category=category, action="lock", mode=mode.value,
                exceptions=json.dumps(named), expires_at=expires_at, actor=actor))
            event_id = res.inserted_primary_key[0] if res.inserted_primary_key else 0
            values = {"mode": mode.value, "exceptions": json.dumps(named),
                      "expires_at": expires_at, "since": now, "event_id": event_id}
            done = conn.execute(locks.update().where(
                locks.c.subject == subject, locks.c.category == category).values(**values))
            if done.rowcount == 0:
                conn.execute(locks.insert().values(subject=subject, category=category,
                                                   **values))
        return Lock(subject, category, mode, named, expires_at, now)

    def unlock(self, subject: str, category: str, *, actor: str) -> None:
        subject, category = parse_subject(subject), parse_category(category)
        actor = _actor(actor)
        now = self.clock()
        with self.tx() as conn:
            gone = conn.execute(locks.delete().where(locks.c.subject == subject,
                                                     locks.c.category == category))
            if gone.rowcount == 0:
                raise NotFound(f"{subject} has no lock on {category}")
            conn.execute(lock_events.insert().values(
                at=now, subject=subject, category=category, action="unlock", actor=actor))

    def locks(self, subject: str) -> list[Lock]:
        """The person's current locks (an expired lock is listed until unlocked; it no
        longer closes anything)."""
        subject = parse_subject(subject)
        with self.tx() as conn:
            rows = conn.execute(sa.select(locks).where(locks.c.subject == subject)
                                .order_by(locks.c.category)).mappings().all()
        return [_lock_of(r) for r in rows]

    def history(self, subject: str) -> list[dict[str, Any]]:
        """Every lock change and consent status change of the person, oldest first."""
        subject = parse_subject(subject)
        out: list[tuple[datetime, int, dict[str, Any]]] = []
        with self.tx() as conn:
            for r in conn.execute(sa.select(lock_events).where(
                    lock_events.c.subject == subject)).mappings():
                at = _aware(r["at"])
                assert at is not None
                out.append((at, 0, {
                    "at": format_rfc3339(at), "kind": "lock", "action": r["action"],
                    "category": r["category"], "mode": r["mode"],
                    "except": json.loads(r["exceptions"]) if r["exceptions"] else [],
                    "expires": format_rfc3339(e) if (e := _aware(r["expires_at"])) else None,
                    "actor": r["actor"]}))
            for r in conn.execute(sa.select(events).join(
                    artefacts, artefacts.c.consent_id == events.c.consent_id).where(
                    artefacts.c.subject == subject)).mappings():
                at = _aware(r["at"])
                assert at is not None
                out.append((at, 1, {
                    "at": format_rfc3339(at), "kind": "consent", "action": r["action"],
                    "consentId": r["consent_id"], "from": r["from_status"],
                    "to": r["to_status"], "actor": r["actor"]}))
        return [e for _, _, e in sorted(out, key=lambda t: (t[0], t[1]))]

    # -- consents (§3) ----------------------------------------------------------------------

    def _new(self, *, subject: object, consumer: object, purpose: object,
             categories: Sequence[object], data_life: object, start: datetime | None,
             expiry: datetime, now: datetime) -> Artefact:
        return new_artefact(
            consent_id=str(uuid.uuid4()), subject=parse_subject(subject),
            consumer=parse_consumer(consumer), purpose=Purpose.parse(purpose),
            categories=parse_categories(categories),
            data_life=DataLife.parse(data_life or {"unit": "DAY", "value": 0}),
            consent_start=start or now, consent_expiry=expiry, created_at=now)

    def _insert(self, conn: Connection, art: Artefact, status: Status, signed: str | None,
                *, action: str, actor: str, now: datetime) -> None:
        conn.execute(artefacts.insert().values(
            consent_id=art.consent_id, subject=art.subject, consumer=art.consumer,
            purpose_code=art.purpose.code, purpose_text=art.purpose.text,
            categories=json.dumps(list(art.categories)),
            data_life=json.dumps(art.data_life.to_json()), consent_start=art.consent_start,
            consent_expiry=art.consent_expiry, created_at=art.created_at, status=status.value,
            status_changed_at=now, signed=signed, use_count=0))
        conn.execute(events.insert().values(at=now, consent_id=art.consent_id, action=action,
                                            from_status=None, to_status=status.value,
                                            actor=actor))

    def request(self, *, subject: object, consumer: object, purpose: object,
                categories: Sequence[object], data_life: object = None,
                start: datetime | None = None, expiry: datetime) -> ConsentRecord:
        """A consumer asks for consent: PENDING until the person approves or rejects."""
        now = self.clock()
        art = self._new(subject=subject, consumer=consumer, purpose=purpose,
                        categories=categories, data_life=data_life, start=start, expiry=expiry,
                        now=now)
        if expiry <= now:
            raise InvalidRequest("consentExpiry must be in the future")
        with self.tx() as conn:
            self._insert(conn, art, Status.PENDING, None, action="request",
                         actor=art.consumer, now=now)
        return ConsentRecord(art, Status.PENDING, now, None, 0, None)

    def grant(self, *, subject: object, consumer: object, purpose: object,
              categories: Sequence[object], data_life: object = None,
              start: datetime | None = None, expiry: datetime, actor: str) -> ConsentRecord:
        """The person grants consent directly: ACTIVE and signed at once."""
        now = self.clock()
        actor = _actor(actor)
        art = self._new(subject=subject, consumer=consumer, purpose=purpose,
                        categories=categories, data_life=data_life, start=start, expiry=expiry,
                        now=now)
        if expiry <= now:
            raise InvalidRequest("consentExpiry must be in the future")
        signed = sign_artefact(art, key=self.key)
        with self.tx() as conn:
            self._insert(conn, art, Status.ACTIVE, signed, action="grant", actor=actor,
                         now=now)
        return ConsentRecord(art, Status.ACTIVE, now, signed, 0, None)

    def _row(self, conn: Connection, consent_id: str) -> RowMapping:
        row = conn.execute(sa.select(artefacts).where(
            artefacts.c.consent_id == consent_id)).mappings().first()
        if row is None:
            raise NotFound(f"no consent {consent_id}")
        return row

    def get(self, consent_id: str, *, subject: str | None = None) -> ConsentRecord:
        """One consent; with ``subject``, only if it is that person's (else NotFound)."""
        consent_id = check_consent_id(consent_id)
        want = parse_subject(subject) if subject is not None else None
        with self.tx() as conn:
            row = self._row(conn, consent_id)
        if want is not None and row["subject"] != want:
            raise NotFound(f"no consent {consent_id} of {want}")
        return _record_of(row, self.clock())

    def consents(self, subject: str) -> list[ConsentRecord]:
        subject = parse_subject(subject)
        now = self.clock()
        with self.tx() as conn:
            rows = conn.execute(sa.select(artefacts).where(artefacts.c.subject == subject)
                                .order_by(artefacts.c.created_at,
                                          artefacts.c.consent_id)).mappings().all()
        return [_record_of(r, now) for r in rows]

    def _move(self, conn: Connection, row: RowMapping, before: Status, after: Status,
              action: Action, actor: str, now: datetime, **extra: Any) -> None:
        done = conn.execute(artefacts.update().where(
            artefacts.c.consent_id == row["consent_id"],
            artefacts.c.status == before.value).values(status=after.value,
                                                       status_changed_at=now, **extra))
        if done.rowcount != 1:  # someone else moved it meanwhile
            raise InvalidStateTransition(f"consent {row['consent_id']} changed meanwhile; "
                                         f"look again")
        conn.execute(events.insert().values(at=now, consent_id=row["consent_id"],
                                            action=action.value, from_status=before.value,
                                            to_status=after.value, actor=actor))

    def transition(self, consent_id: str, action: Action, *, actor: str,
                   subject: str | None = None) -> ConsentRecord:
        """approve, reject, pause, resume or revoke (§3); illegal moves are refused.

        A consent found past its expiry is first recorded EXPIRED (by time, actor
        ``clock``), then the move is judged from there — so it is refused.
        """
        consent_id = check_consent_id(consent_id)
        if action is Action.EXPIRE:
            raise InvalidStateTransition("consents expire by time only")
        actor = _actor(actor)
        want = parse_subject(subject) if subject is not None else None
        now = self.clock()
        expired_first = False
        with self.tx() as conn:
            row = self._row(conn, consent_id)
            if want is not None and row["subject"] != want:
                raise NotFound(f"no consent {consent_id} of {want}")
            stored = Status(row["status"])
            expiry = _aware(row["consent_expiry"])
            assert expiry is not None
            current = effective_status(stored, expiry, now)
            if current is not stored:
                self._move(conn, row, stored, step(stored, Action.EXPIRE), Action.EXPIRE,
                           "clock", now)
                expired_first = True
            else:
                after = step(current, action)
                extra: dict[str, Any] = {}
                if action is Action.APPROVE:  # AA: the artefact is signed when approved
                    art = _record_of(row, now).artefact
                    extra["signed"] = sign_artefact(art, key=self.key)
                self._move(conn, row, current, after, action, actor, now, **extra)
        if expired_first:  # the EXPIRED record is kept; the asked-for move is refused
            step(Status.EXPIRED, action)
        return self.get(consent_id)

    # -- the decision (§4) ------------------------------------------------------------------

    def _given(self, conn: Connection, consent: str, now: datetime) -> Candidate | str:
        """The consent a request named, by JWS or by id, with its status (§4 step 4)."""
        if "." in consent:  # a compact JWS: the signature first, offline (§3.3)
            try:
                consent_id = verify_artefact(consent, keys=self._public, now=now).consent_id
            except ConsentInvalid as e:  # signed by us but out of time: judge it below
                consent_id = str(e.fields["consent_id"])
        else:
            consent_id = check_consent_id(consent)
        row = conn.execute(sa.select(artefacts).where(
            artefacts.c.consent_id == consent_id)).mappings().first()
        if row is None:
            return consent_id  # judged as "does not exist" (§4 step 6)
        rec = _record_of(row, now)
        return Candidate(rec.artefact, rec.status)

    def decide(self, *, subject: str, categories: Sequence[str], client: str, purpose: str,
               consent: str | None = None) -> Decision:
        """§4: allow or deny, and count the consent's use when one opened the lock."""
        subject = parse_subject(subject)
        cats = parse_categories(categories)
        client = parse_consumer(client)
        purpose = parse_purpose(purpose)
        now = self.clock()
        with self.tx() as conn:
            rows = conn.execute(sa.select(locks).where(
                locks.c.subject == subject, locks.c.category.in_(cats))).mappings().all()
            current = [_lock_of(r) for r in rows]
            given: Candidate | None = None
            unknown: str | None = None
            if consent is not None:
                found_given = self._given(conn, consent, now)
                if isinstance(found_given, str):
                    unknown = found_given
                else:
                    given = found_given
            candidates: list[Candidate] = []
            if any(lk.closes_for(client, now) for lk in current):
                found = conn.execute(sa.select(artefacts).where(
                    artefacts.c.subject == subject, artefacts.c.consumer == client,
                    artefacts.c.status == Status.ACTIVE.value,
                    artefacts.c.purpose_code == purpose,
                    artefacts.c.consent_expiry > now).order_by(
                    artefacts.c.consent_expiry.desc())).mappings().all()
                candidates = [Candidate(r.artefact, r.status)
                              for r in (_record_of(row, now) for row in found)]
            decision = decide(subject=subject, categories=cats, client=client,
                              purpose=purpose, locks=current, candidates=candidates, now=now,
                              given=given, unknown_consent=unknown, max_age=self.max_age)
            if decision.consent_id is not None:  # AA ConsentUse: count and last use
                conn.execute(artefacts.update().where(
                    artefacts.c.consent_id == decision.consent_id).values(
                    use_count=artefacts.c.use_count + 1, last_use_at=now))
        return decision
