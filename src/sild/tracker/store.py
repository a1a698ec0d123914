"""Reading, expiring and unsealing the usage records a gateway wrote (docs/spec/tracker.md).

The provider gateway writes ``usage_log`` (sild.gateway.messagelog.usage); this module
answers the Data Tracker protocol's questions over it (§5) and does the two changes an
operator makes: expiry after the retention period (§5.3) and the release of a sealed
record by a court decision (§4), which is itself a usage record in the subject's chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from sild.core.headertext import storable
from sild.core.identifiers import ClientId, parse_client
from sild.core.usage import CHAIN_START, chain_next
from sild.errors import InvalidRequest, NotFound, StorageError
from sild.gateway.messagelog.usage import UsageRecord, upsert_heads
from sild.store.messagelog_tables import usage_cutoffs, usage_heads, usage_log, usage_releases

__all__ = ["Usage", "UsageStore", "receiver_parts"]

MAX_DECISION = 1024


@dataclass(frozen=True, slots=True)
class Usage:
    """One stored usage record (all of it, for proofs and the operator)."""

    id: int
    register: str
    subject: str
    seq: int
    logged_at: datetime
    action: str
    purpose_code: str
    legal_basis: str
    receiver: str
    receiver_name: str
    user_id: str
    service: str
    message_id: str
    request_id: str
    consent_id: str
    categories: tuple[str, ...]
    flags: tuple[str, ...]
    sealed: bool
    reason: str
    record_hash: bytes
    chain: bytes
    released: bool = False

    @property
    def hidden(self) -> bool:
        """Sealed and not (yet) released: the subject sees only its hash and time."""
        return self.sealed and not self.released

    def record(self) -> UsageRecord:
        return UsageRecord(
            register=self.register, subject=self.subject, logged_at=self.logged_at,
            action=self.action, purpose_code=self.purpose_code,
            legal_basis=self.legal_basis, receiver=self.receiver,
            receiver_name=self.receiver_name, user_id=self.user_id, service=self.service,
            message_id=self.message_id, request_id=self.request_id,
            consent_id=self.consent_id, categories=self.categories, flags=self.flags,
            reason=self.reason)


def receiver_parts(receiver: str) -> tuple[str, str]:
    """(receiverCode, receiverSystem) of a client id: the member code and the subsystem
    code (a member without a subsystem is its own system)."""
    try:
        client: ClientId = parse_client(receiver)
    except Exception:  # stored by the gateway from a verified id; be lenient in reading
        return receiver, receiver
    code = client.member.member_code
    return code, getattr(client, "subsystem_code", code)


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _usage(row: Any) -> Usage:
    return Usage(
        id=int(row.id), register=row.register, subject=row.subject, seq=int(row.seq),
        logged_at=_aware(row.logged_at), action=row.action, purpose_code=row.purpose_code,
        legal_basis=row.legal_basis, receiver=row.receiver, receiver_name=row.receiver_name,
        user_id=row.user_id, service=row.service, message_id=row.message_id,
        request_id=row.request_id, consent_id=row.consent_id,
        categories=tuple(c for c in row.categories.split(",") if c),
        flags=tuple(f for f in row.flags.split(",") if f), sealed=bool(row.sealed),
        reason=row.reason, record_hash=bytes(row.record_hash), chain=bytes(row.chain),
        released=row.released_id is not None)


class UsageStore:
    """The usage records of one gateway database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        u, r = usage_log.c, usage_releases.c
        self._select = sa.select(usage_log, r.usage_id.label("released_id")).select_from(
            usage_log.outerjoin(usage_releases, r.usage_id == u.id))

    def _run(self, fn: Any) -> Any:
        try:
            with self.engine.connect() as conn:
                return fn(conn)
        except SQLAlchemyError as e:
            raise StorageError(f"usage log unavailable: {type(e).__name__}") from e

    # -- §5.1 findUsage -----------------------------------------------------------

    def find(self, register: str, subject: str, *, start: datetime | None = None,
             end: datetime | None = None, offset: int = 0, limit: int = 1000,
             include_hidden: bool = False) -> tuple[int, list[Usage]]:
        """(total, page): records of ``subject`` in ``register``, newest first
        (protocol v1.2.1), ``total`` independent of offset and limit. Sealed records
        that were not released are left out unless ``include_hidden``."""
        u, r = usage_log.c, usage_releases.c
        where: list[Any] = [u.subject == subject, u.register == register]
        if start is not None:
            where.append(u.logged_at >= start)
        if end is not None:
            where.append(u.logged_at <= end)
        if not include_hidden:
            where.append(sa.or_(u.sealed.is_(False), r.usage_id.is_not(None)))
        joined = usage_log.outerjoin(usage_releases, r.usage_id == u.id)

        def q(conn: Any) -> tuple[int, list[Usage]]:
            total = conn.execute(sa.select(sa.func.count()).select_from(joined)
                                 .where(*where)).scalar_one()
            rows = conn.execute(self._select.where(*where)
                                .order_by(u.logged_at.desc(), u.id.desc())
                                .offset(offset).limit(limit)).all()
            return int(total), [_usage(row) for row in rows]
        result: tuple[int, list[Usage]] = self._run(q)
        return result

    def page(self, register: str, subject: str, *, start: datetime | None = None,
             end: datetime | None = None, offset: int = 0, limit: int = 1000
             ) -> tuple[int, list[tuple[datetime, str, str, str]]]:
        """What findUsage answers (§5.1), lean: (total, [(time, action, receiver,
        receiver name)]) of the records the person may see, newest first. The same
        selection as :meth:`find` without building whole records (the 1,000-record page
        of the benchmark spent two thirds of its time there)."""
        u, r = usage_log.c, usage_releases.c
        where: list[Any] = [u.subject == subject, u.register == register,
                            sa.or_(u.sealed.is_(False),
                                   u.id.in_(sa.select(r.usage_id)))]
        if start is not None:
            where.append(u.logged_at >= start)
        if end is not None:
            where.append(u.logged_at <= end)

        def q(conn: Any) -> tuple[int, list[tuple[datetime, str, str, str]]]:
            total = conn.execute(sa.select(sa.func.count()).select_from(usage_log)
                                 .where(*where)).scalar_one()
            if offset >= total:
                return int(total), []
            rows = conn.execute(sa.select(u.logged_at, u.action, u.receiver, u.receiver_name)
                                .where(*where).order_by(u.logged_at.desc(), u.id.desc())
                                .offset(offset).limit(limit)).all()
            return int(total), [tuple(row) for row in rows]
        result: tuple[int, list[tuple[datetime, str, str, str]]] = self._run(q)
        return result

    def chain(self, register: str, subject: str, *, from_seq: int = 1) -> list[Usage]:
        """Every stored record of one chain from ``from_seq``, oldest first (§3.2)."""
        u = usage_log.c

        def q(conn: Any) -> list[Usage]:
            return [_usage(row) for row in conn.execute(
                self._select.where(u.subject == subject, u.register == register,
                                   u.seq >= from_seq).order_by(u.seq))]
        result: list[Usage] = self._run(q)
        return result

    def head(self, register: str, subject: str) -> tuple[int, bytes]:
        """The chain head (seq, value); (0, 32 zero bytes) for a person never recorded."""
        h = usage_heads.c

        def q(conn: Any) -> tuple[int, bytes]:
            row = conn.execute(sa.select(h.seq, h.chain).where(
                h.register == register, h.subject == subject)).first()
            return (int(row.seq), bytes(row.chain)) if row else (0, CHAIN_START)
        result: tuple[int, bytes] = self._run(q)
        return result

    def cutoff(self, register: str, subject: str) -> tuple[int, bytes] | None:
        """Where the chain's expired part ended: (seq, chain value after it), or None."""
        c = usage_cutoffs.c

        def q(conn: Any) -> tuple[int, bytes] | None:
            row = conn.execute(sa.select(c.seq, c.chain).where(
                c.register == register, c.subject == subject)).first()
            return (int(row.seq), bytes(row.chain)) if row else None
        result: tuple[int, bytes] | None = self._run(q)
        return result

    def first_seq_from(self, register: str, subject: str, start: datetime) -> int | None:
        """The first record logged at or after ``start`` (times grow along a chain)."""
        u = usage_log.c
        found = self._run(lambda conn: conn.execute(sa.select(sa.func.min(u.seq)).where(
            u.register == register, u.subject == subject, u.logged_at >= start)).scalar())
        return int(found) if found is not None else None

    def get(self, usage_id: int) -> Usage:
        def q(conn: Any) -> Usage | None:
            row = conn.execute(self._select.where(usage_log.c.id == usage_id)).first()
            return _usage(row) if row is not None else None
        found: Usage | None = self._run(q)
        if found is None:
            raise NotFound(f"no usage record {usage_id}")
        return found

    # -- §5.2 usagePeriod ------------------------------------------------------------

    def oldest(self, register: str | None = None) -> datetime | None:
        q = sa.select(sa.func.min(usage_log.c.logged_at))
        if register is not None:
            q = q.where(usage_log.c.register == register)
        found = self._run(lambda conn: conn.execute(q).scalar())
        return _aware(found) if found is not None else None

    def ping(self) -> None:
        self._run(lambda conn: conn.execute(sa.select(1)).scalar())

    # -- §5.3 expiry ------------------------------------------------------------------

    def expire(self, before: datetime, *, register: str | None = None,
               except_registers: tuple[str, ...] = ()) -> int:
        """Delete records logged before ``before`` (of one register, or of all but
        ``except_registers``); chain heads stay, so the chains and their proofs go on
        (§3.2). Returns the number of rows deleted."""
        u = usage_log.c
        scope: list[Any] = [u.logged_at < before]
        if register is not None:
            scope.append(u.register == register)
        if except_registers:
            scope.append(u.register.not_in(except_registers))
        try:
            with self.engine.begin() as conn:
                # The last expired record of each chain, for proofs after it (§5.3).
                last = sa.select(u.register, u.subject, sa.func.max(u.seq).label("seq")).where(
                    *scope).group_by(u.register, u.subject).subquery()
                ends = conn.execute(sa.select(u.register, u.subject, u.seq, u.chain).join(
                    last, sa.and_(last.c.register == u.register, last.c.subject == u.subject,
                                  last.c.seq == u.seq))).all()
                for r in ends:
                    c = usage_cutoffs.c
                    conn.execute(usage_cutoffs.delete().where(
                        c.register == r.register, c.subject == r.subject))
                    conn.execute(usage_cutoffs.insert().values(
                        register=r.register, subject=r.subject, seq=r.seq, chain=r.chain))
                old = sa.select(usage_log.c.id).where(*scope)
                conn.execute(usage_releases.delete().where(usage_releases.c.usage_id.in_(old)))
                deleted = conn.execute(usage_log.delete().where(*scope)).rowcount
        except SQLAlchemyError as e:
            raise StorageError(f"usage log unavailable: {type(e).__name__}") from e
        return int(deleted or 0)

    # -- §4 unsealing -----------------------------------------------------------------

    def unseal(self, usage_id: int, decision: str, *, at: datetime) -> Usage:
        """Release a sealed record by a court decision; the release is a usage record
        of its own, appended to the subject's chain in the same transaction."""
        decision = decision.strip()
        if not decision or not storable(decision, limit=MAX_DECISION):
            raise InvalidRequest("a release needs the court decision's reference "
                                 f"(text, at most {MAX_DECISION} characters)")
        at = at.astimezone(UTC)
        try:
            with self.engine.begin() as conn:
                row = conn.execute(self._select.where(usage_log.c.id == usage_id)).first()
                if row is None:
                    raise NotFound(f"no usage record {usage_id}")
                sealed = _usage(row)
                if not sealed.sealed:
                    raise InvalidRequest(f"usage record {usage_id} is not sealed")
                if sealed.released:
                    raise InvalidRequest(f"usage record {usage_id} was already released")
                h = usage_heads.c
                head = conn.execute(sa.select(h.seq, h.chain, h.updated_at).where(
                    h.register == sealed.register, h.subject == sealed.subject)).one()
                at = max(at, _aware(head.updated_at))  # times grow along a chain (§3.2)
                release = UsageRecord(
                    register=sealed.register, subject=sealed.subject, logged_at=at,
                    action=f"Release of a sealed record ({sealed.logged_at:%Y-%m-%d})",
                    receiver=sealed.receiver, receiver_name=sealed.receiver_name,
                    service=sealed.service, message_id=sealed.message_id,
                    request_id=sealed.request_id, categories=sealed.categories,
                    flags=("release",), reason=decision)
                seq = int(head.seq) + 1
                record_hash = release.content(seq).record_hash()
                chain = chain_next(bytes(head.chain), record_hash)
                pk = conn.execute(usage_log.insert().values(
                    release.to_row(seq, record_hash, chain))).inserted_primary_key
                assert pk is not None
                upsert_heads(conn, [{"register": sealed.register, "subject": sealed.subject,
                                     "seq": seq, "chain": chain, "updated_at": at}])
                conn.execute(usage_releases.insert().values(
                    usage_id=usage_id, release_id=int(pk[0]), decision=decision,
                    released_at=at))
        except SQLAlchemyError as e:
            raise StorageError(f"usage log unavailable: {type(e).__name__}") from e
        return self.get(usage_id)

    def sealed(self, register: str | None = None) -> list[Usage]:
        """Sealed records not yet released (for the operator's list)."""
        u, r = usage_log.c, usage_releases.c
        where: list[Any] = [u.sealed.is_(True), r.usage_id.is_(None)]
        if register is not None:
            where.append(u.register == register)

        def q(conn: Any) -> list[Usage]:
            return [_usage(row) for row in conn.execute(
                self._select.where(*where).order_by(u.id))]
        result: list[Usage] = self._run(q)
        return result

