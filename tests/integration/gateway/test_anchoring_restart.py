"""Crash safety of anchoring (docs/spec/anchoring.md §3, §4.2) and bad input to the audit
(§5): a process killed mid-way resumes without anchoring a record twice or skipping one;
a malformed receipt or a wrong ledger key becomes a finding, never a traceback."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from sild.cli import main
from sild.core.note import parse_verifier_key
from sild.core.verification import TrustPolicy
from sild.gateway.anchoring.anchorer import Anchorer, AnchoringLimits, LedgerPort, _HttpLedger
from sild.gateway.anchoring.audit_store import audit_database
from sild.gateway.config import AnchoringSettings
from sild.gateway.messagelog.log import MessageLog
from sild.store import make_engine, migrate
from sild.store.anchoring_tables import anchor_records, anchor_rounds
from sild.testing.anchoring import LedgerServer, gateway_folder, record

LIMITS = AnchoringLimits(gap_wait=0.0, receipt_wait=5.0)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerServer]:
    with LedgerServer(tmp_path_factory.mktemp("ledger") / "ledger") as server:
        yield server


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    e = make_engine(db_url)
    migrate(e, "messagelog")
    migrate(e, "anchoring")
    yield e
    e.dispose()


async def _drain(engine: sa.Engine, ledger: LedgerPort | str) -> None:
    """Close every round that can be closed, then anchor all pending rounds."""
    port = ledger if isinstance(ledger, LedgerPort) else None
    url = ledger if isinstance(ledger, str) else "http://unused"
    a = Anchorer(engine, AnchoringSettings(ledger_url=url), limits=LIMITS, ledger=port)
    await a.start()
    try:
        a._stop.set()
        while await a.close_once() is not None:
            pass
        while await a.submit_once():
            pass
    finally:
        await a.stop()


def _policy(ledger: LedgerServer) -> TrustPolicy:
    return TrustPolicy(log_keys=(parse_verifier_key(ledger.vkey),))  # type: ignore[arg-type]


def _each_record_once(engine: sa.Engine) -> tuple[int, int]:
    """(rows in the log, rows with exactly one proof); equal when nothing was skipped."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT count(*) FROM message_log")).scalar()
        proven = conn.execute(sa.text(
            "SELECT count(*) FROM message_log m JOIN anchor_records a ON a.record_id = m.id"
        )).scalar()
    return int(rows or 0), int(proven or 0)


_CHILD = textwrap.dedent("""
    import asyncio, sys
    from sild.gateway.anchoring.anchorer import AnchoringLimits, Anchorer
    from sild.gateway.config import AnchoringSettings
    from sild.gateway.messagelog.log import MessageLog
    from sild.store import make_engine
    from sild.testing.anchoring import record

    async def main() -> None:
        engine = make_engine(sys.argv[1])
        log = MessageLog(engine)
        await log.start()
        a = Anchorer(engine, AnchoringSettings(ledger_url=sys.argv[2], period=0.05),
                     limits=AnchoringLimits(gap_wait=0.0, receipt_wait=1.0))
        await a.start()
        i = 0
        while True:  # killed from outside
            await log.append(*[record(j) for j in range(i, i + 5)])
            i += 5
            if i == 50:
                print("ready", flush=True)

    asyncio.run(main())
""")


_CHILD_APP = "sild-test-killed-child"


def _tagged(db_url: str) -> str:
    """The child's URL: on PostgreSQL its sessions carry a name we can look for."""
    url = sa.engine.make_url(db_url)
    if url.get_backend_name() != "postgresql":
        return db_url
    return url.update_query_dict({"application_name": _CHILD_APP}).render_as_string(
        hide_password=False)


def _until_child_sessions_end(engine: sa.Engine, timeout: float = 10) -> None:
    """Wait until PostgreSQL has ended the killed child's sessions.

    SIGKILL ends the client, not its server session: a COMMIT the child had already sent
    still lands after ``wait()`` returns. SQLite has no server; the kernel releases the
    child's locks at once, and a half-written transaction is rolled back by the journal.
    """
    if engine.dialect.name != "postgresql":
        return
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as conn:
            left = conn.execute(sa.text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = :name"
            ), {"name": _CHILD_APP}).scalar()
        if not left:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{left} session(s) of the killed child still open")
        time.sleep(0.02)


