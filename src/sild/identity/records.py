"""Identity records and their state machines (docs/spec/identity.md §4, §5). Pure.

Identity (one token: an authentication and a signing certificate)::

    active ──suspend──▶ suspended ──resume──▶ active
      │                    │
      ├──revoke──▶ revoked ◀┘ (final)
      └──expire──▶ expired (final; also from suspended)

e-Residency application::

    submitted ──check──▶ checked ──approve──▶ approved ──issue──▶ issued ──pickup──▶ picked-up
        │                   │
        └──reject───────────┴──▶ rejected (final)

A step the current state does not allow raises :class:`InvalidStateTransition`
naming the state and the step.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from cryptography import x509

from sild.core.personal_code import PersonalCode
from sild.errors import InvalidStateTransition

__all__ = [
    "REVOCATION_REASONS",
    "Application",
    "ApplicationState",
    "CheckResult",
    "Identity",
    "IdentityState",
    "OfficerRole",
    "Person",
    "PersonKind",
    "application_step",
    "identity_step",
]


class IdentityState(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    EXPIRED = "expired"


class ApplicationState(enum.StrEnum):
    SUBMITTED = "submitted"
    CHECKED = "checked"
    APPROVED = "approved"
    REJECTED = "rejected"
    ISSUED = "issued"
    PICKED_UP = "picked-up"


class PersonKind(enum.StrEnum):
    CITIZEN = "citizen"
    E_RESIDENT = "e-resident"


class OfficerRole(enum.StrEnum):
    POLICE = "police"  # runs the background check
    REGISTRAR = "registrar"  # decides


class CheckResult(enum.StrEnum):
    CLEAR = "clear"
    FLAGGED = "flagged"


# RFC 5280 §5.3.1 reasons an operator may give for a revocation (certificateHold is
# what suspension records; removeFromCRL is not a revocation).
REVOCATION_REASONS = (
    x509.ReasonFlags.unspecified,
    x509.ReasonFlags.key_compromise,
    x509.ReasonFlags.affiliation_changed,
    x509.ReasonFlags.superseded,
    x509.ReasonFlags.cessation_of_operation,
    x509.ReasonFlags.privilege_withdrawn,
)

_S = IdentityState
_IDENTITY_STEPS: dict[str, dict[IdentityState, IdentityState]] = {
    "suspend": {_S.ACTIVE: _S.SUSPENDED},
    "resume": {_S.SUSPENDED: _S.ACTIVE},
    "revoke": {_S.ACTIVE: _S.REVOKED, _S.SUSPENDED: _S.REVOKED},
    "expire": {_S.ACTIVE: _S.EXPIRED, _S.SUSPENDED: _S.EXPIRED},
}

_A = ApplicationState
_APPLICATION_STEPS: dict[str, dict[ApplicationState, ApplicationState]] = {
    "check": {_A.SUBMITTED: _A.CHECKED},
    "approve": {_A.CHECKED: _A.APPROVED},
    "reject": {_A.SUBMITTED: _A.REJECTED, _A.CHECKED: _A.REJECTED},
    "issue": {_A.APPROVED: _A.ISSUED},
    "pickup": {_A.ISSUED: _A.PICKED_UP},
}


def identity_step(state: IdentityState, step: str, *, identity_id: int) -> IdentityState:
    """The state after ``step``, or :class:`InvalidStateTransition`."""
    after = _IDENTITY_STEPS[step].get(state)
    if after is None:
        raise InvalidStateTransition(
            f"identity {identity_id} is {state.value}; cannot {step} it",
            identity_id=identity_id, state=state.value, step=step,
        )
    return after


def application_step(state: ApplicationState, step: str, *,
                     application_id: int) -> ApplicationState:
    """The state after ``step``, or :class:`InvalidStateTransition`."""
    after = _APPLICATION_STEPS[step].get(state)
    if after is None:
        needs = [s.value for s in _APPLICATION_STEPS[step]]
        raise InvalidStateTransition(
            f"application {application_id} is {state.value}; {step} needs it "
            f"{' or '.join(needs)}",
            application_id=application_id, state=state.value, step=step,
        )
    return after


@dataclass(frozen=True, slots=True)
class Person:
    id: int
    code: PersonalCode
    given_name: str
    surname: str
    kind: PersonKind
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Identity:
    id: int
    person: Person
    state: IdentityState
    key_type: str
    auth_serial: str
    sign_serial: str
    auth_certificate: x509.Certificate
    sign_certificate: x509.Certificate
    issued_at: dt.datetime
    not_after: dt.datetime
    picked_up_at: dt.datetime | None
    state_changed_at: dt.datetime
    revoked_at: dt.datetime | None
    revocation_reason: str | None
    replaces_id: int | None


@dataclass(frozen=True, slots=True)
class Application:
    id: int
    state: ApplicationState
    citizenship: str
    given_name: str
    surname: str
    birth_date: dt.date
    sex: str
    document_photo_sha256: str
    reason: str
    submitted_at: dt.datetime
    checked_by: str | None
    check_result: CheckResult | None
    check_note: str | None
    decided_by: str | None
    decision: str | None
    decision_reason: str | None
    person_id: int | None
    identity_id: int | None
