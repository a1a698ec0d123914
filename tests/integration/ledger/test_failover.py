"""One writer, standbys that take over (docs/spec/ledger.md §3.4), with real processes.

Each node is its own `sild ledger serve` process with its own folder (same key and
settings) on one database: PostgreSQL (advisory lock) or a shared SQLite file (lock file).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from sild.cli import main
from sild.core.calendar import CalendarRecord
from sild.core.checkpoint import parse_checkpoint
from sild.core.imprint import Imprint
from sild.core.note import parse_note, parse_verifier_key
from sild.core.receipt import extend_receipt, parse_receipt
from sild.core.tiles import TILE_WIDTH
from sild.core.verification import Status, TrustPolicy, verify_receipt
from sild.errors import ConfigurationError, ServiceUnavailable
from sild.ledger.client import LedgerClient
from sild.ledger.home import init_ledger, open_ledger
from sild.ledger.service import NotWriter
from sild.ledger.settings import LedgerSettings
from sild.ledger.submitters import SUBMITTERS_FILE, add_key
from sild.ledger.tilestore import TileStore
from sild.store import make_engine
from sild.store.ledger_tables import ledger_rounds
from sild.testing.servers import free_port

PERIOD_MS = 100


def _health(url: str) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=1) as r:
            out: dict[str, object] = json.loads(r.read())
            return out
    except (OSError, urllib.error.URLError):
        return None


class Node:
    """One `sild ledger serve` process."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.url = f"http://127.0.0.1:{free_port()}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sild.cli", "ledger", "serve", "--dir", str(folder),
             "--listen", self.url.removeprefix("http://")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self.wait_for(lambda h: True)

    def wait_for(self, ok: Callable[[dict[str, object]], bool], timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while True:
            h = _health(self.url)
            if h is not None and ok(h):
                return
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"{self.folder.name}: health {h}, exit {self.proc.poll()}")
            time.sleep(0.05)

    def role(self) -> object:
        h = _health(self.url)
        return None if h is None else h["role"]

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(10)


@pytest.fixture
def nodes(tmp_path: Path, db_url: str) -> Iterator[Callable[[str], Path]]:
    """``name -> folder``: ledger folders sharing one key, settings and database."""
    first = tmp_path / "a"
    init_ledger(first, origin="ledger.test/ha", period_ms=PERIOD_MS, database_url=db_url,
                publication_every=10)
    open_ledger(first).close()
    _CREDENTIAL[0] = add_key(first, "client")

    def make(name: str) -> Path:
        folder = tmp_path / name
        if not folder.exists():
            folder.mkdir()
            for f in ("ledger.json", "ledger.key", "ledger.vkey", SUBMITTERS_FILE):
                shutil.copy2(first / f, folder / f)
            (folder / "tiles").mkdir()
        return folder

    return make


def _imprint(data: bytes) -> bytes:
    return Imprint.of(data, at=datetime.now(UTC)).to_bytes()


_CREDENTIAL = [""]  # the nodes' one submitter key (each node's folder holds a copy)


async def _submit(url: str, docs: list[bytes]) -> list[bytes]:
    async with LedgerClient(url, credential=_CREDENTIAL[0]) as c:
        return await c.submit([_imprint(d) for d in docs])


