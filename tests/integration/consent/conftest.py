"""A consent service on a real store (SQLite and PostgreSQL) with a settable clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sild.consent.service import ConsentService
from sild.store import make_engine, migrate
from sild.testing.clock import FIXED_NOW, SettableClock
from sild.testing.consent import signing_key


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(FIXED_NOW)


@pytest.fixture
def service(db_url: str, clock: SettableClock) -> Iterator[ConsentService]:
    engine = make_engine(db_url)
    migrate(engine, "consent")
    yield ConsentService(engine, key=signing_key(), clock=clock)
    engine.dispose()