def test_killed_mid_way_resumes_without_double_or_skip(
        engine: sa.Engine, db_url: str, ledger: LedgerServer, tmp_path: Path) -> None:
    """SIGKILL while logging and anchoring; a restart anchors every row exactly once."""
    child = subprocess.Popen([sys.executable, "-c", _CHILD, _tagged(db_url), ledger.url],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert child.stdout is not None
        while (line := child.stdout.readline()).strip() != b"ready":  # past log lines
            assert line, "the child ended before it was ready"
        deadline = time.monotonic() + 20
        while True:  # let a few rounds be anchored, then kill in the middle of the work
            with engine.connect() as conn:
                done = conn.execute(sa.select(sa.func.count()).select_from(anchor_rounds)
                                    .where(anchor_rounds.c.receipt.is_not(None))).scalar()
            if (done or 0) >= 3 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        time.sleep(0.137)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        if child.stdout is not None:
            child.stdout.close()
    _until_child_sessions_end(engine)
    rows_before, proven_before = _each_record_once(engine)
    assert proven_before <= rows_before
    asyncio.run(_drain(engine, ledger.url))
    assert _each_record_once(engine) == (rows_before, rows_before)
    report = audit_database(engine, policy=_policy(ledger), at=datetime.now(UTC))
    assert report.findings == []
    assert report.pending_rounds == report.unanchored_records == 0


def test_crash_inside_a_round_leaves_nothing_behind(
        engine: sa.Engine, ledger: LedgerServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure while writing a round's proofs rolls back the round; the retry makes it."""
    asyncio.run(_append(engine, 10))
    real = anchor_records.insert

    def broken() -> object:
        raise RuntimeError("power cut")

    monkeypatch.setattr(anchor_records, "insert", broken)
    with pytest.raises(RuntimeError):
        asyncio.run(_drain(engine, ledger.url))
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(anchor_rounds)).scalar() == 0
    monkeypatch.setattr(anchor_records, "insert", real)
    asyncio.run(_drain(engine, ledger.url))
    assert _each_record_once(engine) == (10, 10)


def test_crash_after_submission_fetches_the_receipt_not_a_second_root(
        engine: sa.Engine, ledger: LedgerServer) -> None:
    """Killed between the ledger's answer and the receipt: the restart uses the stored id."""
    asyncio.run(_append(engine, 12))
    added: list[bytes] = []

    class DiesAfterAdd(LedgerPort):
        def __init__(self) -> None:
            self.inner = _HttpLedger(ledger.url, 30)

        async def add_roots(self, imprints: Sequence[bytes]) -> list[str]:
            added.extend(imprints)
            return await self.inner.add_roots(imprints)

        async def receipt(self, receipt_id: str, *, wait_s: float) -> bytes | None:
            raise SystemExit("killed")

        async def close(self) -> None:
            await self.inner.close()

    with pytest.raises(SystemExit):
        asyncio.run(_drain(engine, DiesAfterAdd()))
    with engine.connect() as conn:
        ledger_id = conn.execute(sa.select(anchor_rounds.c.ledger_id)).scalar()
    assert ledger_id is not None
    assert len(added) == 1

    class CountsAdds(DiesAfterAdd):
        async def receipt(self, receipt_id: str, *, wait_s: float) -> bytes | None:
            return await self.inner.receipt(receipt_id, wait_s=wait_s)

    asyncio.run(_drain(engine, CountsAdds()))
    assert len(added) == 1  # no second submission of the same root
    report = audit_database(engine, policy=_policy(ledger), at=datetime.now(UTC))
    assert report.findings == []
    assert report.anchored_rounds == 1


async def _append(engine: sa.Engine, n: int, first: int = 0) -> None:
    log = MessageLog(engine)
    await log.start()
    await log.append(*[record(i) for i in range(first, first + n)])
    await log.close()


def test_malformed_receipt_and_wrong_key_are_findings(
        engine: sa.Engine, db_url: str, ledger: LedgerServer, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A garbage receipt and a wrong ledger key give one line per round, exit 3."""
    asyncio.run(_append(engine, 8))
    asyncio.run(_drain(engine, ledger.url))
    asyncio.run(_append(engine, 8, first=8))
    asyncio.run(_drain(engine, ledger.url))
    gw = tmp_path / "gw"
    gateway_folder(gw, db_url, ledger.url)
    with engine.begin() as conn:
        conn.execute(anchor_rounds.update().where(anchor_rounds.c.id == 2)
                     .values(receipt=b"c2sp.org/tlog-proof@v1\nindex x\n\nnonsense"))
    assert main(["audit", "--dir", str(gw), "--ledger-key", ledger.vkey]) == 5
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("round 2: receipt: does not verify (GEN-02: malformed receipt")
    assert len(out) == 2
    other = LedgerServer(tmp_path / "other")  # a different ledger's key, same origin
    assert main(["audit", "--dir", str(gw), "--ledger-key", other.vkey]) == 5
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("round 1: receipt: does not verify (KEY-02")
    assert out[1].startswith("round 2: receipt: does not verify (GEN-02")


def test_bad_ledger_key_argument_is_one_line(
        tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A --ledger-key that is not a key is a one-line error (exit 1), no traceback."""
    gw = tmp_path / "gw"
    gateway_folder(gw, db_url)
    assert main(["audit", "--dir", str(gw), "--ledger-key", "not-a-key"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("sild: error: --ledger-key")
    assert "Traceback" not in err


def test_never_anchored_log_is_a_finding(
        tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A gateway database without anchoring tables is reported, not crashed on."""
    gw = tmp_path / "gw"
    gateway_folder(gw, db_url)
    e = make_engine(db_url)
    migrate(e, "messagelog")
    e.dispose()
    assert main(["audit", "--dir", str(gw)]) == 5
    assert "never anchored" in capsys.readouterr().out
