"""The consent service's values and rules, pure (docs/spec/consent.md §1-§4).

Parsed once at the edge: personal codes (``EE38001085718`` or ``PNOEE-38001085718``),
data categories (``[a-z0-9-]{1,32}``), consumers (X-Road client ids), purposes. Inside,
they are plain frozen values. No clock, no I/O: every rule takes ``now``.

* :class:`Lock` — a person's lock on one data category: for everyone, or for everyone
  except named consumers, until an optional expiry (§2).
* :class:`Artefact` — a consent artefact modelled on India's Account Aggregator
  ``ConsentDetail`` (research/citizen.md §2.2): consumer, purpose {code, text},
  categories, dataLife, consentStart/consentExpiry. Its status lives beside it
  (:class:`Status`), as the AA's ``ConsentArtefact.status`` does, and moves only along
  :data:`TRANSITIONS` (§3).
* :func:`decide` — the decision rules of §4.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sild.core.identifiers import parse_client
from sild.core.personal_code import PersonalCode, parse, parse_semantics_id
from sild.core.timefmt import format_rfc3339, parse_rfc3339
from sild.errors import (
    InvalidDataCategory,
    InvalidIdentifier,
    InvalidPersonalCode,
    InvalidRequest,
    InvalidStateTransition,
)

__all__ = [
    "DEFAULT_MAX_AGE",
    "MAX_CATEGORIES",
    "MAX_EXCEPTIONS",
    "TRANSITIONS",
    "Action",
    "Artefact",
    "Candidate",
    "DataLife",
    "Decision",
    "LifeUnit",
    "Lock",
    "LockMode",
    "Purpose",
    "Status",
    "decide",
    "effective_status",
    "new_artefact",
    "parse_categories",
    "parse_category",
    "parse_consumer",
    "parse_purpose",
    "parse_subject",
    "parse_time",
    "step",
]

# Limits (a stranger sends these): a request names a few categories, a lock a few consumers.
MAX_CATEGORIES = 32  # more categories than any one service carries
MAX_EXCEPTIONS = 64  # consumers a person names by hand
MAX_PURPOSE = 200  # a purpose code or a short text (Sild-Purpose)
MAX_PURPOSE_TEXT = 1000  # AA Purpose.text: one sentence shown to the person
DEFAULT_MAX_AGE = 30  # seconds a gateway may cache a decision (§4 step 7)

_CATEGORY = re.compile(r"[a-z0-9-]{1,32}")
_COUNTRY = re.compile(r"[A-Z]{2}")


# -- parsing at the edge (§1) ----------------------------------------------------------------


def parse_subject(text: object) -> str:
    """A person's code in its canonical form ``EE38001085718``.

    Accepts ``<country><code>`` (as ``X-Road-UserId`` writes it) or the ETSI semantics
    identifier ``PNO<country>-<code>``; :class:`InvalidPersonalCode` otherwise.
    """
    if not isinstance(text, str) or not 3 <= len(text) <= 40:
        raise InvalidPersonalCode("a personal code is EE38001085718 or PNOEE-38001085718",
                                  country="?")
    code: PersonalCode
    if text.startswith("PNO"):
        code = parse_semantics_id(text)
    elif _COUNTRY.fullmatch(text[:2]):
        code = parse(text[:2], text[2:])
    else:
        raise InvalidPersonalCode(
            f"{text[:40]!r} is not a personal code: start with the country (EE38001085718)",
            country="?")
    return f"{code.country}{code.code}"


def parse_category(text: object) -> str:
    """A data category code: ``[a-z0-9-]{1,32}`` (health, population, tax, police, …)."""
    if not isinstance(text, str) or not _CATEGORY.fullmatch(text):
        shown = text[:40] if isinstance(text, str) else type(text).__name__
        raise InvalidDataCategory(
            f"{shown!r} is not a data category: 1-32 of a-z, 0-9 and '-'")
    return text


def parse_categories(texts: Iterable[object]) -> tuple[str, ...]:
    """One or more categories, sorted, without repeats."""
    if isinstance(texts, str | bytes):  # one string is not a list of one-letter codes
        raise InvalidDataCategory("categories are a list, not one string")
    out: set[str] = set()
    for n, t in enumerate(texts):
        if n >= MAX_CATEGORIES * 4:  # bound the work before deduplication, too
            raise InvalidDataCategory(f"at most {MAX_CATEGORIES} data categories")
        out.add(parse_category(t))
    if not out:
        raise InvalidDataCategory("name at least one data category")
    if len(out) > MAX_CATEGORIES:
        raise InvalidDataCategory(f"at most {MAX_CATEGORIES} data categories")
    return tuple(sorted(out))


def parse_consumer(text: object) -> str:
    """An X-Road client id (``EE/GOV/70008440/rr``) in its text form."""
    if not isinstance(text, str):
        raise InvalidIdentifier("a consumer is an X-Road client id such as EE/GOV/70008440/rr")
    return str(parse_client(text))


def parse_purpose(text: object) -> str:
    """A purpose as a request names it: a registered code or a short text."""
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_PURPOSE \
            or not text.isprintable():
        raise InvalidRequest(f"a purpose is 1-{MAX_PURPOSE} printable characters")
    return text.strip()


def _time(value: object, what: str) -> datetime:
    try:
        return parse_rfc3339(value)
    except (ValueError, TypeError) as e:
        raise InvalidRequest(f"{what} must be an RFC 3339 UTC time like "
                             f"2026-12-31T00:00:00Z") from e


# -- locks (§2) ---------------------------------------------------------------------------------


class LockMode(enum.Enum):
    EVERYONE = "everyone"  # closed to every consumer
    EXCEPT = "except"  # closed to every consumer but the named ones


@dataclass(frozen=True, slots=True)
class Lock:
    subject: str
    category: str
    mode: LockMode
    exceptions: tuple[str, ...]
    expires_at: datetime | None
    since: datetime

    def active(self, now: datetime) -> bool:
        return self.expires_at is None or now < self.expires_at

    def closes_for(self, client: str, now: datetime) -> bool:
        """Does this lock refuse ``client`` at ``now``? (§4 steps 2-3)"""
        if not self.active(now):
            return False
        return self.mode is LockMode.EVERYONE or client not in self.exceptions

    def to_json(self, now: datetime | None = None) -> dict[str, Any]:
        """The API form; with ``now``, also whether it still closes anything."""
        out = {"category": self.category, "mode": self.mode.value,
               "except": list(self.exceptions),
               "expires": format_rfc3339(self.expires_at) if self.expires_at else None,
               "since": format_rfc3339(self.since)}
        return out if now is None else out | {"active": self.active(now)}


# -- consent artefacts (§3) ---------------------------------------------------------------------


class Status(enum.Enum):
    """AA consent status (ConsentArtefact.status, plus the request's PENDING/REJECTED)."""

    PENDING = "PENDING"
    ACTIVE = "ACTIVE"
    REJECTED = "REJECTED"
    PAUSED = "PAUSED"
    REVOKED = "REVOKED"
    EXPIRED = "EXPIRED"


class Action(enum.Enum):
    APPROVE = "approve"
    REJECT = "reject"
    PAUSE = "pause"
    RESUME = "resume"
    REVOKE = "revoke"
    EXPIRE = "expire"  # by time only, never asked for


# §3: every allowed move; anything else is refused. REJECTED, REVOKED, EXPIRED are final.
TRANSITIONS: Mapping[tuple[Status, Action], Status] = {
    (Status.PENDING, Action.APPROVE): Status.ACTIVE,
    (Status.PENDING, Action.REJECT): Status.REJECTED,
    (Status.PENDING, Action.EXPIRE): Status.EXPIRED,
    (Status.ACTIVE, Action.PAUSE): Status.PAUSED,
    (Status.PAUSED, Action.RESUME): Status.ACTIVE,
    (Status.ACTIVE, Action.REVOKE): Status.REVOKED,
    (Status.PAUSED, Action.REVOKE): Status.REVOKED,
    (Status.ACTIVE, Action.EXPIRE): Status.EXPIRED,
    (Status.PAUSED, Action.EXPIRE): Status.EXPIRED,
}


def step(status: Status, action: Action) -> Status:
    """The status after ``action``; :class:`InvalidStateTransition` if §3 does not allow it."""
    after = TRANSITIONS.get((status, action))
    if after is None:
        # every action's name ends in "e": approved, rejected, paused, resumed, revoked
        raise InvalidStateTransition(f"a {status.value} consent cannot be {action.value}d",
                                     status=status.value, action=action.value)
    return after


def effective_status(status: Status, expiry: datetime, now: datetime) -> Status:
    """The status at ``now``: a live consent past its expiry is EXPIRED (by time, §3)."""
    if status in (Status.PENDING, Status.ACTIVE, Status.PAUSED) and now >= expiry:
        return Status.EXPIRED
    return status


@dataclass(frozen=True, slots=True)
class Purpose:
    """AA ``Purpose{code, text}``: the code is what requests match (Sild-Purpose)."""

    code: str
    text: str

    @classmethod
    def parse(cls, value: object) -> Purpose:
        if not isinstance(value, Mapping):
            raise InvalidRequest('purpose must be {"code": …, "text": …}')
        text = value.get("text", "")
        if not isinstance(text, str) or len(text) > MAX_PURPOSE_TEXT:
            raise InvalidRequest(f"purpose.text is at most {MAX_PURPOSE_TEXT} characters")
        return cls(parse_purpose(value.get("code")), text.strip())


class LifeUnit(enum.Enum):
    DAY = "DAY"
    MONTH = "MONTH"
    YEAR = "YEAR"
    INF = "INF"


@dataclass(frozen=True, slots=True)
class DataLife:
    """AA ``DataLife{unit, value}``: how long the consumer may keep what it fetched."""

    unit: LifeUnit
    value: int

    @classmethod
    def parse(cls, value: object) -> DataLife:
        if not isinstance(value, Mapping):
            raise InvalidRequest('dataLife must be {"unit": DAY|MONTH|YEAR|INF, "value": n}')
        try:
            unit = LifeUnit(value.get("unit"))
        except ValueError as e:
            raise InvalidRequest("dataLife.unit is DAY, MONTH, YEAR or INF") from e
        n = value.get("value", 0)
        if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= 10_000:
            raise InvalidRequest("dataLife.value is a whole number 0-10000")
        return cls(unit, n)

    def to_json(self) -> dict[str, Any]:
        return {"unit": self.unit.value, "value": self.value}


@dataclass(frozen=True, slots=True)
class Artefact:
    """The signed part of a consent (AA ``SignedConsentDetail``); status is kept apart."""

    consent_id: str
    subject: str
    consumer: str
    purpose: Purpose
    categories: tuple[str, ...]
    data_life: DataLife
    consent_start: datetime
    consent_expiry: datetime
    created_at: datetime

    def covers(self, *, client: str, categories: Sequence[str], purpose: str) -> bool:
        return (self.consumer == client and self.purpose.code == purpose
                and set(categories) <= set(self.categories))

    def valid_at(self, now: datetime) -> bool:
        return self.consent_start <= now < self.consent_expiry

    def to_payload(self) -> dict[str, Any]:
        """The JSON that is signed (AA field names where AA has the field)."""
        return {
            "ver": "1",
            "consentId": self.consent_id,
            "createTimestamp": format_rfc3339(self.created_at),
            "customer": {"id": self.subject},
            "consumer": {"id": self.consumer},
            "purpose": {"code": self.purpose.code, "text": self.purpose.text},
            "categories": list(self.categories),
            "dataLife": self.data_life.to_json(),
            "consentStart": format_rfc3339(self.consent_start),
            "consentExpiry": format_rfc3339(self.consent_expiry),
        }

    @classmethod
    def from_payload(cls, data: object) -> Artefact:
        """Check a payload's shape and every value (:class:`InvalidRequest` otherwise)."""
        if not isinstance(data, Mapping) or data.get("ver") != "1":
            raise InvalidRequest("not a version 1 consent artefact")
        try:
            customer, consumer = data["customer"], data["consumer"]
            if not isinstance(customer, Mapping) or not isinstance(consumer, Mapping):
                raise InvalidRequest("customer and consumer are objects with an id")
            cid = data["consentId"]
            if not isinstance(cid, str) or not re.fullmatch(r"[A-Za-z0-9-]{1,64}", cid):
                raise InvalidRequest("consentId is 1-64 of A-Z, a-z, 0-9, '-'")
            cats = data["categories"]
            if not isinstance(cats, list):
                raise InvalidRequest("categories is a list")
            return new_artefact(
                consent_id=cid, subject=parse_subject(customer.get("id")),
                consumer=parse_consumer(consumer.get("id")),
                purpose=Purpose.parse(data["purpose"]), categories=parse_categories(cats),
                data_life=DataLife.parse(data["dataLife"]),
                consent_start=_time(data["consentStart"], "consentStart"),
                consent_expiry=_time(data["consentExpiry"], "consentExpiry"),
                created_at=_time(data["createTimestamp"], "createTimestamp"))
        except KeyError as e:
            raise InvalidRequest(f"consent artefact without {e.args[0]}") from e


def new_artefact(*, consent_id: str, subject: str, consumer: str, purpose: Purpose,
                 categories: tuple[str, ...], data_life: DataLife, consent_start: datetime,
                 consent_expiry: datetime, created_at: datetime) -> Artefact:
    if consent_expiry <= consent_start:
        raise InvalidRequest("consentExpiry must be after consentStart")
    return Artefact(consent_id, subject, consumer, purpose, categories, data_life,
                    consent_start, consent_expiry, created_at)


def parse_time(value: object, what: str) -> datetime:
    """An RFC 3339 UTC time from a request (:class:`InvalidRequest` otherwise)."""
    return _time(value, what)


# -- the decision (§4) --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    locked: tuple[str, ...]
    consent_id: str | None
    reason: str
    max_age: int

    def to_json(self) -> dict[str, Any]:
        return {"decision": "allow" if self.allowed else "deny", "locked": list(self.locked),
                "consentId": self.consent_id, "reason": self.reason, "maxAge": self.max_age}


@dataclass(frozen=True, slots=True)
class Candidate:
    """A consent the decision may use, with its status at ``now`` (§4 steps 4-5)."""

    artefact: Artefact
    status: Status


def _seconds(until: datetime, now: datetime) -> int:
    return max(0, int((until - now) / timedelta(seconds=1)))


def decide(*, subject: str, categories: tuple[str, ...], client: str, purpose: str,
           locks: Iterable[Lock], candidates: Iterable[Candidate], now: datetime,
           given: Candidate | None = None, unknown_consent: str | None = None,
           max_age: int = DEFAULT_MAX_AGE) -> Decision:
    """§4: may ``client`` receive ``subject``'s ``categories`` for ``purpose`` at ``now``?

    ``locks`` are the person's current locks; ``candidates`` the consents the store holds
    for this person and client; ``given`` the consent the request named (already checked
    for its signature), tried first; ``unknown_consent`` the id a request named that the
    store does not hold.
    """
    # (2)-(3) which requested categories are closed to this client
    by_cat = {lock.category: lock for lock in locks if lock.subject == subject}
    live = [by_cat[c] for c in categories if c in by_cat and by_cat[c].active(now)]
    locked = tuple(lk.category for lk in live if lk.closes_for(client, now))
    # (7) a decision may be cached until the next lock change by time, at most max_age
    horizon = [lk.expires_at for lk in live if lk.expires_at is not None]
    age = min([max_age, *(_seconds(t, now) for t in horizon)])
    if not locked:
        why = ("no lock on these categories" if not live
               else "the person's lock makes an exception for this client")
        return Decision(True, (), None, why, age)
    # (4)-(5) a usable consent opens the locked categories
    refusal = f"; consent {unknown_consent} does not exist" if unknown_consent else ""
    tried = [given] if given is not None else []
    tried += [c for c in candidates if given is None or
              c.artefact.consent_id != given.artefact.consent_id]
    for cand in tried:
        a = cand.artefact
        problem = _unusable(cand, subject=subject, client=client, categories=locked,
                            purpose=purpose, now=now)
        if problem is None:
            return Decision(True, locked, a.consent_id, f"consent {a.consent_id} is active",
                            min(age, _seconds(a.consent_expiry, now)))
        if cand is given:
            refusal = f"; consent {a.consent_id} {problem}"
    # (6) refuse, saying why
    what = ", ".join(locked)
    return Decision(False, locked, None,
                    f"the person has locked their {what} data{refusal}", age)


def _unusable(cand: Candidate, *, subject: str, client: str, categories: tuple[str, ...],
              purpose: str, now: datetime) -> str | None:
    a = cand.artefact
    if a.subject != subject:
        return "is for another person"
    if a.consumer != client:
        return "was given to another consumer"
    if cand.status is not Status.ACTIVE:
        return f"is {cand.status.value}"
    if now < a.consent_start:
        return "is not yet valid"
    if now >= a.consent_expiry:
        return "is EXPIRED"
    if a.purpose.code != purpose:
        return f"is for purpose {a.purpose.code!r}"
    if not set(categories) <= set(a.categories):
        return f"does not cover {', '.join(sorted(set(categories) - set(a.categories)))}"
    return None
