"""One live network for the fuzz suite (issue 12): registry, two gateways with their
admin APIs, a ledger with a submitter key, a witness — real servers on loopback.

What every fuzz test asserts about every answer (:func:`check_answer`): no traceback,
no hang (each call has a timeout), and no 5xx that is not a protocol error — an X-Road
error body whose code is not ``Server.InternalError`` (X-Road answers ``Server.*``
codes with 500 by design; an unhandled exception is ``Server.InternalError``).

Budget: each test ≤ ~60 s, the folder ≤ 3 min on 2 cores (``max_examples`` below).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from sild.core.identifiers import MemberId
from sild.localnet import GatewaySpec, LocalNet
from sild.testing.netthread import NetThread

PROVIDER = GatewaySpec(MemberId("EE", "GOV", "70000001"), "Register", "gw1", ("rr",))
CONSUMER = GatewaySpec(MemberId("EE", "COM", "10000001"), "Clinic", "gw2", ("his",))




@dataclass(frozen=True)
class World:
    registry_url: str
    registry_token: str
    admin_url: str
    admin_token: str
    ledger_url: str
    ledger_credential: str
    ledger_dir: Path
    backend: str  # "sqlite" or "postgres"


# Package scope, not session (tests/fuzz has an __init__.py for it: without one a folder
# is no package and "package" means the session): a worker goes on to other folders
# after this one, and a session-long network kept logging its configuration refreshes
# into their captured stderr (the leaked "globalconf accepted" lines that failed the
# one-line CLI checks in CI).
@pytest.fixture(scope="package")
def session_pg() -> Iterator[Callable[[str], str]]:
    """name → a fresh PostgreSQL database for this folder's tests, dropped after them."""
    url = os.environ.get("SILD_PG_URL", "")
    if not url:
        if os.environ.get("SILD_REQUIRE_PG") == "1":
            pytest.fail("SILD_REQUIRE_PG=1 but SILD_PG_URL is not set")
        pytest.skip("PostgreSQL tests need SILD_PG_URL (CI sets it)")
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix):]
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    made: dict[str, str] = {}

    def make(label: str) -> str:
        if label not in made:
            made[label] = f"sild_test_{secrets.token_hex(6)}"
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{made[label]}"'))
        return sa.engine.make_url(url).set(database=made[label]).render_as_string(
            hide_password=False)

    try:
        yield make
    finally:
        with admin.connect() as conn:
            for name in made.values():
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="package",
                params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The network on SQLite, then on PostgreSQL (registry, gateways and ledger)."""
    root = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    database_url = request.getfixturevalue("session_pg") if request.param == "postgres" \
        else None
    net = LocalNet.create(root / "net", [PROVIDER, CONSUMER], instance_id="EE", ledger=True,
                          database_url=database_url)
    with NetThread(net):
        gw = net.gateway_settings[PROVIDER.server]
        yield World(
            registry_url=net.registry_url,
            registry_token=net.instance.admin_token(),
            admin_url=f"http://{gw.admin_listen}",
            admin_token=LocalNet.admin_token(gw),
            ledger_url=net.ledger_url,
            ledger_credential=Path(gw.anchoring.credential).read_text().strip(),
            ledger_dir=net.root / "ledger",
            backend=request.param,
        )
