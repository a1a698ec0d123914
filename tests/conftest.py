"""Shared fixtures: database URLs for SQLite and (for real) PostgreSQL, a test PKI."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings

from sild.testing.clock import FIXED_NOW as NOW
from sild.testing.pki import TestPki

# Our machines are 2 cores and noisy: a per-example time limit turns load into flaky
# failures without finding anything, so property tests run without one.
settings.register_profile("sild", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("sild")

# pytest-xdist: each worker process (and what it starts) hands out its own share of the
# free ports (sild.embedded.free_port), so two workers never bind the same one.
if os.environ.get("PYTEST_XDIST_WORKER", "").startswith("gw"):
    os.environ["SILD_PORT_SHARE"] = (f"{os.environ['PYTEST_XDIST_WORKER'][2:]}/"
                                     f"{os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1')}")

PG_URL = os.environ.get("SILD_PG_URL", "")
REQUIRE_PG = os.environ.get("SILD_REQUIRE_PG") == "1"
PG_SKIP_REASON = (
    "PostgreSQL tests need SILD_PG_URL, e.g. "
    "SILD_PG_URL=postgresql://postgres@127.0.0.1:5432/test (CI sets it)"
)



def _pg_admin_url() -> str:
    url = PG_URL
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix):]
    return url


@pytest.fixture
def pg_databases() -> Iterator[Callable[[str], str]]:
    """A factory of fresh, empty PostgreSQL databases (one per name), dropped afterwards."""
    if not PG_URL:
        if REQUIRE_PG:
            pytest.fail("SILD_REQUIRE_PG=1 but SILD_PG_URL is not set")
        pytest.skip(PG_SKIP_REASON)
    admin = sa.create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    base = sa.engine.make_url(_pg_admin_url())
    made: dict[str, str] = {}

    def make(label: str) -> str:
        if label not in made:
            name = f"sild_test_{secrets.token_hex(6)}"
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
            made[label] = name
        return base.set(database=made[label]).render_as_string(hide_password=False)

    try:
        yield make
    finally:
        with admin.connect() as conn:
            for name in made.values():
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg_url(pg_databases: Callable[[str], str]) -> str:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    return pg_databases("main")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs twice: on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/test.db"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def pki(tmp_path: Path) -> TestPki:
    return TestPki.create(tmp_path / "ca", at=NOW)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], str]:
    """name → database URL; each test using this runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return lambda name: f"sqlite:///{tmp_path}/{name}.db"
    factory: Callable[[str], str] = request.getfixturevalue("pg_databases")
    return factory
