"""The consent service on SQLite and PostgreSQL: locks with history, the consent lifecycle,
decisions and their use counts (docs/spec/consent.md §2-§4, §6)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from sild.consent.artefact import verify_artefact
from sild.consent.model import Action, Decision, Status
from sild.consent.service import ConsentService
from sild.errors import (
    InvalidDataCategory,
    InvalidIdentifier,
    InvalidPersonalCode,
    InvalidRequest,
    InvalidStateTransition,
    NotFound,
    SignatureError,
)
from sild.store.consent_tables import artefacts, events, lock_events, locks
from sild.testing.clock import SettableClock
from sild.testing.consent import DOCTOR, OTHER_PERSON, PERSON, POLICE

PURPOSE = {"code": "treatment", "text": "family doctor's care"}


def grant(service: ConsentService, clock: SettableClock, *, consumer: str = DOCTOR,
          categories: tuple[str, ...] = ("health",), days: int = 30) -> str:
    rec = service.grant(subject=PERSON, consumer=consumer, purpose=PURPOSE,
                        categories=list(categories), expiry=clock.now + timedelta(days=days),
                        actor="the person")
    return rec.artefact.consent_id


def ask(service: ConsentService, *, client: str = DOCTOR, cats: tuple[str, ...] = ("health",),
        consent: str | None = None, purpose: str = "treatment") -> Decision:
    return service.decide(subject=PERSON, categories=cats, client=client, purpose=purpose,
                          consent=consent)


def count(service: ConsentService, table: sa.Table) -> int:
    with service.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_lock_unlock_keeps_history(service: ConsentService, clock: SettableClock) -> None:
    """Lock, change, unlock: the current state follows, every change stays in the history."""
    assert ask(service).allowed
    service.lock(PERSON, "health", actor="the person")
    assert not ask(service).allowed
    clock.advance(60)
    service.lock("PNOEE-38001085718", "health", exceptions=[DOCTOR], actor="the person")
    assert ask(service).allowed
    assert not ask(service, client=POLICE).allowed
    clock.advance(60)
    service.unlock(PERSON, "health", actor="the person")
    assert ask(service, client=POLICE).allowed
    history = service.history(PERSON)
    assert [(e["action"], e["mode"]) for e in history] == [
        ("lock", "everyone"), ("lock", "except"), ("unlock", None)]
    assert history[1]["except"] == [DOCTOR]
    assert service.locks(PERSON) == []
    assert count(service, lock_events) == 3


def test_lock_expiry(service: ConsentService, clock: SettableClock) -> None:
    """A lock with an expiry closes until then and no longer after; a past expiry is refused."""
    service.lock(PERSON, "health", expires_at=clock.now + timedelta(hours=1), actor="p")
    assert not ask(service).allowed
    clock.advance(3600)
    assert ask(service).allowed
    with pytest.raises(InvalidRequest):
        service.lock(PERSON, "tax", expires_at=clock.now, actor="p")


def test_unlock_without_lock(service: ConsentService) -> None:
    """Unlocking what is not locked: NotFound, and no history row."""
    with pytest.raises(NotFound):
        service.unlock(PERSON, "health", actor="p")
    assert count(service, lock_events) == 0


@pytest.mark.parametrize(("args", "error"), [
    (("EE38001085719", "health", []), InvalidPersonalCode),
    ((PERSON, "Health", []), InvalidDataCategory),
    ((PERSON, "health", ["EE/GOV"]), InvalidIdentifier),
])
def test_bad_lock_input_writes_nothing(service: ConsentService, args: tuple[str, str, list[str]],
                                       error: type[Exception]) -> None:
    """Invalid code, category or client id: refused before anything is written."""
    with pytest.raises(error):
        service.lock(args[0], args[1], exceptions=args[2], actor="p")
    assert count(service, locks) == count(service, lock_events) == 0


def test_consent_opens_lock_and_counts_uses(service: ConsentService,
                                            clock: SettableClock) -> None:
    """An ACTIVE consent found by the service opens the lock; each use is counted."""
    service.lock(PERSON, "health", actor="p")
    cid = grant(service, clock)
    d = ask(service)
    assert d.allowed
    assert d.consent_id == cid
    assert d.locked == ("health",)
    clock.advance(5)
    ask(service, consent=cid)
    rec = service.get(cid)
    assert rec.use_count == 2
    assert rec.last_use_at == clock.now
    assert not ask(service, client=POLICE).allowed
    assert not ask(service, purpose="marketing").allowed
    assert service.get(cid).use_count == 2


def test_signed_consent_given_by_jws(service: ConsentService, clock: SettableClock) -> None:
    """The artefact verifies with the published keys and opens the lock when named."""
    service.lock(PERSON, "health", actor="p")
    rec = service.get(grant(service, clock))
    assert rec.signed is not None
    art = verify_artefact(rec.signed, keys=service.public_keys, now=clock.now)
    assert art == rec.artefact
    d = ask(service, consent=rec.signed)
    assert d.allowed
    assert d.consent_id == art.consent_id


def test_forged_jws_is_an_error(service: ConsentService, clock: SettableClock) -> None:
    """A JWS that does not verify is refused as bad input, not judged."""
    service.lock(PERSON, "health", actor="p")
    rec = service.get(grant(service, clock))
    assert rec.signed is not None
    head, payload, sig = rec.signed.split(".")
    forged = f"{head}.{payload}.{sig[:-4]}AAAA"
    with pytest.raises(SignatureError):
        ask(service, consent=forged)
    assert service.get(rec.artefact.consent_id).use_count == 0


@pytest.mark.parametrize("action", [Action.REVOKE, Action.PAUSE])
def test_revoked_or_paused_consent_denies(service: ConsentService, clock: SettableClock,
                                          action: Action) -> None:
    """Revoked or paused: the lock holds, the reason names the consent's status."""
    service.lock(PERSON, "health", actor="p")
    rec = service.get(grant(service, clock))
    service.transition(rec.artefact.consent_id, action, actor="p")
    d = ask(service, consent=rec.signed)
    assert not d.allowed
    assert "person has locked their health data" in d.reason
    assert Status(service.get(rec.artefact.consent_id).status).value in d.reason


