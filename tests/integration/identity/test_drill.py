"""The mass suspension and reissue drill (docs/spec/identity.md §6)."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from sild.core import personal_code as pc
from sild.crypto.keys import KeyType
from sild.errors import InvalidRequest
from sild.identity.drill import (
    fingerprint_prefix,
    issued_between,
    key_type_is,
    reissue,
    suspend_matching,
)
from sild.identity.population import CitizenRecord
from sild.identity.profiles import PersonName
from sild.identity.records import IdentityState
from sild.identity.service import IdentityService
from sild.identity.status import CertStatus
from sild.identity.token import Pins
from sild.testing.clock import SettableClock

PINS = Pins("1234", "12345", "12345678")


def citizens(n: int, seed: int) -> list[CitizenRecord]:
    rng = random.Random(seed)
    return [CitizenRecord(pc.generate("EE", rng), PersonName.parse("Test", f"Person{seed}x{i}"))
            for i in range(n)]


def populate(service: IdentityService) -> tuple[list[int], list[int]]:
    """4 P-256 identities and 3 Ed25519 ones."""
    p256 = [i.identity.id for i in service.issue_citizens(citizens(4, 1), lambda _: PINS,
                                                         actor="clerk")]
    service.key_type = KeyType.ED25519
    ed = [i.identity.id for i in service.issue_citizens(citizens(3, 2), lambda _: PINS,
                                                       actor="clerk")]
    service.key_type = KeyType.P256
    return p256, ed


def test_suspends_exactly_the_matching_keys(service: IdentityService) -> None:
    """Every active identity with a matching key is suspended, and no other (§6 step 2)."""
    p256, ed = populate(service)
    result = suspend_matching(service, key_type_is("p256"), actor="drill", reason="ROCA-like")
    assert sorted(result.suspended) == p256
    assert result.scanned == 7
    for i in p256:
        assert service.get(i).state is IdentityState.SUSPENDED
        answer = service.status_source().status(service.get(i).sign_certificate.serial_number)
        assert (answer.status, answer.reason) == (CertStatus.REVOKED, "certificateHold")
    for i in ed:
        assert service.get(i).state is IdentityState.ACTIVE
    assert "drill: key type p256" in service.history(p256[0])[-1][3]


def test_rerun_is_idempotent(service: IdentityService) -> None:
    """A second run finds nothing more to suspend (an interrupted drill can be rerun)."""
    populate(service)
    suspend_matching(service, key_type_is("p256"), actor="drill", reason="x", batch=2)
    again = suspend_matching(service, key_type_is("p256"), actor="drill", reason="x")
    assert again.suspended == []
    assert again.scanned == 3


def test_revoked_identities_are_left_alone(service: IdentityService) -> None:
    """Only active identities are suspended; a revoked one keeps its revocation."""
    from cryptography import x509

    p256, _ = populate(service)
    service.revoke(p256[0], actor="clerk", reason=x509.ReasonFlags.key_compromise)
    result = suspend_matching(service, key_type_is("p256"), actor="drill", reason="x")
    assert sorted(result.suspended) == p256[1:]
    assert service.get(p256[0]).revocation_reason == "keyCompromise"


def test_fingerprint_predicate(service: IdentityService) -> None:
    """A fingerprint predicate picks the identity whose key hash has that prefix."""
    p256, _ = populate(service)
    from sild.identity._common import spki_sha256

    target = service.get(p256[2])
    _, fp = spki_sha256(target.sign_certificate.public_key())
    result = suspend_matching(service, fingerprint_prefix(fp[:16]), actor="drill", reason="x")
    assert result.suspended == [target.id]


def test_issuance_window_predicate(service: IdentityService, clock: SettableClock) -> None:
    """A window predicate picks identities issued inside it (a chip batch)."""
    early = service.issue_citizens(citizens(2, 5), lambda _: PINS, actor="clerk")
    clock.advance(86400 * 10)
    service.issue_citizens(citizens(2, 6), lambda _: PINS, actor="clerk")
    start = early[0].identity.issued_at
    pred = issued_between(start, start + dt.timedelta(days=1)) & key_type_is("p256")
    result = suspend_matching(service, pred, actor="drill", reason="x")
    assert sorted(result.suspended) == sorted(i.identity.id for i in early)


def test_reissue_gives_new_keys_and_supersedes(service: IdentityService) -> None:
    """Step 3: each suspended identity is renewed; the suspended one becomes revoked."""
    p256, ed = populate(service)
    result = suspend_matching(service, key_type_is("p256"), actor="drill", reason="x")
    assert sorted(result.suspended) == p256
    new = reissue(service, result.suspended, lambda _i: PINS, actor="drill")
    assert [n.identity.replaces_id for n in new] == result.suspended
    for n in new:
        assert n.identity.state is IdentityState.ACTIVE
        assert service.get(n.identity.replaces_id or 0).state is IdentityState.REVOKED
    assert sorted(i.id for i in service.list_identities(state=IdentityState.ACTIVE)) == sorted(
        [n.identity.id for n in new] + ed)


@pytest.mark.parametrize(("make", "arg"), [(key_type_is, "rsa2048"), (fingerprint_prefix, "xyz"),
                                          (fingerprint_prefix, "")])
def test_bad_predicates(make: object, arg: str) -> None:
    """Unknown key types and non-hex prefixes are refused before anything runs."""
    with pytest.raises(InvalidRequest):
        make(arg)  # type: ignore[operator]


def test_bad_window() -> None:
    """A window whose start is not before its end is refused."""
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with pytest.raises(InvalidRequest):
        issued_between(now, now)
