"""Passkeys, provider sessions and registration challenges in the identity store
(docs/spec/identity.md §7).

Single-use rows are spent with a conditional ``UPDATE … WHERE used_at IS NULL AND
expires_at > now`` (as :mod:`.store` does); the sign counter moves only with
``UPDATE … WHERE sign_count = <the count verified>``, so of two racing logins with one
response exactly one wins and a counter never goes back.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from sild.errors import DuplicateEntry, NotFound, StorageError
from sild.identity._common import aware
from sild.identity.oidc.store import SpendError
from sild.store.identity_tables import (
    identities,
    oidc_sessions,
    passkey_challenges,
    passkeys,
    persons,
)

__all__ = ["NewPasskey", "PasskeyStore", "Person", "Session", "StoredPasskey"]


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    """A live provider session (opened by a certificate login)."""

    key: str  # SHA-256 of the cookie value
    person_code: str  # EE38001085718
    subject: dict[str, Any]  # given_name, family_name, date_of_birth, amr
    created_at: datetime


@dataclass(frozen=True)
class StoredPasskey:
    credential_id: str  # base64url
    person_code: str
    user_handle: str
    public_key: bytes  # COSE_Key
    sign_count: int
    transports: tuple[str, ...]
    aaguid: str
    backed_up: bool
    created_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True)
class NewPasskey:
    credential_id: str
    public_key: bytes
    sign_count: int
    transports: tuple[str, ...]
    aaguid: str
    backed_up: bool


@dataclass(frozen=True)
class Person:
    """Who a passkey belongs to, as the identity store knows them now."""

    person_code: str
    given_name: str
    family_name: str
    date_of_birth: str | None
    active: bool  # holds an active, unexpired identity (certificates)


class PasskeyStore:
    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self._clock = clock

    def _run(self, work: Callable[[Connection], Any]) -> Any:
        try:
            with self._engine.begin() as conn:
                return work(conn)
        except IntegrityError:
            raise
        except DBAPIError as e:
            raise StorageError(f"identity store unavailable: {e.orig}") from e

    # --- sessions ----------------------------------------------------------------------

    @staticmethod
    def session_row(token: str, person_code: str, subject: dict[str, Any], now: datetime,
                    ttl: timedelta) -> dict[str, Any]:
        """The row of a new session whose cookie value is ``token``."""
        return {"session_sha256": _sha256(token), "person_code": person_code,
                "subject": json.dumps(subject), "created_at": now, "expires_at": now + ttl}

    @staticmethod
    def insert_session(conn: Connection, row: dict[str, Any]) -> None:
        conn.execute(oidc_sessions.insert().values(**row))

    def session(self, token: object) -> Session | None:
        """The live session for cookie value ``token``, or None."""
        if not isinstance(token, str) or not 20 <= len(token) <= 100:
            return None
        key = _sha256(token)
        row = self._run(lambda c: c.execute(sa.select(oidc_sessions).where(
            oidc_sessions.c.session_sha256 == key)).first())
        if row is None or row.ended_at is not None or aware(row.expires_at) <= self._clock():
            return None
        return Session(key, row.person_code, json.loads(row.subject), aware(row.created_at))

    def end_session(self, token: object) -> bool:
        """Log out: the session ends now. True if a live one ended."""
        if not isinstance(token, str) or len(token) > 100:
            return False
        now = self._clock()
        res = self._run(lambda c: c.execute(oidc_sessions.update().where(
            oidc_sessions.c.session_sha256 == _sha256(token),
            oidc_sessions.c.ended_at.is_(None)).values(ended_at=now)))
        return bool(res.rowcount == 1)

    # --- registration challenges -------------------------------------------------------

    def new_registration_challenge(self, session: Session, user_handle: str,
                                   ttl: timedelta) -> str:
        challenge = secrets.token_urlsafe(32)
        now = self._clock()
        self._run(lambda c: c.execute(passkey_challenges.insert().values(
            challenge=challenge, session_sha256=session.key, user_handle=user_handle,
            created_at=now, expires_at=now + ttl)))
        return challenge

    def registration_challenge(self, challenge: object, session: Session) -> str:
        """The user handle of the unspent challenge issued to ``session``, or SpendError."""
        if not isinstance(challenge, str) or not 0 < len(challenge) <= 64:
            raise SpendError("unknown")
        row = self._run(lambda c: c.execute(sa.select(passkey_challenges).where(
            passkey_challenges.c.challenge == challenge)).first())
        if row is None or row.session_sha256 != session.key:
            raise SpendError("unknown")
        if row.used_at is not None:
            raise SpendError("already used")
        if aware(row.expires_at) <= self._clock():
            raise SpendError("expired")
        return str(row.user_handle)

    def _spend(self, conn: Connection, challenge: str) -> None:
        now = self._clock()
        res = conn.execute(passkey_challenges.update().where(
            passkey_challenges.c.challenge == challenge,
            passkey_challenges.c.used_at.is_(None),
            passkey_challenges.c.expires_at > now).values(used_at=now))
        if res.rowcount != 1:
            raise SpendError("already used or expired")

    def spend_registration_challenge(self, challenge: str) -> None:
        self._run(lambda c: self._spend(c, challenge))

    def add_passkey(self, challenge: str, person_code: str, user_handle: str,
                    new: NewPasskey) -> StoredPasskey:
        """In one transaction: spend the registration challenge and store the credential."""
        now = self._clock()
        row = {"credential_id": new.credential_id, "person_code": person_code,
               "user_handle": user_handle, "public_key": new.public_key,
               "sign_count": new.sign_count, "transports": json.dumps(list(new.transports)),
               "aaguid": new.aaguid, "backed_up": new.backed_up, "created_at": now,
               "last_used_at": None}

        def work(conn: Connection) -> None:
            self._spend(conn, challenge)
            conn.execute(passkeys.insert().values(**row))

        try:
            self._run(work)
        except IntegrityError as e:
            raise DuplicateEntry("this passkey is registered already") from e
        return self._passkey(row)

    # --- credentials -------------------------------------------------------------------

    @staticmethod
    def _passkey(r: Any) -> StoredPasskey:
        m: dict[str, Any] = dict(r) if isinstance(r, dict) else dict(r._mapping)
        last = m["last_used_at"]
        return StoredPasskey(m["credential_id"], m["person_code"], m["user_handle"],
                             bytes(m["public_key"]), int(m["sign_count"]),
                             tuple(json.loads(m["transports"])), m["aaguid"],
                             bool(m["backed_up"]), aware(m["created_at"]),
                             None if last is None else aware(last))

    def passkey(self, credential_id: object) -> StoredPasskey | None:
        if not isinstance(credential_id, str) or not 0 < len(credential_id) <= 1400:
            return None
        row = self._run(lambda c: c.execute(sa.select(passkeys).where(
            passkeys.c.credential_id == credential_id)).first())
        return None if row is None else self._passkey(row)

    def passkeys(self, person_code: str) -> list[StoredPasskey]:
        rows = self._run(lambda c: c.execute(sa.select(passkeys).where(
            passkeys.c.person_code == person_code).order_by(passkeys.c.created_at)).all())
        return [self._passkey(r) for r in rows]

    def remove_passkey(self, credential_id: str) -> None:
        """Delete a passkey (a lost device); its person logs in with the certificate."""
        res = self._run(lambda c: c.execute(passkeys.delete().where(
            passkeys.c.credential_id == credential_id)))
        if res.rowcount != 1:
            raise NotFound(f"no passkey {credential_id[:40]!r}")

    def use_passkey(self, conn: Connection, credential_id: str, *, seen: int,
                    new: int) -> None:
        """Within a login's transaction: move the counter from ``seen`` to ``new``."""
        res = conn.execute(passkeys.update().where(
            passkeys.c.credential_id == credential_id, passkeys.c.sign_count == seen
        ).values(sign_count=new, last_used_at=self._clock()))
        if res.rowcount != 1:
            raise SpendError("sign counter changed meanwhile (a replayed response?)")

    def sweep(self, *, older_than: timedelta = timedelta(days=1)) -> int:
        """Delete sessions and registration challenges that expired (or sessions that
        ended) more than ``older_than`` ago; the count. Passkeys stay."""
        cutoff = self._clock() - older_than

        def work(conn: Connection) -> int:
            n = conn.execute(passkey_challenges.delete().where(
                passkey_challenges.c.expires_at < cutoff)).rowcount
            return int(n) + int(conn.execute(oidc_sessions.delete().where(sa.or_(
                oidc_sessions.c.expires_at < cutoff, oidc_sessions.c.ended_at < cutoff)))
                .rowcount)

        count: int = self._run(work)
        return count

    # --- the person behind a passkey ---------------------------------------------------

    def person(self, person_code: str) -> Person | None:
        """Names and whether the person holds an active identity now (a suspended or
        revoked person cannot log in with a passkey either)."""
        country, code = person_code[:2], person_code[2:]
        now = self._clock()

        def work(conn: Connection) -> Person | None:
            p = conn.execute(sa.select(persons).where(
                persons.c.country == country, persons.c.code == code)).first()
            if p is None:
                return None
            live = conn.execute(sa.select(sa.func.count()).select_from(identities).where(
                identities.c.person_id == p.id, identities.c.state == "active",
                identities.c.not_after > now)).scalar_one()
            return Person(person_code, p.given_name.upper(), p.surname.upper(),
                          p.birth_date.isoformat() if p.birth_date else None, live > 0)

        found: Person | None = self._run(work)
        return found
