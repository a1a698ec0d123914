"""Relying parties, login challenges and authorization codes (docs/spec/oidc.md §4).

Every single-use thing (a challenge nonce, a code) is spent with a conditional
``UPDATE … WHERE used_at IS NULL AND expires_at > now``: of two racing requests exactly
one wins, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from sild.errors import DuplicateEntry, InvalidRequest, NotFound, StorageError
from sild.identity._common import aware
from sild.store.identity_tables import oidc_challenges, oidc_clients, oidc_codes

__all__ = ["Challenge", "Client", "CodeGrant", "OidcStore", "SpendError", "check_redirect_uri"]

_CLIENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def check_redirect_uri(uri: object) -> str:
    """An absolute http(s) URI without a fragment (RFC 6749 §3.1.2)."""
    if not isinstance(uri, str) or len(uri) > 2000 or not uri.isprintable() or " " in uri:
        raise InvalidRequest("a redirect URI is an absolute http:// or https:// URI")
    if not re.match(r"^https?://[^/?#]+", uri) or "#" in uri:
        raise InvalidRequest(f"redirect URI {uri!r}: absolute http(s) URI without fragment")
    return uri


@dataclass(frozen=True)
class Client:
    client_id: str
    name: str
    redirect_uris: tuple[str, ...]
    created_at: datetime


@dataclass(frozen=True)
class Challenge:
    nonce: str
    origin: str
    request: dict[str, Any]
    expires_at: datetime


@dataclass(frozen=True)
class CodeGrant:
    client_id: str
    redirect_uri: str
    code_challenge: str
    claims: dict[str, Any]


class SpendError(Exception):
    """A single-use value that is unknown, already used or expired (``reason`` says which)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OidcStore:
    """The provider's rows in the identity store."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self._clock = clock

    @property
    def engine(self) -> Engine:
        return self._engine

    def _run(self, work: Callable[[Connection], Any]) -> Any:
        try:
            with self._engine.begin() as conn:
                return work(conn)
        except IntegrityError:
            raise
        except DBAPIError as e:  # unreachable, or a store without the tables
            raise StorageError(f"identity store unavailable: {e.orig}") from e

    # --- relying parties (clients) -------------------------------------------------

    def add_client(self, client_id: str, *, name: str,
                   redirect_uris: list[str]) -> tuple[Client, str]:
        """Register a relying party; returns it and its secret (shown once, stored hashed)."""
        if not isinstance(client_id, str) or not _CLIENT_ID.match(client_id):
            raise InvalidRequest("a client id is 1-64 of A-Z a-z 0-9 . _ - (starting with a "
                                 "letter or digit)")
        if not isinstance(name, str) or not name.strip() or len(name) > 200 \
                or not name.isprintable():
            raise InvalidRequest("a client name is 1-200 printable characters")
        if not redirect_uris:
            raise InvalidRequest("a client needs at least one redirect URI")
        uris = tuple(dict.fromkeys(check_redirect_uri(u) for u in redirect_uris))
        secret = secrets.token_urlsafe(32)
        now = self._clock()
        row = {"client_id": client_id, "secret_sha256": _sha256(secret), "name": name.strip(),
               "redirect_uris": json.dumps(list(uris)), "created_at": now}
        try:
            self._run(lambda c: c.execute(oidc_clients.insert().values(**row)))
        except IntegrityError as e:
            raise DuplicateEntry(f"client {client_id!r} exists") from e
        return Client(client_id, name.strip(), uris, now), secret

    def clients(self) -> list[Client]:
        rows = self._run(lambda c: c.execute(
            sa.select(oidc_clients).order_by(oidc_clients.c.client_id)).all())
        return [self._client(r) for r in rows]

    @staticmethod
    def _client(r: Any) -> Client:
        return Client(r.client_id, r.name, tuple(json.loads(r.redirect_uris)),
                      aware(r.created_at))

    def client(self, client_id: object) -> Client | None:
        if not isinstance(client_id, str) or not _CLIENT_ID.match(client_id):
            return None
        row = self._run(lambda c: c.execute(sa.select(oidc_clients).where(
            oidc_clients.c.client_id == client_id)).first())
        return None if row is None else self._client(row)

    def remove_client(self, client_id: str) -> None:
        res = self._run(lambda c: c.execute(oidc_clients.delete().where(
            oidc_clients.c.client_id == client_id)))
        if res.rowcount != 1:
            raise NotFound(f"no client {client_id!r}")

    def authenticate_client(self, client_id: object, secret: object) -> Client | None:
        """The client, if ``secret`` is its secret (constant-time compare), else None."""
        if not isinstance(secret, str) or not isinstance(client_id, str) \
                or not _CLIENT_ID.match(client_id):
            return None
        row = self._run(lambda c: c.execute(sa.select(oidc_clients).where(
            oidc_clients.c.client_id == client_id)).first())
        if row is None:
            hmac.compare_digest(_sha256(secret), "0" * 64)  # same work either way
            return None
        if not hmac.compare_digest(_sha256(secret), row.secret_sha256):
            return None
        return self._client(row)

    # --- login challenges ----------------------------------------------------------

    def new_challenge(self, *, origin: str, request: dict[str, Any],
                      ttl: timedelta) -> Challenge:
        """A fresh 256-bit nonce bound to ``origin`` and the pending authorization request."""
        nonce = secrets.token_urlsafe(32)
        now = self._clock()
        self._run(lambda c: c.execute(oidc_challenges.insert().values(
            nonce=nonce, origin=origin, request=json.dumps(request), created_at=now,
            expires_at=now + ttl)))
        return Challenge(nonce, origin, request, now + ttl)

    def challenge(self, nonce: object) -> Challenge:
        """The unspent challenge ``nonce``, or :class:`SpendError` (unknown/used/expired)."""
        if not isinstance(nonce, str) or len(nonce) > 64:
            raise SpendError("unknown")
        row = self._run(lambda c: c.execute(sa.select(oidc_challenges).where(
            oidc_challenges.c.nonce == nonce)).first())
        if row is None:
            raise SpendError("unknown")
        if row.used_at is not None:
            raise SpendError("already used")
        if aware(row.expires_at) <= self._clock():
            raise SpendError("expired")
        return Challenge(row.nonce, row.origin, json.loads(row.request),
                         aware(row.expires_at))

    def _spend_challenge(self, conn: Connection, nonce: str) -> None:
        now = self._clock()
        res = conn.execute(oidc_challenges.update().where(
            oidc_challenges.c.nonce == nonce, oidc_challenges.c.used_at.is_(None),
            oidc_challenges.c.expires_at > now).values(used_at=now))
        if res.rowcount != 1:
            raise SpendError("already used or expired")

    def spend_challenge(self, nonce: str) -> None:
        """Spend ``nonce`` without a login (a failed attempt): single use either way."""
        self._run(lambda c: self._spend_challenge(c, nonce))

    def spend_challenge_for_code(self, nonce: str, grant: CodeGrant, *, ttl: timedelta,
                                 also: Callable[[Connection], None] | None = None) -> str:
        """In one transaction: spend the challenge, store a new authorization code, and do
        ``also`` (open a session, move a passkey's counter); all or nothing."""
        code = secrets.token_urlsafe(32)
        now = self._clock()

        def work(conn: Connection) -> None:
            self._spend_challenge(conn, nonce)
            conn.execute(oidc_codes.insert().values(
                code_sha256=_sha256(code), client_id=grant.client_id,
                redirect_uri=grant.redirect_uri, code_challenge=grant.code_challenge,
                claims=json.dumps(grant.claims), created_at=now, expires_at=now + ttl))
            if also is not None:
                also(conn)

        self._run(work)
        return code

    # --- authorization codes ---------------------------------------------------------

    def redeem_code(self, code: object, check: Callable[[CodeGrant], None]) -> CodeGrant:
        """Spend ``code`` if ``check(grant)`` passes (it raises otherwise; the code stays).

        :class:`SpendError` for an unknown, used or expired code (RFC 6749 §4.1.2: a code
        is used once and lives briefly).
        """
        if not isinstance(code, str) or not 0 < len(code) <= 200:
            raise SpendError("unknown")
        key = _sha256(code)
        now = self._clock()

        def work(conn: Connection) -> CodeGrant:
            row = conn.execute(sa.select(oidc_codes).where(
                oidc_codes.c.code_sha256 == key)).first()
            if row is None:
                raise SpendError("unknown")
            if row.used_at is not None:
                raise SpendError("already used")
            if aware(row.expires_at) <= now:
                raise SpendError("expired")
            grant = CodeGrant(row.client_id, row.redirect_uri, row.code_challenge,
                              json.loads(row.claims))
            check(grant)
            res = conn.execute(oidc_codes.update().where(
                oidc_codes.c.code_sha256 == key, oidc_codes.c.used_at.is_(None)
            ).values(used_at=now))
            if res.rowcount != 1:
                raise SpendError("already used")
            return grant

        grant: CodeGrant = self._run(work)
        return grant

    # --- housekeeping -----------------------------------------------------------------

    def sweep(self, *, older_than: timedelta = timedelta(days=1)) -> int:
        """Delete challenges and codes that expired more than ``older_than`` ago; the count."""
        cutoff = self._clock() - older_than

        def work(conn: Connection) -> int:
            n = conn.execute(oidc_challenges.delete().where(
                oidc_challenges.c.expires_at < cutoff)).rowcount
            return int(n) + int(conn.execute(oidc_codes.delete().where(
                oidc_codes.c.expires_at < cutoff)).rowcount)

        count: int = self._run(work)
        return count
