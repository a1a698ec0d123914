"""A ledger with three witnesses over real HTTP: cosigned receipts and a quorum policy."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from datetime import UTC, datetime
from pathlib import Path

from sild.core.note import parse_verifier_key
from sild.core.verification import Status, TrustPolicy, verify_receipt
from sild.ledger.api import create_app
from sild.ledger.client import LedgerClient
from sild.ledger.home import init_ledger, open_ledger
from sild.ledger.settings import LedgerSettings
from sild.ledger.testing import serve_ledger
from sild.ledger.witness import WitnessCosigner, create_witness_app, init_witness, open_witness
from sild.testing.servers import serve_asgi


def test_receipts_carry_a_witness_quorum(tmp_path: Path, db_url: str) -> None:
    """Three witnesses cosign every round; receipts verify with quorum 3 and stay ≤ 3 KB."""
    folder = tmp_path / "ledger"
    origin = "ledger.test/cal"
    # The witnesses need the ledger's key, and the ledger the witnesses' URLs and keys.
    init_ledger(folder, origin=origin, period_ms=200, database_url=db_url)
    log_vkey = (folder / "ledger.vkey").read_text().strip()
    witnesses = []
    for i in range(3):
        wdir = tmp_path / f"w{i}"
        init_witness(wdir, name=f"w{i}.test/witness", logs=[log_vkey], listen="127.0.0.1:0")
        witnesses.append(open_witness(wdir)[0])
    with contextlib.ExitStack() as stack:
        urls = [stack.enter_context(serve_asgi(create_witness_app(w))) for w in witnesses]
        base = LedgerSettings.load(folder / "ledger.json").to_json()
        base["witnesses"] = [{"url": u, "vkey": w.signer.verifier().vkey()}
                             for u, w in zip(urls, witnesses, strict=True)]
        base["quorum"] = 3
        settings = LedgerSettings.from_json(base, base=folder)
        ledger = open_ledger(folder, cosigner=WitnessCosigner(settings), settings=settings)
        imprints = [b"\x01" + hashlib.sha256(b"%d" % i).digest() for i in range(1000)]

        async def go(url: str) -> list[bytes]:
            async with LedgerClient(url) as c:
                await c.submit(imprints[:1])  # the witnesses learn the log's size
                return await c.submit(imprints)

        url = stack.enter_context(serve_ledger(create_app(ledger)))
        receipts = asyncio.run(go(url))
    policy = TrustPolicy(
        log_keys=(parse_verifier_key(log_vkey),),  # type: ignore[arg-type]
        witnesses=tuple(w.signer.verifier() for w in witnesses),
        quorum=3,
    )
    for imp, r in zip(imprints, receipts, strict=True):
        v = verify_receipt(r, imprint=imp, policy=policy, at=datetime.now(UTC))
        assert v.status is Status.OK, v
    assert max(len(r) for r in receipts) <= 3072
    for w in witnesses:
        assert w.state(origin)[0] >= 2
        w.engine.dispose()
    ledger.engine.dispose()
