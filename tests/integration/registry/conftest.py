"""A registry on a real database (SQLite and PostgreSQL) with a test PKI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sild.testing.world import World, registry_world


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[World]:
    with registry_world(db_url, tmp_path) as w:
        yield w
