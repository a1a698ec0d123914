"""Issuance and lifecycle on a real store, SQLite and PostgreSQL (docs/spec/identity.md §4, §5)."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography import x509

from sild.core import personal_code as pc
from sild.crypto.keys import verify
from sild.errors import (
    DuplicateEntry,
    InvalidRequest,
    InvalidStateTransition,
    KeyFileError,
    NotFound,
)
from sild.identity.population import CitizenRecord, parse_citizen_row
from sild.identity.profiles import CertRole, PersonName, check_person_certificate
from sild.identity.records import IdentityState, PersonKind
from sild.identity.service import IdentityService
from sild.identity.status import CertStatus, StatusAnswer, StatusSource
from sild.identity.token import Pins, SoftToken
from sild.store.identity_tables import identities, persons
from sild.testing.clock import SettableClock

PINS = Pins("1234", "12345", "12345678")
MARI = parse_citizen_row({"country": "EE", "code": "49403136526", "given_name": "Mari",
                          "surname": "Maasikas"})


def serial(cert: x509.Certificate) -> int:
    return cert.serial_number


def test_issue_citizen(service: IdentityService) -> None:
    """A citizen gets an active identity: two certificates with her code, a token (§5.1)."""
    issued = service.issue_citizen(MARI, PINS, actor="clerk")
    ident = issued.identity
    assert ident.state is IdentityState.ACTIVE
    assert ident.person.kind is PersonKind.CITIZEN
    assert check_person_certificate(ident.auth_certificate, CertRole.AUTH) == MARI.code
    assert check_person_certificate(ident.sign_certificate, CertRole.SIGN) == MARI.code
    tok = SoftToken.open(issued.token_path)
    sig = tok.sign(pin2="12345", data=b"doc")
    verify(public_key=ident.sign_certificate.public_key(),  # type: ignore[arg-type]
           signature=sig, data=b"doc")
    ident.auth_certificate.verify_directly_issued_by(service.issuer)


def test_status_of_a_fresh_identity_is_good(service: IdentityService) -> None:
    """OCSP's status source answers GOOD for both serials of a new identity (§5.4)."""
    ident = service.issue_citizen(MARI, PINS, actor="clerk").identity
    src = service.status_source()
    assert isinstance(src, StatusSource)
    assert src.status(serial(ident.auth_certificate)) == StatusAnswer.good()
    assert src.status(serial(ident.sign_certificate)) == StatusAnswer.good()


def test_unknown_serial_is_unknown(service: IdentityService) -> None:
    """A serial this CA never issued, or nonsense, is UNKNOWN (RFC 6960 §2.2)."""
    src = service.status_source()
    for s in (12345, 0, -1, 2**200):
        assert src.status(s).status is CertStatus.UNKNOWN


def test_other_issuer_is_unknown(service: IdentityService, tmp_path: Path) -> None:
    """A status source for another CA does not vouch for this CA's serials."""
    from sild.identity.lookup import StoreStatusSource
    from sild.testing.pki import TestPki

    ident = service.issue_citizen(MARI, PINS, actor="clerk").identity
    other = TestPki.create(tmp_path / "other", at=service.clock()).ca.certificate
    src = StoreStatusSource(service.engine, other)
    assert src.status(serial(ident.auth_certificate)).status is CertStatus.UNKNOWN


def test_suspend_answers_certificate_hold_and_resume_good(
        service: IdentityService, clock: SettableClock) -> None:
    """Suspension → revoked/certificateHold at that time; resume → good again (§5.4)."""
    ident = service.issue_citizen(MARI, PINS, actor="clerk").identity
    clock.advance(60)
    service.suspend(ident.id, actor="clerk", reason="card reported lost")
    src = service.status_source()
    assert src.status(serial(ident.sign_certificate)) == StatusAnswer.revoked(
        clock.now, "certificateHold")
    clock.advance(60)
    service.resume(ident.id, actor="clerk", reason="card found")
    assert src.status(serial(ident.sign_certificate)) == StatusAnswer.good()
    assert [a for _, a, _, _ in service.history(ident.id)] == ["issue", "suspend", "resume"]


def test_revoke_records_time_and_reason(service: IdentityService, clock: SettableClock) -> None:
    """Revocation stores when and why; the status source reports both (§5.5)."""
    ident = service.issue_citizen(MARI, PINS, actor="clerk").identity
    clock.advance(3600)
    after = service.revoke(ident.id, actor="clerk", reason=x509.ReasonFlags.key_compromise,
                           note="token copied")
    assert after.state is IdentityState.REVOKED
    assert after.revoked_at == clock.now
    assert service.status_source().status(serial(ident.auth_certificate)) == \
        StatusAnswer.revoked(clock.now, "keyCompromise")
    assert service.history(ident.id)[-1][1:] == ("revoke", "clerk", "keyCompromise: token copied")