def test_expired_consent_denies_and_is_recorded(service: ConsentService,
                                                clock: SettableClock) -> None:
    """Past consentExpiry: deny; a later move records EXPIRED (by the clock), then refuses."""
    service.lock(PERSON, "health", actor="p")
    rec = service.get(grant(service, clock, days=1))
    clock.advance(86400)
    d = ask(service, consent=rec.signed)
    assert not d.allowed
    assert "EXPIRED" in d.reason
    assert service.get(rec.artefact.consent_id).status is Status.EXPIRED
    with pytest.raises(InvalidStateTransition):
        service.transition(rec.artefact.consent_id, Action.PAUSE, actor="p")
    with service.engine.connect() as conn:
        rows = conn.execute(sa.select(events.c.action, events.c.to_status, events.c.actor)
                            .order_by(events.c.id)).all()
    assert [tuple(r) for r in rows] == [("grant", "ACTIVE", "the person"),
                                        ("expire", "EXPIRED", "clock")]


def test_request_approve_lifecycle(service: ConsentService, clock: SettableClock) -> None:
    """PENDING (unsigned) → ACTIVE (signed) → PAUSED → ACTIVE → REVOKED, all in history."""
    rec = service.request(subject=PERSON, consumer=DOCTOR, purpose=PURPOSE,
                          categories=["health"], expiry=clock.now + timedelta(days=3))
    cid = rec.artefact.consent_id
    assert (rec.status, rec.signed) == (Status.PENDING, None)
    service.lock(PERSON, "health", actor="p")
    assert not ask(service).allowed  # PENDING opens nothing
    approved = service.transition(cid, Action.APPROVE, actor="p")
    assert approved.status is Status.ACTIVE
    assert approved.signed
    assert ask(service).allowed
    for action, status in ((Action.PAUSE, Status.PAUSED), (Action.RESUME, Status.ACTIVE),
                            (Action.REVOKE, Status.REVOKED)):
        assert service.transition(cid, action, actor="p").status is status
    for action in (Action.RESUME, Action.APPROVE, Action.PAUSE, Action.REVOKE):
        with pytest.raises(InvalidStateTransition):
            service.transition(cid, action, actor="p")
    history = [e["to"] for e in service.history(PERSON) if e["kind"] == "consent"]
    assert history == ["PENDING", "ACTIVE", "PAUSED", "ACTIVE", "REVOKED"]


