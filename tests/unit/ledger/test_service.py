"""The ledger service in-process: rounds, empty rounds, receipts (sild.ledger.service)."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sild.core.calendar import CalendarRecord
from sild.core.merkle import MerkleTree, leaf_hash
from sild.core.note import Ed25519Signer
from sild.core.receipt import ReceiptExtra, format_receipt
from sild.core.tlogproof import RoundPath, parse_tlog_proof
from sild.ledger.service import Ledger
from sild.ledger.settings import LedgerSettings
from sild.store import make_engine

GENESIS = 1_800_000_000_000


class Clock:
    """A settable millisecond clock."""

    def __init__(self) -> None:
        self.now = GENESIS

    def __call__(self) -> int:
        return self.now


def _ledger(tmp_path: Path, clock: Clock) -> Ledger:
    settings = LedgerSettings(origin="ledger.test/cal", genesis_ms=GENESIS, period_ms=1000)
    led = Ledger(settings=settings, engine=make_engine(f"sqlite:///{tmp_path}/l.db"),
                 signer=Ed25519Signer("ledger.test/cal", Ed25519PrivateKey.generate()),
                 tiles=tmp_path / "tiles", clock=clock)
    led.open()
    return led


def test_service_receipts_match_the_core_format(tmp_path: Path) -> None:
    """The service's fast receipt assembly equals format_receipt of the same parts."""
    clock = Clock()
    led = _ledger(tmp_path, clock)
    imps = [b"\x01" + hashlib.sha256(b"%d" % i).digest() for i in range(37)]
    clock.now += 1500
    sub = led.submit(imps)
    clock.now += 3000
    assert asyncio.run(led.close_due()) == 4
    tree = MerkleTree([leaf_hash(i) for i in imps])
    for i, raw in enumerate(led.receipts(sub.round, 0, len(imps))):
        tp = parse_tlog_proof(raw)
        rp = RoundPath(1, 37, i, tuple(tree.inclusion_proof(i)))
        extra = ReceiptExtra(imps[i], GENESIS + 2000, rp)
        assert raw == format_receipt(extra=extra, calendar_proof=tp.proof, checkpoint=tp.checkpoint)
    led.engine.dispose()


def test_empty_rounds_get_calendar_leaves(tmp_path: Path) -> None:
    """Rounds with no submissions still get a leaf; after a pause all missed rounds do."""
    clock = Clock()
    led = _ledger(tmp_path, clock)
    clock.now += 10_500
    assert asyncio.run(led.close_due()) == 10
    recs = led._writer.records(0, 10)
    assert recs == [CalendarRecord.empty(GENESIS + 1000 * (i + 1)) for i in range(10)]
    led.engine.dispose()