def test_revoked_is_final(service: IdentityService) -> None:
    """Suspend, resume or revoke of a revoked identity is an InvalidStateTransition."""
    ident = service.issue_citizen(MARI, PINS, actor="clerk").identity
    service.revoke(ident.id, actor="clerk", reason=x509.ReasonFlags.unspecified)
    with pytest.raises(InvalidStateTransition, match="is revoked; cannot suspend"):
        service.suspend(ident.id, actor="clerk", reason="x")
    with pytest.raises(InvalidStateTransition, match="cannot resume"):
        service.resume(ident.id, actor="clerk", reason="x")
    with pytest.raises(InvalidStateTransition, match="cannot revoke"):
        service.revoke(ident.id, actor="clerk", reason=x509.ReasonFlags.unspecified)


def test_resume_an_active_identity_is_refused(service: IdentityService) -> None:
    """Only a suspended identity can be resumed."""
    ident = service.issue_citizen(MARI, PINS, actor="clerk").identity
    with pytest.raises(InvalidStateTransition, match="is active; cannot resume"):
        service.resume(ident.id, actor="clerk", reason="x")


def test_certificate_hold_is_not_a_revocation_reason(service: IdentityService) -> None:
    """certificateHold is what suspension records; revoke refuses it."""
    ident = service.issue_citizen(MARI, PINS, actor="clerk").identity
    with pytest.raises(InvalidRequest, match="not a revocation reason"):
        service.revoke(ident.id, actor="clerk", reason=x509.ReasonFlags.certificate_hold)


def test_unknown_identity(service: IdentityService) -> None:
    """Steps on an id that does not exist raise NotFound naming it."""
    with pytest.raises(NotFound, match="no identity 999"):
        service.suspend(999, actor="clerk", reason="x")
    with pytest.raises(NotFound):
        service.get(999)


def test_renew_supersedes(service: IdentityService, clock: SettableClock) -> None:
    """Renewal issues new keys and certificates and revokes the old as superseded (§5.6)."""
    old = service.issue_citizen(MARI, PINS, actor="clerk").identity
    clock.advance(10)
    new = service.renew(old.id, Pins("4321", "54321", "87654321"), actor="clerk").identity
    assert new.replaces_id == old.id
    assert new.state is IdentityState.ACTIVE
    assert new.auth_certificate.public_key() != old.auth_certificate.public_key()
    assert service.get(old.id).state is IdentityState.REVOKED
    assert service.status_source().status(serial(old.auth_certificate)).reason == "superseded"
    with pytest.raises(InvalidStateTransition, match="already renewed"):
        service.renew(old.id, PINS, actor="clerk")


def test_a_live_identity_blocks_a_second_issue(service: IdentityService) -> None:
    """A citizen who holds a live identity is renewed, not issued a second one."""
    service.issue_citizen(MARI, PINS, actor="clerk")
    with pytest.raises(DuplicateEntry, match="renew it"):
        service.issue_citizen(MARI, PINS, actor="clerk")


def test_same_code_other_name_is_refused(service: IdentityService) -> None:
    """A register row whose code is known under another name is refused, not merged."""
    service.issue_citizen(MARI, PINS, actor="clerk")
    other = CitizenRecord(MARI.code, PersonName.parse("Kati", "Karu"))
    with pytest.raises(InvalidRequest, match="registered as MARI MAASIKAS"):
        service.issue_citizen(other, PINS, actor="clerk")


def test_batch_is_all_or_nothing(service: IdentityService) -> None:
    """If one citizen in a batch fails, no person, identity or token of the batch remains."""
    rng = random.Random(3)
    good = [CitizenRecord(pc.generate("EE", rng), PersonName.parse("A", f"B{i}"))
            for i in range(3)]
    service.issue_citizen(good[2], PINS, actor="clerk")  # makes the third a duplicate
    with pytest.raises(DuplicateEntry):
        service.issue_citizens(good, lambda _r: PINS, actor="clerk")
    with service.engine.connect() as conn:
        for table in (persons, identities):
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 1
    assert sorted(p.name for p in service.tokens_dir.glob("*.token")) == ["1.token"]


