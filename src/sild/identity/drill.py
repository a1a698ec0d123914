"""The mass suspension and reissue drill (docs/spec/identity.md §6).

In November 2017 Estonia suspended some 760,000 ID-card certificates because their
keys came from a chip whose key generation was flawed (ROCA, CVE-2017-15361), then
had the cards re-keyed. The drill rehearses that:

1. **Select** every *active* identity one of whose keys matches a predicate over the
   stored public keys (key type, a fingerprint test, an issuance window: the
   affected chips were issued 2014-2017).
2. **Suspend** them in batches; each batch is one transaction (state, hold time and
   reason certificateHold for OCSP, one event per identity), so OCSP answers
   ``revoked``/``certificateHold`` as soon as a batch commits. A drill that is
   interrupted can be rerun: only identities still active are selected.
3. **Reissue**: each suspended identity is renewed (new keys, new token, new
   certificates); the suspended one is revoked as superseded.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from sild.errors import InvalidRequest
from sild.identity._common import aware, reason_text
from sild.identity.records import IdentityState
from sild.identity.service import HOLD, IdentityService, Issued
from sild.identity.token import Pins
from sild.store.identity_tables import events, identities

__all__ = [
    "DrillResult",
    "KeyFacts",
    "KeyPredicate",
    "fingerprint_prefix",
    "issued_between",
    "key_type_is",
    "reissue",
    "suspend_matching",
]

BATCH = 5000


@dataclass(frozen=True, slots=True)
class KeyFacts:
    """What a predicate sees of one key."""

    key_type: str
    spki_der: bytes
    spki_sha256: str
    issued_at: datetime


@dataclass(frozen=True, slots=True)
class KeyPredicate:
    """A named test over :class:`KeyFacts` (the name goes into every event)."""

    description: str
    test: Callable[[KeyFacts], bool]

    def __call__(self, facts: KeyFacts) -> bool:
        return self.test(facts)

    def __and__(self, other: KeyPredicate) -> KeyPredicate:
        return KeyPredicate(f"{self.description} and {other.description}",
                            lambda f: self.test(f) and other.test(f))


class _Kt(enum.StrEnum):
    P256 = "p256"
    ED25519 = "ed25519"


def key_type_is(key_type: str) -> KeyPredicate:
    """Keys of one type (``p256``, ``ed25519``): a flawed algorithm or implementation."""
    try:
        kt = _Kt(key_type)
    except ValueError as e:
        raise InvalidRequest(f"unknown key type {key_type!r}: p256 or ed25519") from e
    return KeyPredicate(f"key type {kt.value}", lambda f: f.key_type == kt.value)


def fingerprint_prefix(prefix: str) -> KeyPredicate:
    """Keys whose SPKI SHA-256 starts with ``prefix`` (hex): a stand-in for a ROCA-style
    fingerprint test, which flags weak keys from their public half alone."""
    p = prefix.lower()
    if not 1 <= len(p) <= 64 or any(c not in "0123456789abcdef" for c in p):
        raise InvalidRequest("a fingerprint prefix is 1-64 hex digits")
    return KeyPredicate(f"SPKI SHA-256 starts with {p}", lambda f: f.spki_sha256.startswith(p))


def issued_between(start: datetime, end: datetime) -> KeyPredicate:
    """Keys issued in [start, end): a chip batch."""
    if start.tzinfo is None or end.tzinfo is None or start >= end:
        raise InvalidRequest("an issuance window needs two aware times, start before end")
    return KeyPredicate(f"issued from {start:%Y-%m-%d} to {end:%Y-%m-%d}",
                        lambda f: start <= f.issued_at < end)


@dataclass(frozen=True, slots=True)
class DrillResult:
    scanned: int  # active identities looked at
    suspended: list[int]  # identity ids suspended by this run
    select_seconds: float
    suspend_seconds: float


def suspend_matching(service: IdentityService, predicate: KeyPredicate, *, actor: str,
                     reason: str, batch: int = BATCH) -> DrillResult:
    """Steps 1 and 2 of the drill (module docstring)."""
    reason = reason_text(f"{reason} [drill: {predicate.description}]")
    t0 = time.perf_counter()
    c = identities.c
    q = sa.select(c.id, c.key_type, c.issued_at, c.auth_public_key, c.auth_key_sha256,
                  c.sign_public_key, c.sign_key_sha256).where(
        c.state == IdentityState.ACTIVE.value)
    matched: list[int] = []
    scanned = 0
    with service.engine.connect() as conn:
        for r in conn.execute(q):
            scanned += 1
            issued = aware(r.issued_at)
            if predicate(KeyFacts(r.key_type, r.auth_public_key, r.auth_key_sha256, issued)) \
                    or predicate(KeyFacts(r.key_type, r.sign_public_key, r.sign_key_sha256,
                                          issued)):
                matched.append(int(r.id))
    t1 = time.perf_counter()
    done: list[int] = []
    for i in range(0, len(matched), batch):
        chunk = matched[i:i + batch]
        at = service.clock()
        with service.tx() as conn:
            # Only rows still active: a concurrent suspend or revoke wins, and is skipped.
            still = [int(r.id) for r in conn.execute(identities.update().where(
                c.id.in_(chunk), c.state == IdentityState.ACTIVE.value,
            ).values(state=IdentityState.SUSPENDED.value, state_changed_at=at, revoked_at=at,
                     revocation_reason=HOLD).returning(c.id))]
            if not still:
                continue
            conn.execute(events.insert(), [
                {"at": at, "identity_id": j, "application_id": None, "action": "suspend",
                 "actor": actor, "reason": reason} for j in still])
        done.extend(still)
    return DrillResult(scanned, done, t1 - t0, time.perf_counter() - t1)


def reissue(service: IdentityService, identity_ids: Sequence[int],
            pins_for: Callable[[int], Pins], *, actor: str,
            reason: str = "drill reissue") -> list[Issued]:
    """Step 3: renew each suspended identity (each renewal is its own transaction)."""
    return [service.renew(i, pins_for(i), actor=actor, reason=reason) for i in identity_ids]
