"""The registration workflow as a transition table (h11 style, STYLE.md rule 4).

A gateway owner submits a signed request (``SUBMITTED``); an administrator approves
(``APPROVED``, applied to the registry and the configuration version bumped) or
rejects it (``REJECTED``). Both end states are final.
"""

from __future__ import annotations

from enum import StrEnum

from sild.errors import InvalidStateTransition

__all__ = ["Action", "State", "next_state"]


class State(StrEnum):
    SUBMITTED = "SUBMITTED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


class Action(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


TRANSITIONS: dict[State, dict[Action, State]] = {
    State.SUBMITTED: {Action.APPROVE: State.APPROVED, Action.REJECT: State.REJECTED},
    State.APPROVED: {},
    State.REJECTED: {},
}


def next_state(current: State, action: Action) -> State:
    """The state after ``action``, or :class:`InvalidStateTransition`."""
    try:
        return TRANSITIONS[current][action]
    except KeyError:
        raise InvalidStateTransition(
            f"cannot {action.value} a request that is {current.value}",
            state=current.value,
        ) from None
