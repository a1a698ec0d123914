"""An anchored gateway (real ledger, real database) and site keys for the embassy tests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from sild.cli import main
from sild.gateway.anchoring.anchorer import Anchorer, AnchoringLimits
from sild.gateway.config import AnchoringSettings
from sild.gateway.messagelog.log import MessageLog
from sild.store import make_engine, migrate
from sild.testing.anchoring import LedgerServer, gateway_folder, record

LIMITS = AnchoringLimits(gap_wait=0.0, receipt_wait=5.0)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerServer]:
    with LedgerServer(tmp_path_factory.mktemp("ledger") / "ledger") as server:
        yield server


async def append(engine: sa.Engine, first: int, count: int, per_batch: int = 10) -> None:
    log = MessageLog(engine)
    await log.start()
    try:
        for i in range(first, first + count, per_batch):
            await log.append(*[record(j) for j in range(i, min(first + count, i + per_batch))])
    finally:
        await log.close()


async def anchor(engine: sa.Engine, url: str) -> None:
    a = Anchorer(engine, AnchoringSettings(ledger_url=url), limits=LIMITS)
    await a.start()
    try:
        a._stop.set()  # driven by hand, no background timing
        while await a.close_once() is not None:
            pass
        while await a.submit_once():
            pass
    finally:
        await a.stop()


@dataclass
class Site:
    """Two sites' keys (home makes snapshots, embassy keeps them), a site folder."""

    root: Path
    home_key: Path
    home_pub: Path
    other_key: Path
    other_pub: Path
    folder: Path
    ledger_key: Path


@pytest.fixture
def site(tmp_path: Path, ledger: LedgerServer) -> Site:
    keys = tmp_path / "keys"
    keys.mkdir()
    assert main(["embassy", "keygen", "--name", "home", "--out", str(keys)]) == 0
    assert main(["embassy", "keygen", "--name", "other", "--out", str(keys)]) == 0
    vkey = tmp_path / "ledger.vkey"
    vkey.write_text(ledger.vkey + "\n")
    return Site(tmp_path, keys / "home.key", keys / "home.pub", keys / "other.key",
                keys / "other.pub", tmp_path / "embassy", vkey)


@pytest.fixture
def gateway(tmp_path: Path, db_url: str, ledger: LedgerServer) -> Path:
    """A gateway folder whose database holds 60 rows in 3 anchored rounds + 5 newer rows."""
    gw = tmp_path / "gw"
    gateway_folder(gw, db_url, ledger.url)
    (gw / "keys").mkdir()
    secret = gw / "keys" / "auth.key"
    secret.write_text("not a real key\n")
    secret.chmod(0o600)
    engine = make_engine(db_url)
    migrate(engine, "messagelog")
    migrate(engine, "serverconf")
    migrate(engine, "anchoring")
    try:
        for n in range(3):
            asyncio.run(append(engine, 1 + 20 * n, 20))
            asyncio.run(anchor(engine, ledger.url))
        asyncio.run(append(engine, 61, 5))  # logged after the last round: not anchored yet
    finally:
        engine.dispose()
    return gw
