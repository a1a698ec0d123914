"""An anchored gateway (real ledger, real database) and site keys for the embassy tests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from sild.cli import main
from sild.core.identifiers import SubsystemId
from sild.gateway.anchoring.anchorer import Anchorer, AnchoringLimits
from sild.gateway.config import AnchoringSettings
from sild.gateway.messagelog.log import MessageLog
from sild.gateway.messagelog.opmon import OpMonRecord
from sild.gateway.serverconf.store import ServerConf
from sild.store import make_engine, migrate
from sild.store.messagelog_tables import log_archives
from sild.testing.anchoring import T0, LedgerServer, gateway_folder, record

LIMITS = AnchoringLimits(gap_wait=0.0, receipt_wait=5.0)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerServer]:
    with LedgerServer(tmp_path_factory.mktemp("ledger") / "ledger") as server:
        yield server


async def append(engine: sa.Engine, first: int, count: int, per_batch: int = 10) -> None:
    """Log records ``first…`` with one operational-monitoring record per batch."""
    log = MessageLog(engine)
    await log.start()
    try:
        for i in range(first, first + count, per_batch):
            await log.append(*[record(j) for j in range(i, min(first + count, i + per_batch))],
                             OpMonRecord(security_server_type="Client",
                                         request_in_ts=1_700_000_000_000 + i, succeeded=True))
    finally:
        await log.close()


def every_index(url: str) -> set[tuple[str, str, bool]]:
    """(table, index, unique) of every index, to check a restore rebuilt them all."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            insp = sa.inspect(conn)
            return {(t, str(i["name"]), bool(i["unique"])) for t in insp.get_table_names()
                    for i in insp.get_indexes(t)}
    finally:
        engine.dispose()


def every_table(url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table (but Alembic's), for before/after comparisons."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            md = sa.MetaData()
            md.reflect(conn)
            return {t.name: sorted(tuple(map(repr, r)) for r in conn.execute(sa.select(t)))
                    for t in md.sorted_tables if not t.name.startswith("alembic")}
    finally:
        engine.dispose()


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
        conf = ServerConf(engine)
        provider = SubsystemId.parse("EE/GOV/70000001/rr")
        conf.add_service(provider, "echo", "http://127.0.0.1:9/echo")
        conf.add_local_group(provider, "auditors", "who may read")
        with engine.begin() as conn:  # one archive of the chain (sild gateway log export)
            conn.execute(log_archives.insert().values(
                created_at=T0, from_ts=T0, to_ts=T0, records=0, file_name="a-1.zip",
                sha256=b"\x01" * 32, previous_sha256=None))
        for n in range(3):
            asyncio.run(append(engine, 1 + 20 * n, 20))
            asyncio.run(anchor(engine, ledger.url))
        asyncio.run(append(engine, 61, 5))  # logged after the last round: not anchored yet
    finally:
        engine.dispose()
    return gw
