"""A generated registers database (seed 11, small) served over real HTTP, on SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sild.registers.app import create_registers_app
from sild.registers.generate import Dataset, generate, write
from sild.store import make_engine, migrate
from sild.testing.servers import serve_asgi

SEED = 11


@pytest.fixture
def data() -> Dataset:
    return generate(seed=SEED, size="small")


@pytest.fixture
def served(db_url: str, data: Dataset) -> Iterator[tuple[str, Any]]:
    """(base URL, engine) of the registers app on a freshly generated database."""
    engine = make_engine(db_url)
    migrate(engine, "registers")
    write(engine, data)
    with serve_asgi(create_registers_app(engine)) as url:
        yield url, engine
    engine.dispose()
