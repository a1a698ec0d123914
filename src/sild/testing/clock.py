"""Fixed and settable clocks for tests (time is an input, STYLE.md rule 8)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["FIXED_NOW", "SettableClock"]

FIXED_NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)


class SettableClock:
    """A clock the test moves by hand: ``clock()`` returns the current setting."""

    def __init__(self, now: datetime = FIXED_NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
