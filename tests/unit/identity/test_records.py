"""Identity and application state machines (docs/spec/identity.md §4, §5.2)."""

from __future__ import annotations

import pytest

from sild.errors import InvalidStateTransition
from sild.identity.records import (
    ApplicationState,
    IdentityState,
    application_step,
    identity_step,
)

S = IdentityState
A = ApplicationState

IDENTITY_ALLOWED = {
    (S.ACTIVE, "suspend"): S.SUSPENDED, (S.SUSPENDED, "resume"): S.ACTIVE,
    (S.ACTIVE, "revoke"): S.REVOKED, (S.SUSPENDED, "revoke"): S.REVOKED,
    (S.ACTIVE, "expire"): S.EXPIRED, (S.SUSPENDED, "expire"): S.EXPIRED,
}
APPLICATION_ALLOWED = {
    (A.SUBMITTED, "check"): A.CHECKED, (A.CHECKED, "approve"): A.APPROVED,
    (A.SUBMITTED, "reject"): A.REJECTED, (A.CHECKED, "reject"): A.REJECTED,
    (A.APPROVED, "issue"): A.ISSUED, (A.ISSUED, "pickup"): A.PICKED_UP,
}


@pytest.mark.parametrize("state", list(S))
@pytest.mark.parametrize("step", ["suspend", "resume", "revoke", "expire"])
def test_identity_transitions_are_exactly_the_table(state: IdentityState, step: str) -> None:
    """Every (state, step) pair either moves as §4 says or raises InvalidStateTransition."""
    expected = IDENTITY_ALLOWED.get((state, step))
    if expected is None:
        with pytest.raises(InvalidStateTransition, match=f"is {state.value}; cannot {step}"):
            identity_step(state, step, identity_id=7)
    else:
        assert identity_step(state, step, identity_id=7) is expected


@pytest.mark.parametrize("state", list(A))
@pytest.mark.parametrize("step", ["check", "approve", "reject", "issue", "pickup"])
def test_application_transitions_are_exactly_the_table(state: ApplicationState,
                                                       step: str) -> None:
    """Every (state, step) pair either moves as §5.2 says or raises naming the needed state."""
    expected = APPLICATION_ALLOWED.get((state, step))
    if expected is None:
        with pytest.raises(InvalidStateTransition, match=f"{step} needs it"):
            application_step(state, step, application_id=3)
    else:
        assert application_step(state, step, application_id=3) is expected


def test_final_states_have_no_way_out() -> None:
    """Revoked, expired, rejected and picked-up admit no step."""
    for s in (S.REVOKED, S.EXPIRED):
        assert not any(k[0] is s for k in IDENTITY_ALLOWED)
    for a in (A.REJECTED, A.PICKED_UP):
        assert not any(k[0] is a for k in APPLICATION_ALLOWED)


def test_error_is_a_409_with_its_code() -> None:
    """InvalidStateTransition maps to Client.InvalidState, HTTP 409."""
    with pytest.raises(InvalidStateTransition) as e:
        identity_step(S.REVOKED, "resume", identity_id=1)
    assert (e.value.xroad_code, e.value.http_status) == ("Client.InvalidState", 409)