def test_reject_is_final(service: ConsentService, clock: SettableClock) -> None:
    """A rejected request cannot be approved afterwards."""
    cid = service.request(subject=PERSON, consumer=DOCTOR, purpose=PURPOSE,
                          categories=["health"],
                          expiry=clock.now + timedelta(days=3)).artefact.consent_id
    service.transition(cid, Action.REJECT, actor="p")
    with pytest.raises(InvalidStateTransition):
        service.transition(cid, Action.APPROVE, actor="p")
    assert service.get(cid).signed is None


def test_consent_of_another_person(service: ConsentService, clock: SettableClock) -> None:
    """Acting on a consent through another person's path: NotFound, nothing changes."""
    cid = grant(service, clock)
    with pytest.raises(NotFound):
        service.transition(cid, Action.REVOKE, actor="x", subject=OTHER_PERSON)
    with pytest.raises(NotFound):
        service.get(cid, subject=OTHER_PERSON)
    assert service.get(cid).status is Status.ACTIVE


def test_unknown_consent_named(service: ConsentService) -> None:
    """A consent id the store does not hold: deny when locked, saying so; ids are checked."""
    service.lock(PERSON, "health", actor="p")
    d = ask(service, consent="no-such-consent")
    assert not d.allowed
    assert "does not exist" in d.reason
    with pytest.raises(InvalidRequest):
        ask(service, consent="bad id!")


def test_bad_grant_input_writes_nothing(service: ConsentService, clock: SettableClock) -> None:
    """Expiry in the past, bad purpose, bad data life: refused, no rows."""
    for kwargs in ({"expiry": clock.now}, {"purpose": {"code": ""}},
                   {"data_life": {"unit": "WEEK", "value": 1}},
                   {"categories": ["BAD"]}, {"consumer": "EE/X"}):
        args = {"subject": PERSON, "consumer": DOCTOR, "purpose": PURPOSE,
                "categories": ["health"], "expiry": clock.now + timedelta(days=1)} | kwargs
        with pytest.raises((InvalidRequest, InvalidIdentifier)):
            service.grant(actor="p", **args)  # type: ignore[arg-type]
    assert count(service, artefacts) == count(service, events) == 0


def test_racing_changes_one_wins(service: ConsentService, clock: SettableClock) -> None:
    """Approve and reject at once on one PENDING consent: exactly one wins, one history row."""
    import threading

    for _ in range(5):
        cid = service.request(subject=PERSON, consumer=DOCTOR, purpose=PURPOSE,
                              categories=["health"],
                              expiry=clock.now + timedelta(days=3)).artefact.consent_id
        barrier = threading.Barrier(2)
        results: list[str] = []

        def move(action: Action, cid: str = cid, barrier: threading.Barrier = barrier,
                 results: list[str] = results) -> None:
            barrier.wait()
            try:
                service.transition(cid, action, actor="p")
                results.append("ok")
            except InvalidStateTransition:
                results.append("refused")

        threads = [threading.Thread(target=move, args=(a,))
                   for a in (Action.APPROVE, Action.REJECT)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(results) == ["ok", "refused"]
        with service.engine.connect() as conn:
            moves = conn.execute(sa.select(sa.func.count()).select_from(events).where(
                events.c.consent_id == cid, events.c.action != "request")).scalar_one()
        assert moves == 1
