"""The wall clock, read only at the edges and injected everywhere else (STYLE.md rule 8).

``sild.core`` never reads a clock: its functions take ``at=``. A gateway, the
registry and the ledger each hold one :data:`Clock` and read it once per step they
time; tests pass a fixed or settable clock (:mod:`sild.testing.clock`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["Clock", "precise_now", "utc_now"]

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time in UTC, truncated to whole seconds (signed documents' unit)."""
    return datetime.now(UTC).replace(microsecond=0)


def precise_now() -> datetime:
    """The current time in UTC with microseconds (log and monitoring timestamps)."""
    return datetime.now(UTC)
