"""Pure consent rules: parsing at the edge, the status lifecycle, the decision
(docs/spec/consent.md §1-§4)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sild.consent.model import (
    TRANSITIONS,
    Action,
    Artefact,
    Candidate,
    DataLife,
    Decision,
    LifeUnit,
    Lock,
    LockMode,
    Purpose,
    Status,
    decide,
    effective_status,
    parse_categories,
    parse_category,
    parse_consumer,
    parse_purpose,
    parse_subject,
    step,
)
from sild.errors import (
    InvalidDataCategory,
    InvalidIdentifier,
    InvalidPersonalCode,
    InvalidRequest,
    InvalidStateTransition,
)
from sild.testing.clock import FIXED_NOW as NOW

P = "EE38001085718"
DOCTOR = "EE/COM/10000001/his"
POLICE = "EE/GOV/70008440/rr"


def lock(category: str = "health", *, but: tuple[str, ...] = (),
         expires: int | None = None) -> Lock:
    return Lock(P, category, LockMode.EXCEPT if but else LockMode.EVERYONE, but,
                NOW + timedelta(seconds=expires) if expires is not None else None, NOW)


def artefact(*, consumer: str = DOCTOR, categories: tuple[str, ...] = ("health",),
             purpose: str = "treatment", days: int = 30, subject: str = P) -> Artefact:
    return Artefact("c-1", subject, consumer, Purpose(purpose, "care"), categories,
                    DataLife(LifeUnit.DAY, 0), NOW - timedelta(days=1),
                    NOW + timedelta(days=days), NOW - timedelta(days=1))


# -- §1 parsing --------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["EE38001085718", "PNOEE-38001085718"])
def test_subject_forms(text: str) -> None:
    """Both the compact and the ETSI semantics-identifier forms give one canonical code."""
    assert parse_subject(text) == "EE38001085718"


@pytest.mark.parametrize("text", ["EE38001085719", "38001085718", "ee38001085718",
                                  "XX38001085718", "PNOEE38001085718", "", "EE",
                                  "EE" + "1" * 60, None, 38001085718, "EE3800108571８"])
def test_invalid_personal_codes_refused(text: object) -> None:
    """Wrong check digit, no country, unknown country, wrong shape, non-text: refused."""
    with pytest.raises(InvalidPersonalCode):
        parse_subject(text)


@pytest.mark.parametrize("text", ["health", "tax", "a", "x" * 32, "cancer-screening", "0-9"])
def test_good_categories(text: str) -> None:
    """Category codes are [a-z0-9-]{1,32}."""
    assert parse_category(text) == text


@pytest.mark.parametrize("text", ["", "Health", "x" * 33, "he alth", "health\n", "tervis✓",
                                  "a_b", None, 7])
def test_bad_categories_refused(text: object) -> None:
    """Upper case, too long, spaces, newlines, non-ASCII, non-text: InvalidDataCategory."""
    with pytest.raises(InvalidDataCategory):
        parse_category(text)


def test_categories_sorted_unique_and_bounded() -> None:
    """A list of categories is deduplicated and sorted; empty or too many are refused."""
    assert parse_categories(["tax", "health", "tax"]) == ("health", "tax")
    with pytest.raises(InvalidDataCategory):
        parse_categories([])
    with pytest.raises(InvalidDataCategory):
        parse_categories([f"c{i}" for i in range(33)])
    with pytest.raises(InvalidDataCategory):  # one string, not its letters
        parse_categories("health")
    with pytest.raises(InvalidDataCategory):  # a bad one after many repeats is still seen
        parse_categories(["health"] * 200 + ["BAD"])


@pytest.mark.parametrize("text", ["EE/GOV", "EE/GOV/70008440/rr/x/y", "EE//1/rr",
                                  "EE/GOV/7000 8440", "", None])
def test_bad_client_ids_refused(text: object) -> None:
    """A consumer is an X-Road client id; anything else is InvalidIdentifier."""
    with pytest.raises(InvalidIdentifier):
        parse_consumer(text)


@pytest.mark.parametrize("text", ["", "   ", "x" * 201, "a\nb", None])
def test_bad_purposes_refused(text: object) -> None:
    """A purpose is 1-200 printable characters."""
    with pytest.raises(InvalidRequest):
        parse_purpose(text)


# -- §3 lifecycle ------------------------------------------------------------------------


def test_documented_lifecycle() -> None:
    """PENDING → ACTIVE | REJECTED; ACTIVE ↔ PAUSED; → REVOKED; → EXPIRED."""
    assert step(Status.PENDING, Action.APPROVE) is Status.ACTIVE
    assert step(Status.PENDING, Action.REJECT) is Status.REJECTED
    assert step(Status.ACTIVE, Action.PAUSE) is Status.PAUSED
    assert step(Status.PAUSED, Action.RESUME) is Status.ACTIVE
    assert step(Status.ACTIVE, Action.REVOKE) is Status.REVOKED
    assert step(Status.PAUSED, Action.REVOKE) is Status.REVOKED
    assert step(Status.ACTIVE, Action.EXPIRE) is Status.EXPIRED


@given(st.sampled_from(Status), st.sampled_from(Action))
def test_every_other_transition_refused(status: Status, action: Action) -> None:
    """Any (status, action) outside the table raises InvalidStateTransition."""
    if (status, action) in TRANSITIONS:
        assert step(status, action) is TRANSITIONS[(status, action)]
    else:
        with pytest.raises(InvalidStateTransition):
            step(status, action)


@pytest.mark.parametrize("final", [Status.REJECTED, Status.REVOKED, Status.EXPIRED])
def test_final_states_are_final(final: Status) -> None:
    """Nothing leaves REJECTED, REVOKED or EXPIRED."""
    for action in Action:
        with pytest.raises(InvalidStateTransition):
            step(final, action)


def test_expiry_by_time() -> None:
    """A live consent at or past its expiry is EXPIRED; final states stay as they are."""
    end = NOW
    assert effective_status(Status.ACTIVE, end, NOW - timedelta(seconds=1)) is Status.ACTIVE
    assert effective_status(Status.ACTIVE, end, NOW) is Status.EXPIRED
    assert effective_status(Status.PAUSED, end, NOW) is Status.EXPIRED
    assert effective_status(Status.REVOKED, end, NOW) is Status.REVOKED


def test_artefact_payload_round_trip() -> None:
    """to_payload → from_payload gives the same artefact (AA field names)."""
    a = artefact()
    p = a.to_payload()
    assert set(p) >= {"consentId", "consumer", "purpose", "dataLife", "consentStart",
                      "consentExpiry"}
    assert Artefact.from_payload(p) == a


def test_artefact_payload_checked() -> None:
    """A payload with a bad value or missing field is refused, not half-read."""
    p = artefact().to_payload()
    for bad in ({**p, "categories": ["BAD"]}, {**p, "customer": {"id": "EE1"}},
                {k: v for k, v in p.items() if k != "purpose"}, {**p, "ver": "2"},
                {**p, "consentExpiry": p["consentStart"]}, {**p, "consentId": "a b"},
                {**p, "dataLife": {"unit": "WEEK", "value": 1}}):
        with pytest.raises((InvalidRequest, InvalidIdentifier)):
            Artefact.from_payload(bad)


# -- §4 decision ------------------------------------------------------------------------


def run(*locks: Lock, client: str = DOCTOR, cats: tuple[str, ...] = ("health",),
        purpose: str = "treatment", candidates: tuple[Candidate, ...] = (),
        given: Candidate | None = None) -> Decision:
    return decide(subject=P, categories=cats, client=client, purpose=purpose, locks=locks,
                  candidates=candidates, now=NOW, given=given)


def test_no_lock_allows() -> None:
    """(2) No lock on the categories: allow, nothing locked."""
    d = run(lock("tax"))
    assert (d.allowed, d.locked, d.consent_id) == (True, (), None)


def test_lock_denies_with_reason() -> None:
    """(6) Locked for everyone, no consent: deny, and the reason says the person locked it."""
    d = run(lock())
    assert not d.allowed
    assert d.locked == ("health",)
    assert "person has locked their health data" in d.reason


def test_named_exception_allows() -> None:
    """(3) Locked for everyone except named consumers: a named one passes, others do not."""
    assert run(lock(but=(DOCTOR,))).allowed
    assert not run(lock(but=(DOCTOR,)), client=POLICE).allowed


def test_expired_lock_no_longer_closes() -> None:
    """A lock past its expiry closes nothing; one expiring soon shortens maxAge."""
    assert run(lock(expires=0)).allowed
    d = run(lock(expires=7))
    assert not d.allowed
    assert d.max_age == 7


def test_active_consent_opens_lock() -> None:
    """(5) An ACTIVE consent for this client, purpose and categories: allow with its id."""
    d = run(lock(), candidates=(Candidate(artefact(), Status.ACTIVE),))
    assert d.allowed
    assert d.consent_id == "c-1"
    assert d.locked == ("health",)


@pytest.mark.parametrize(("cand", "why"), [
    (Candidate(artefact(), Status.REVOKED), "is REVOKED"),
    (Candidate(artefact(), Status.PAUSED), "is PAUSED"),
    (Candidate(artefact(), Status.EXPIRED), "is EXPIRED"),
    (Candidate(artefact(days=0), Status.ACTIVE), "is EXPIRED"),
    (Candidate(artefact(consumer=POLICE), Status.ACTIVE), "another consumer"),
    (Candidate(artefact(purpose="marketing"), Status.ACTIVE), "purpose 'marketing'"),
    (Candidate(artefact(categories=("tax",)), Status.ACTIVE), "does not cover health"),
    (Candidate(artefact(subject="EE49002124277"), Status.ACTIVE), "another person"),
])
def test_unusable_given_consent_denies(cand: Candidate, why: str) -> None:
    """(4) A named consent that is revoked, paused, expired or does not fit: deny, say why."""
    d = run(lock(), given=cand)
    assert not d.allowed
    assert d.consent_id is None
    assert why in d.reason


def test_consent_covers_only_locked_categories() -> None:
    """Categories that are not locked need no consent."""
    d = run(lock(), cats=("health", "population"),
            candidates=(Candidate(artefact(), Status.ACTIVE),))
    assert d.allowed
    assert d.locked == ("health",)


def test_max_age_bounded_by_consent_expiry() -> None:
    """A decision resting on a consent may not be cached past the consent's expiry."""
    a = artefact(days=0)
    a = Artefact(a.consent_id, a.subject, a.consumer, a.purpose, a.categories, a.data_life,
                 a.consent_start, NOW + timedelta(seconds=4), a.created_at)
    d = run(lock(), candidates=(Candidate(a, Status.ACTIVE),))
    assert d.allowed
    assert d.max_age == 4


@given(st.integers(min_value=0, max_value=2**32),
       st.dates(min_value=date(1800, 1, 1), max_value=date(2099, 12, 31)))
def test_generated_codes_parse_in_both_forms(seed: int, born: date) -> None:
    """Any valid EE code parses the same as EE<code> and PNOEE-<code>."""
    import random

    from sild.core.personal_code import generate

    code = generate("EE", random.Random(seed), birth_date=born).code
    assert parse_subject(f"EE{code}") == parse_subject(f"PNOEE-{code}") == f"EE{code}"
