"""Sessions and CSRF tokens (docs/spec/portal.md §4).

A session is server-side: the cookie carries only a random 256-bit id
(``HttpOnly; SameSite=Lax; Path=/``, ``Secure`` when the portal is served over https),
the person, the CSRF token and the OIDC login state stay in memory here. Every POST
carries the session's CSRF token in a ``csrf_token`` form field (OWASP "synchronizer
token"); a missing or wrong token is refused with 403 before anything happens. Logging
in replaces the session id (no fixation), logging out forgets it. Pure of I/O; the
clock is an input.
"""

from __future__ import annotations

import hmac
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

__all__ = ["COOKIE", "Person", "Session", "SessionStore"]

COOKIE = "sild_portal"
IDLE_SECONDS = 30 * 60  # an idle session ends after half an hour
MAX_SESSIONS = 50_000  # the oldest go first; a flood cannot grow memory without bound


@dataclass(frozen=True)
class Person:
    """Whose data a page shows (``code``, ``name``) and who asked (``user_code``)."""

    code: str  # CC<code>: the child's when acting for a child
    name: str
    user_code: str  # the logged-in person's own code (X-Road-UserId)
    user_name: str

    @property
    def acting_for_other(self) -> bool:
        return self.code != self.user_code


@dataclass
class Session:
    id: str
    csrf: str
    seen: float
    person: Person | None = None
    login: dict[str, Any] = field(default_factory=dict)  # OIDC state, nonce, verifier

    def csrf_ok(self, token: object) -> bool:
        return isinstance(token, str) and hmac.compare_digest(token.encode(),
                                                              self.csrf.encode())


class SessionStore:
    def __init__(self, *, idle: float = IDLE_SECONDS, limit: int = MAX_SESSIONS) -> None:
        self.idle = idle
        self.limit = limit
        self._by_id: OrderedDict[str, Session] = OrderedDict()

    def new(self, *, now: float) -> Session:
        s = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), now)
        self._by_id[s.id] = s
        while len(self._by_id) > self.limit:
            self._by_id.popitem(last=False)
        return s

    def get(self, sid: str | None, *, now: float) -> Session | None:
        if not sid or len(sid) > 100:
            return None
        s = self._by_id.get(sid)
        if s is None:
            return None
        if now - s.seen > self.idle:
            del self._by_id[sid]
            return None
        s.seen = now
        self._by_id.move_to_end(sid)
        return s

    def log_in(self, old: Session, person: Person, *, now: float) -> Session:
        """A fresh session id and CSRF token for the logged-in person (no fixation)."""
        self.drop(old.id)
        s = self.new(now=now)
        s.person = person
        return s

    def drop(self, sid: str) -> None:
        self._by_id.pop(sid, None)
