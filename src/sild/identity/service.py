"""Issuing and managing person identities (docs/spec/identity.md §4-§6).

:class:`IdentityService` is the only writer of the identity store. Every state
change is one transaction: a conditional ``UPDATE … WHERE state = <expected>``
plus an event row, so two operators racing on one identity cannot both win, and
a failure leaves no half-written record. Issuance writes the token file inside
the transaction and removes it again if the transaction does not commit.

The e-Residency workflow lives in :mod:`sild.identity.eresidency`, the mass
suspension drill in :mod:`sild.identity.drill`; both build on this class.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography import x509
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from sild.clock import utc_now
from sild.core.personal_code import PersonalCode, Sex
from sild.core.personal_code import parse as parse_code
from sild.crypto.certs import fingerprint, serial_hex
from sild.crypto.keys import KeyType, generate_key, key_type_of
from sild.errors import (
    ConfigurationError,
    DuplicateEntry,
    InvalidRequest,
    InvalidStateTransition,
    KeyFileError,
    NotFound,
    StorageError,
)
from sild.identity._common import (
    actor_name,
    aware,
    check_id,
    new_id,
    pem,
    reason_text,
    spki_sha256,
    write_new,
)
from sild.identity.lookup import StoreStatusSource
from sild.identity.person_ca import DEFAULT_PERSON_DAYS, PersonCA
from sild.identity.population import CitizenRecord
from sild.identity.profiles import CertRole, PersonName
from sild.identity.records import (
    REVOCATION_REASONS,
    Identity,
    IdentityState,
    OfficerRole,
    Person,
    PersonKind,
    identity_step,
)
from sild.identity.token import KdfParams, Pins, SoftToken
from sild.store.identity_tables import events, identities, officers, persons

__all__ = ["HOLD", "IdentityService", "Issued"]

HOLD = x509.ReasonFlags.certificate_hold.value  # RFC 5280 §5.3.1: what suspension records


@dataclass(frozen=True, slots=True)
class Issued:
    """A new identity and where its token waits for pickup."""

    identity: Identity
    token_path: Path


class IdentityService:
    """Persons, identities and their lifecycle in one store (module docstring)."""

    def __init__(
        self,
        engine: Engine,
        *,
        issuer: x509.Certificate,
        tokens_dir: Path,
        ca: PersonCA | None = None,
        clock: Callable[[], datetime] = utc_now,
        kdf: KdfParams | None = None,
        rng: random.Random | None = None,
        key_type: KeyType = KeyType.P256,
    ) -> None:
        self.engine = engine
        self.issuer = issuer
        self.tokens_dir = tokens_dir
        self._ca = ca
        self.clock = clock
        self.kdf = kdf
        self.rng = rng or random.SystemRandom()
        self.key_type = key_type
        self._issuer_fp = fingerprint(issuer)

    # -- plumbing --------------------------------------------------------------------------

    @contextmanager
    def tx(self) -> Iterator[Connection]:
        """One transaction; database failures become :class:`StorageError`."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except IntegrityError as e:
            raise DuplicateEntry(f"already recorded: {e.orig}") from e
        except OperationalError as e:
            raise StorageError(f"identity store failed: {e.orig}") from e

    def event(self, conn: Connection, *, action: str, actor: str, reason: str = "",
              at: datetime, identity_id: int | None = None,
              application_id: int | None = None) -> None:
        conn.execute(events.insert().values(
            at=at, identity_id=identity_id, application_id=application_id, action=action,
            actor=actor_name(actor), reason=reason))

    def status_source(self) -> StoreStatusSource:
        return StoreStatusSource(self.engine, self.issuer)

    @property
    def ca(self) -> PersonCA:
        if self._ca is None:
            raise ConfigurationError("issuing needs the person CA key; it was not loaded")
        return self._ca

    # -- officers ---------------------------------------------------------------------------

    def add_officer(self, name: str, role: OfficerRole) -> None:
        name = actor_name(name)
        at = self.clock()
        with self.tx() as conn:
            if conn.execute(sa.select(officers.c.name).where(officers.c.name == name)).first():
                raise DuplicateEntry(f"officer {name!r} exists")
            conn.execute(officers.insert().values(name=name, role=role.value, added_at=at))
            self.event(conn, action="officer-add", actor=name, reason=role.value, at=at)

    def require_officer(self, conn: Connection, name: str, role: OfficerRole) -> str:
        name = actor_name(name)
        row = conn.execute(sa.select(officers.c.role).where(officers.c.name == name)).first()
        if row is None:
            raise NotFound(f"no officer {name!r}; add one with `sild identity officer add`")
        if row.role != role.value:
            raise InvalidRequest(f"officer {name!r} is {row.role}; this step needs {role.value}")
        return name

    # -- persons ----------------------------------------------------------------------------

    def upsert_person(self, conn: Connection, code: PersonalCode, name: PersonName,
                      kind: PersonKind, at: datetime) -> int:
        row = conn.execute(sa.select(persons.c.id, persons.c.given_name, persons.c.surname)
                           .where(persons.c.country == code.country,
                                  persons.c.code == code.code)).first()
        if row is not None:
            if (row.given_name, row.surname) != (name.given, name.surname):
                raise InvalidRequest(
                    f"{code} is registered as {row.given_name} {row.surname}, "
                    f"not {name.given} {name.surname}")
            return int(row.id)
        res = conn.execute(persons.insert().values(
            country=code.country, code=code.code, given_name=name.given, surname=name.surname,
            birth_date=code.birth_date, sex=code.sex.value if code.sex else None,
            kind=kind.value, created_at=at))
        return new_id(res)

    def new_eresident_code(self, conn: Connection, birth_date: Any, sex: Sex) -> PersonalCode:
        """A fresh Estonian personal code for an e-resident (research/citizen.md §3.2)."""
        from sild.core.personal_code import generate

        for _ in range(50):
            code = generate("EE", self.rng, birth_date=birth_date, sex=sex)
            taken = conn.execute(sa.select(persons.c.id).where(
                persons.c.country == "EE", persons.c.code == code.code)).first()
            if taken is None:
                return code
        raise StorageError(f"no free EE personal code left for {birth_date}")

    # -- issuance ---------------------------------------------------------------------------

    def _live_identity(self, conn: Connection, person_id: int) -> int | None:
        row = conn.execute(sa.select(identities.c.id).where(
            identities.c.person_id == person_id,
            identities.c.state.in_([IdentityState.ACTIVE.value, IdentityState.SUSPENDED.value]),
        )).first()
        return None if row is None else int(row.id)

    def issue_into(
        self, conn: Connection, *, person_id: int, code: PersonalCode, name: PersonName,
        pins: Pins, at: datetime, written: list[Path], replaces_id: int | None = None,
        days: int = DEFAULT_PERSON_DAYS,
    ) -> int:
        """Keys, two certificates, the identity row and its token, inside ``conn``'s
        transaction. Token paths go to ``written`` so the caller can remove them."""
        ca = self.ca
        auth_key, sign_key = generate_key(self.key_type), generate_key(self.key_type)
        auth = ca.issue(role=CertRole.AUTH, code=code, name=name,
                        public_key=auth_key.public_key(), at=at, days=days)
        sign = ca.issue(role=CertRole.SIGN, code=code, name=name,
                        public_key=sign_key.public_key(), at=at, days=days)
        auth_der, auth_fp = spki_sha256(auth_key.public_key())
        sign_der, sign_fp = spki_sha256(sign_key.public_key())
        res = conn.execute(identities.insert().values(
            person_id=person_id, state=IdentityState.ACTIVE.value, issuer=self._issuer_fp,
            key_type=key_type_of(auth_key).value, auth_serial=serial_hex(auth),
            sign_serial=serial_hex(sign), auth_key_sha256=auth_fp, sign_key_sha256=sign_fp,
            auth_public_key=auth_der, sign_public_key=sign_der,
            auth_certificate=pem(auth), sign_certificate=pem(sign), issued_at=at,
            not_after=min(auth.not_valid_after_utc, sign.not_valid_after_utc),
            state_changed_at=at, replaces_id=replaces_id))
        identity_id = new_id(res)
        path = self.token_path(identity_id)
        written.append(path)
        SoftToken.create(path, token_id=f"{self._issuer_fp[:16]}-{identity_id}",
                         auth_key=auth_key, sign_key=sign_key, auth_certificate=auth,
                         sign_certificate=sign, pins=pins, kdf=self.kdf)
        return identity_id

    def token_path(self, identity_id: int) -> Path:
        return self.tokens_dir / f"{identity_id}.token"

    @contextmanager
    def issuing(self) -> Iterator[tuple[Connection, list[Path]]]:
        """A transaction whose token files vanish unless it commits."""
        written: list[Path] = []
        try:
            with self.tx() as conn:
                yield conn, written
        except BaseException:
            for p in written:
                p.unlink(missing_ok=True)
                p.with_name(p.name + ".lock").unlink(missing_ok=True)
            raise

    def issue_citizens(self, records: Sequence[CitizenRecord], pins_for: Callable[[
            CitizenRecord], Pins], *, actor: str) -> list[Issued]:
        """Issue an identity to each citizen, all or none (docs/spec/identity.md §5.1)."""
        at = self.clock()
        ids: list[int] = []
        with self.issuing() as (conn, written):
            for rec in records:
                person_id = self.upsert_person(conn, rec.code, rec.name, PersonKind.CITIZEN, at)
                live = self._live_identity(conn, person_id)
                if live is not None:
                    raise DuplicateEntry(f"{rec.code} already holds identity {live}; "
                                         "renew it instead")
                identity_id = self.issue_into(conn, person_id=person_id, code=rec.code,
                                              name=rec.name, pins=pins_for(rec), at=at,
                                              written=written)
                self.event(conn, action="issue", actor=actor, reason="citizen", at=at,
                           identity_id=identity_id)
                ids.append(identity_id)
        return [Issued(self.get(i), self.token_path(i)) for i in ids]

    def issue_citizen(self, record: CitizenRecord, pins: Pins, *, actor: str) -> Issued:
        """One citizen from the population register (a function taking the person data)."""
        return self.issue_citizens([record], lambda _r: pins, actor=actor)[0]

    # -- lifecycle --------------------------------------------------------------------------

    def _step(self, conn: Connection, identity_id: int, step: str,
              values: dict[str, Any]) -> IdentityState:
        check_id(identity_id, "identity")
        row = conn.execute(sa.select(identities.c.state).where(
            identities.c.id == identity_id)).first()
        if row is None:
            raise NotFound(f"no identity {identity_id}")
        before = IdentityState(row.state)
        after = identity_step(before, step, identity_id=identity_id)
        res = conn.execute(identities.update().where(
            identities.c.id == identity_id, identities.c.state == before.value,
        ).values(state=after.value, **values))
        if res.rowcount != 1:  # someone else changed it between our read and write
            raise InvalidStateTransition(f"identity {identity_id} changed meanwhile; retry")
        return after

    def suspend(self, identity_id: int, *, actor: str, reason: str) -> Identity:
        """Put both certificates on hold; OCSP answers revoked/certificateHold (§5.4)."""
        at = self.clock()
        with self.tx() as conn:
            self._step(conn, identity_id, "suspend", {
                "state_changed_at": at, "revoked_at": at, "revocation_reason": HOLD})
            self.event(conn, action="suspend", actor=actor, reason=reason_text(reason), at=at,
                       identity_id=identity_id)
        return self.get(identity_id)

    def resume(self, identity_id: int, *, actor: str, reason: str) -> Identity:
        """Lift a suspension; OCSP answers good again (RFC 5280 removeFromCRL)."""
        at = self.clock()
        with self.tx() as conn:
            self._step(conn, identity_id, "resume", {
                "state_changed_at": at, "revoked_at": None, "revocation_reason": None})
            self.event(conn, action="resume", actor=actor, reason=reason_text(reason), at=at,
                       identity_id=identity_id)
        return self.get(identity_id)

    def revoke(self, identity_id: int, *, actor: str, reason: x509.ReasonFlags,
               note: str = "") -> Identity:
        """Revoke both certificates for good, recording time and RFC 5280 reason (§5.5)."""
        if reason not in REVOCATION_REASONS:
            raise InvalidRequest(f"{reason.value} is not a revocation reason")
        at = self.clock()
        with self.tx() as conn:
            self._revoke(conn, identity_id, at=at, reason=reason)
            self.event(conn, action="revoke", actor=actor, at=at, identity_id=identity_id,
                       reason=f"{reason.value}: {note}" if note else reason.value)
        return self.get(identity_id)

    def _revoke(self, conn: Connection, identity_id: int, *, at: datetime,
                reason: x509.ReasonFlags) -> None:
        self._step(conn, identity_id, "revoke", {
            "state_changed_at": at, "revoked_at": at, "revocation_reason": reason.value})

    def renew(self, identity_id: int, pins: Pins, *, actor: str,
              reason: str = "renewal") -> Issued:
        """A new identity (new keys, new token) for the same person; the old one is revoked
        as superseded if it was still live (§5.6)."""
        at = self.clock()
        with self.issuing() as (conn, written):
            new_id = self._renew(conn, identity_id, pins, at=at, written=written)
            self.event(conn, action="renew", actor=actor, reason=reason_text(reason), at=at,
                       identity_id=new_id)
        return Issued(self.get(new_id), self.token_path(new_id))

    def _renew(self, conn: Connection, identity_id: int, pins: Pins, *, at: datetime,
               written: list[Path]) -> int:
        old = conn.execute(
            sa.select(identities.c.state, persons.c.country, persons.c.code,
                      persons.c.given_name, persons.c.surname, identities.c.person_id)
            .join(persons, persons.c.id == identities.c.person_id)
            .where(identities.c.id == identity_id)).first()
        if old is None:
            raise NotFound(f"no identity {identity_id}")
        successor = conn.execute(sa.select(identities.c.id).where(
            identities.c.replaces_id == identity_id)).first()
        if successor is not None:
            raise InvalidStateTransition(
                f"identity {identity_id} was already renewed as identity {successor.id}")
        if old.state in (IdentityState.ACTIVE.value, IdentityState.SUSPENDED.value):
            self._revoke(conn, identity_id, at=at, reason=x509.ReasonFlags.superseded)
        code = parse_code(old.country, old.code)
        return self.issue_into(conn, person_id=int(old.person_id), code=code,
                               name=PersonName(old.given_name, old.surname), pins=pins, at=at,
                               written=written, replaces_id=identity_id)

    def expire_due(self, *, actor: str = "sild") -> list[int]:
        """Mark every live identity whose certificates have ended as expired."""
        at = self.clock()
        with self.tx() as conn:
            due = [int(r.id) for r in conn.execute(sa.select(identities.c.id).where(
                identities.c.not_after <= at,
                identities.c.state.in_([IdentityState.ACTIVE.value,
                                        IdentityState.SUSPENDED.value])))]
            for i in due:
                self._step(conn, i, "expire", {"state_changed_at": at})
                self.event(conn, action="expire", actor=actor, at=at, identity_id=i)
        return due

    def pickup(self, identity_id: int, out: Path, *, actor: str,
               also: Callable[[Connection], None] | None = None) -> Path:
        """Hand the token over: write it to ``out`` (new file), then forget our copy (§5.3)."""
        src = self.token_path(identity_id)
        at = self.clock()
        identity = self.get(identity_id)
        if identity.picked_up_at is not None:
            raise InvalidStateTransition(f"identity {identity_id} was already picked up")
        if identity.state is not IdentityState.ACTIVE:
            raise InvalidStateTransition(
                f"identity {identity_id} is {identity.state.value}; only active ones are handed "
                "over")
        try:
            data = src.read_bytes()
        except OSError as e:
            raise KeyFileError(f"token of identity {identity_id} is not here: {e.strerror}") from e
        write_new(out, data)
        try:
            with self.tx() as conn:
                res = conn.execute(identities.update().where(
                    identities.c.id == identity_id, identities.c.picked_up_at.is_(None),
                ).values(picked_up_at=at))
                if res.rowcount != 1:
                    raise InvalidStateTransition(f"identity {identity_id} was already picked up")
                self.event(conn, action="pickup", actor=actor, at=at, identity_id=identity_id)
                if also is not None:
                    also(conn)
        except BaseException:
            out.unlink(missing_ok=True)
            raise
        src.unlink(missing_ok=True)
        src.with_name(src.name + ".lock").unlink(missing_ok=True)
        return out

    # -- reading ----------------------------------------------------------------------------

    def get(self, identity_id: int) -> Identity:
        check_id(identity_id, "identity")
        with self.engine.connect() as conn:
            row = conn.execute(_identity_query().where(identities.c.id == identity_id)).first()
        if row is None:
            raise NotFound(f"no identity {identity_id}")
        return _identity(row)

    def list_identities(self, *, state: IdentityState | None = None,
                        code: PersonalCode | None = None, limit: int = 1000) -> list[Identity]:
        q = _identity_query().order_by(identities.c.id).limit(limit)
        if state is not None:
            q = q.where(identities.c.state == state.value)
        if code is not None:
            q = q.where(persons.c.country == code.country, persons.c.code == code.code)
        with self.engine.connect() as conn:
            return [_identity(r) for r in conn.execute(q)]

    def history(self, identity_id: int) -> list[tuple[datetime, str, str, str]]:
        q = (sa.select(events.c.at, events.c.action, events.c.actor, events.c.reason)
             .where(events.c.identity_id == identity_id).order_by(events.c.id))
        with self.engine.connect() as conn:
            return [(aware(r.at), r.action, r.actor, r.reason) for r in conn.execute(q)]


def _identity_query() -> sa.Select[Any]:
    return sa.select(identities, persons.c.country, persons.c.code, persons.c.given_name,
                     persons.c.surname, persons.c.kind,
                     persons.c.created_at.label("person_created_at")).join(
        persons, persons.c.id == identities.c.person_id)


def _identity(r: Any) -> Identity:
    person = Person(
        id=int(r.person_id), code=parse_code(r.country, r.code), given_name=r.given_name,
        surname=r.surname, kind=PersonKind(r.kind), created_at=aware(r.person_created_at))
    return Identity(
        id=int(r.id), person=person, state=IdentityState(r.state), key_type=r.key_type,
        auth_serial=r.auth_serial, sign_serial=r.sign_serial,
        auth_certificate=x509.load_pem_x509_certificate(r.auth_certificate.encode()),
        sign_certificate=x509.load_pem_x509_certificate(r.sign_certificate.encode()),
        issued_at=aware(r.issued_at), not_after=aware(r.not_after),
        picked_up_at=aware(r.picked_up_at) if r.picked_up_at else None,
        state_changed_at=aware(r.state_changed_at),
        revoked_at=aware(r.revoked_at) if r.revoked_at else None,
        revocation_reason=r.revocation_reason, replaces_id=r.replaces_id)