def test_pickup_hands_over_the_token_once(service: IdentityService, tmp_path: Path) -> None:
    """Pickup writes the token to the holder's file and deletes our copy (§5.3)."""
    issued = service.issue_citizen(MARI, PINS, actor="clerk")
    out = tmp_path / "mari.token"
    service.pickup(issued.identity.id, out, actor="clerk")
    assert not issued.token_path.exists()
    assert SoftToken.open(out).certificate("auth") == issued.identity.auth_certificate
    assert service.get(issued.identity.id).picked_up_at is not None
    with pytest.raises(InvalidStateTransition, match="already picked up"):
        service.pickup(issued.identity.id, tmp_path / "again.token", actor="clerk")


def test_pickup_never_overwrites(service: IdentityService, tmp_path: Path) -> None:
    """An existing output file is refused and the identity stays not picked up."""
    issued = service.issue_citizen(MARI, PINS, actor="clerk")
    out = tmp_path / "exists.token"
    out.write_text("mine")
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        service.pickup(issued.identity.id, out, actor="clerk")
    assert out.read_text() == "mine"
    assert service.get(issued.identity.id).picked_up_at is None
    assert issued.token_path.exists()


def test_expire_due(service: IdentityService, clock: SettableClock) -> None:
    """Identities past not_after become expired; OCSP still reports them by revocation data."""
    ident = service.issue_citizen(MARI, PINS, actor="clerk").identity
    clock.now = ident.not_after + dt.timedelta(seconds=1)
    assert service.expire_due() == [ident.id]
    assert service.get(ident.id).state is IdentityState.EXPIRED
    assert service.expire_due() == []


def test_list_by_state_and_code(service: IdentityService) -> None:
    """Listing filters by state and by personal code."""
    a = service.issue_citizen(MARI, PINS, actor="clerk").identity
    b_rec = CitizenRecord(pc.parse("EE", "38001085718"), PersonName.parse("Jaak", "Joeorg"))
    b = service.issue_citizen(b_rec, PINS, actor="clerk").identity
    service.suspend(b.id, actor="clerk", reason="x")
    assert [i.id for i in service.list_identities()] == [a.id, b.id]
    assert [i.id for i in service.list_identities(state=IdentityState.SUSPENDED)] == [b.id]
    assert [i.id for i in service.list_identities(code=MARI.code)] == [a.id]


def test_malformed_actor_and_reason(service: IdentityService) -> None:
    """Empty or control-character actor names and empty reasons are refused."""
    ident = service.issue_citizen(MARI, PINS, actor="clerk").identity
    with pytest.raises(InvalidRequest, match="actor"):
        service.suspend(ident.id, actor="\x00", reason="x")
    with pytest.raises(InvalidRequest, match="reason"):
        service.suspend(ident.id, actor="clerk", reason="  ")
    assert service.get(ident.id).state is IdentityState.ACTIVE


@pytest.mark.parametrize("bad_id", [0, -1, 2**63, 2**80])
def test_out_of_range_ids_are_not_found(service: IdentityService, bad_id: int) -> None:
    """Ids outside the store's INTEGER range are NotFound, not a driver overflow."""
    with pytest.raises(NotFound):
        service.get(bad_id)
    with pytest.raises(NotFound):
        service.suspend(bad_id, actor="clerk", reason="x")


def test_status_function(service: IdentityService) -> None:
    """lookup.status(engine, issuer, serial) answers like the bound source."""
    from sild.identity.lookup import status

    ident = service.issue_citizen(MARI, PINS, actor="clerk").identity
    service.suspend(ident.id, actor="clerk", reason="x")
    answer = status(service.engine, service.issuer, ident.auth_certificate.serial_number)
    assert (answer.status, answer.reason) == (CertStatus.REVOKED, "certificateHold")


def test_racing_operators_one_wins(service: IdentityService) -> None:
    """Two threads revoking one identity at once: one succeeds, the other gets a clear
    InvalidStateTransition (conditional UPDATE), and one revoke event is recorded."""
    import threading

    from sild.errors import SildError

    ident = service.issue_citizen(MARI, PINS, actor="clerk").identity
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def revoke(who: str) -> None:
        barrier.wait()
        try:
            service.revoke(ident.id, actor=who, reason=x509.ReasonFlags.key_compromise)
            outcomes.append("ok")
        except SildError as e:
            outcomes.append(type(e).__name__)

    threads = [threading.Thread(target=revoke, args=(f"clerk{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["InvalidStateTransition", "ok"]
    assert [a for _, a, _, _ in service.history(ident.id)].count("revoke") == 1
