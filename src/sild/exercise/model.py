"""What one attack found, and the drill's verdict."""

from __future__ import annotations

import enum
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sild.exercise.target import Target

__all__ = ["Attack", "Outcome", "Result", "error_code", "error_text", "exit_code"]


class Outcome(enum.StrEnum):
    STOPPED = "stopped"  # refused before it had any effect
    DETECTED = "detected"  # it had an effect, and a check found it
    UNDETECTED = "undetected"  # it worked and nothing noticed: the drill fails
    SKIPPED = "skipped"  # not applicable to this network (reason in the evidence)


@dataclass(frozen=True)
class Result:
    attack: str  # short name, e.g. "peer.replay"
    family: str
    outcome: Outcome
    by: str  # what stopped or detected it
    evidence: str  # the error code, the audit finding, …

    def as_json(self) -> dict[str, str]:
        return {"attack": self.attack, "family": self.family, "outcome": str(self.outcome),
                "by": self.by, "evidence": self.evidence}


@dataclass(frozen=True)
class Attack:
    name: str
    family: str
    description: str
    run: Callable[[Target], Awaitable[Result]]

    def result(self, outcome: Outcome, by: str, evidence: str) -> Result:
        return Result(self.name, self.family, outcome, by, evidence)


def exit_code(results: Iterable[Result]) -> int:
    """5 (FAILED, sild/cli/_exit.py) when any attack succeeded undetected, else 0."""
    return 5 if any(r.outcome is Outcome.UNDETECTED for r in results) else 0


def _field(body: bytes, name: str) -> str:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return ""
    value = data.get(name) if isinstance(data, dict) else None
    return value if isinstance(value, str) else ""


def error_code(body: bytes) -> str:
    """The X-Road error ``type`` of a JSON error answer, or "" when it is not one."""
    return _field(body, "type")


def error_text(status: int, body: bytes) -> str:
    """``HTTP 400 Client.X: message`` (the message cut short) as evidence."""
    code, message = error_code(body), _field(body, "message")
    text = f"HTTP {status} {code}".rstrip()
    return f"{text}: {message[:140]}" if message else text