def test_standby_takes_over_without_losing_or_forking_a_round(
    nodes: Callable[[str], Path], db_url: str
) -> None:
    """Kill the writer: a standby takes over; every round is there once, every receipt
    from before and after verifies against the later checkpoint via consistency."""
    a, b = Node(nodes("a")), Node(nodes("b"))
    try:
        a.wait_for(lambda h: h["role"] == "writer")
        b.wait_for(lambda h: h["role"] == "standby")
        # A second writer is impossible: the standby refuses submissions.
        with pytest.raises(ServiceUnavailable, match="503"):
            asyncio.run(_submit(b.url, [b"refused"]))
        before = [b"before %d" % i for i in range(30)]
        receipts = asyncio.run(_submit(a.url, before))
        # The standby serves reads: it follows the database, receipts included.
        b.wait_for(lambda h: int(str(h["size"])) > parse_receipt(receipts[-1])[1].round_path
                   .round_index)
        a.stop(signal.SIGKILL)
        t_kill = time.monotonic()
        b.wait_for(lambda h: h["role"] == "writer", timeout=10)
        takeover_s = time.monotonic() - t_kill
        after = [b"after %d" % i for i in range(30)]
        receipts += asyncio.run(_submit(b.url, after))
        # The old writer comes back: it is a standby now, not a second writer.
        a2 = Node(nodes("a"))
        try:
            a2.wait_for(lambda h: h["role"] == "standby")
            assert b.role() == "writer"
        finally:
            a2.stop()
        time.sleep(3 * PERIOD_MS / 1000)
    finally:
        b.stop()
        a.stop(signal.SIGKILL)
    assert takeover_s < 5

    folder = nodes("b")
    tiles = folder / "tiles"
    latest = (tiles / "checkpoint").read_bytes()
    cp = parse_checkpoint(parse_note(latest).text)
    s = LedgerSettings.load(folder / "ledger.json")
    # Every round is in the calendar once, at its own time: none lost, none doubled.
    store = TileStore(tiles)
    records: list[CalendarRecord] = []
    for n in range((cp.size + TILE_WIDTH - 1) // TILE_WIDTH):
        width = min(TILE_WIDTH, cp.size - n * TILE_WIDTH)
        records += [CalendarRecord.parse(e) for e in store.bundle(n, width)]
    assert [r.time_ms for r in records] == [s.clock.end_ms(i) for i in range(cp.size)]
    engine = make_engine(s.database_url)
    with engine.connect() as conn:
        idx = [r.idx for r in conn.execute(sa.select(ledger_rounds.c.idx).order_by("idx"))]
    engine.dispose()
    assert idx[: cp.size] == list(range(cp.size))
    # Every receipt, from either writer, extends to the later checkpoint and verifies.
    key = parse_verifier_key((folder / "ledger.vkey").read_text().strip())
    policy = TrustPolicy(log_keys=(key,), clock=s.clock)  # type: ignore[arg-type]
    for doc, raw in zip(before + after, receipts, strict=True):
        new = extend_receipt(raw, checkpoint=latest, fetch=store.tile)
        v = verify_receipt(new, imprint=_imprint(doc), policy=policy, at=datetime.now(UTC))
        assert v.status is Status.OK, v
        assert v.receipt is not None
        assert v.receipt.checkpoint.size == cp.size


def test_same_folder_twice_is_refused(nodes: Callable[[str], Path]) -> None:
    """A second process on the same folder is refused with a clear error."""
    folder = nodes("a")
    first = open_ledger(folder)
    try:
        assert first.role == "writer"
        with pytest.raises(ConfigurationError, match="already open in another process"):
            open_ledger(folder)
    finally:
        first.close()


def test_require_writer_refuses_to_stand_by(nodes: Callable[[str], Path]) -> None:
    """`--require-writer` exits with a clear error while another process writes."""
    writer = open_ledger(nodes("a"))
    try:
        assert writer.role == "writer"
        other = open_ledger(nodes("b"))
        assert other.role == "standby"
        other.close()
        code = main(["ledger", "serve", "--dir", str(nodes("b")), "--require-writer",
                     "--listen", f"127.0.0.1:{free_port()}"])
        assert code == 1
    finally:
        writer.close()


def test_commit_is_fenced_against_a_second_writer(
    nodes: Callable[[str], Path], tmp_path: Path
) -> None:
    """Two ledger objects without locks: the second commit of a round is refused."""
    from sild.ledger.home import read_signer
    from sild.ledger.service import Ledger

    folder = nodes("a")
    s = LedgerSettings.load(folder / "ledger.json")
    now = [s.genesis_ms + 10 * PERIOD_MS]

    def make(name: str) -> Ledger:
        led = Ledger(settings=s, engine=make_engine(s.database_url),
                     signer=read_signer(folder / "ledger.key"), tiles=tmp_path / name,
                     clock=lambda: now[0])
        led.open()
        return led

    one, two = make("t1"), make("t2")
    try:
        one.submit([_imprint(b"one")])
        two.submit([_imprint(b"two")])
        now[0] += PERIOD_MS
        asyncio.run(one.close_due())
        with pytest.raises(NotWriter):
            asyncio.run(two.close_due())
        assert (one.size, two.size) == (11, 0)  # the refused writer did not move
    finally:
        one.close()
        two.close()
