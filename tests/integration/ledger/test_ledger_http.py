"""The ledger over real HTTP (uvicorn on loopback) on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from sild.core.imprint import Imprint
from sild.core.note import parse_verifier_key
from sild.core.verification import Status, TrustPolicy, verify_receipt
from sild.errors import InvalidRequest
from sild.ledger.api import create_app
from sild.ledger.client import LedgerClient
from sild.ledger.home import init_ledger, open_ledger
from sild.ledger.settings import LedgerSettings
from sild.testing.servers import serve_asgi


def _make(tmp_path: Path, db_url: str, period_ms: int = 100) -> Path:
    folder = tmp_path / "ledger"
    init_ledger(folder, origin="ledger.test/sild", period_ms=period_ms, database_url=db_url)
    return folder


def _policy(folder: Path) -> TrustPolicy:
    key = parse_verifier_key((folder / "ledger.vkey").read_text().strip())
    s = LedgerSettings.load(folder / "ledger.json")
    return TrustPolicy(log_keys=(key,), clock=s.clock)  # type: ignore[arg-type]


def _imprint(data: bytes) -> bytes:
    return Imprint.of(data, at=datetime.now(UTC)).to_bytes()


def test_submit_and_verify_receipts(tmp_path: Path, db_url: str) -> None:
    """Submitted hashes get receipts that verify offline against the ledger key."""
    folder = _make(tmp_path, db_url)
    ledger = open_ledger(folder)
    docs = [b"doc %d" % i for i in range(50)]

    async def go(url: str) -> list[bytes]:
        async with LedgerClient(url) as c:
            first = await c.submit([_imprint(d) for d in docs[:20]])
            second = await c.submit([_imprint(d) for d in docs[20:]])
            return first + second

    with serve_asgi(create_app(ledger)) as url:
        receipts = asyncio.run(go(url))
    policy = _policy(folder)
    for d, r in zip(docs, receipts, strict=True):
        v = verify_receipt(r, imprint=_imprint(d), policy=policy, at=datetime.now(UTC))
        assert v.status is Status.OK, v
    v = verify_receipt(receipts[0], imprint=_imprint(b"other"), policy=policy, at=datetime.now(UTC))
    assert v.status is Status.FAIL
    assert v.code == "INT-01"
    ledger.engine.dispose()


def test_receipts_later_from_storage_after_restart(tmp_path: Path, db_url: str) -> None:
    """A receipt fetched after a restart (from the database and tiles) still verifies."""
    folder = _make(tmp_path, db_url)
    ledger = open_ledger(folder)

    async def submit(url: str) -> tuple[str, bytes]:
        async with LedgerClient(url) as c:
            sub = await c.add([_imprint(b"kept")])
            await c.receipts(sub)
            return sub.ids()[0], b""

    with serve_asgi(create_app(ledger)) as url:
        rid, _ = asyncio.run(submit(url))
    ledger.engine.dispose()
    again = open_ledger(folder)

    async def fetch(url: str) -> bytes | None:
        async with LedgerClient(url) as c:
            await asyncio.sleep(0.3)  # let later (empty) rounds close
            return await c.receipt(rid, wait_s=1)

    with serve_asgi(create_app(again)) as url:
        raw = asyncio.run(fetch(url))
    assert raw is not None
    v = verify_receipt(raw, imprint=_imprint(b"kept"), policy=_policy(folder), at=datetime.now(UTC))
    assert v.status is Status.OK, v
    assert v.receipt is not None
    assert v.receipt.checkpoint.size > v.receipt.round_index + 1
    again.engine.dispose()


@pytest.mark.parametrize(
    ("body", "ctype", "status"),
    [
        (b"\x01" + bytes(31), "application/octet-stream", 400),  # truncated SHA-256
        (b"\x03" + bytes(32), "application/octet-stream", 400),  # retired algorithm id
        (b"\x00" + bytes(20), "application/octet-stream", 400),  # SHA-1: deprecated 2016
        (b'{"hashes": ["01ab"]}', "application/json", 400),  # wrong length in JSON
        (b'{"hashes": "x"}', "application/json", 400),  # malformed JSON body
        (b"\x01" + bytes(32) * 3, "application/octet-stream", 400),  # trailing garbage
    ],
)
def test_bad_submissions_are_refused(
    tmp_path: Path, body: bytes, ctype: str, status: int
) -> None:
    """Wrong lengths, unknown or deprecated algorithms are refused; nothing is queued."""
    folder = _make(tmp_path, f"sqlite:///{tmp_path}/l.db")
    ledger = open_ledger(folder)

    async def go(url: str) -> tuple[int, str]:
        async with aiohttp.ClientSession() as s, s.post(
            url + "/add", data=body, headers={"content-type": ctype}
        ) as r:
            return r.status, r.headers.get("x-road-error", "")

    with serve_asgi(create_app(ledger)) as url:
        got, code = asyncio.run(go(url))
    assert got == status
    assert code.startswith("Client.")
    assert not ledger._pending
    ledger.engine.dispose()


def test_oversize_batch_is_refused(tmp_path: Path) -> None:
    """A batch above max_batch gets 413 and is not queued."""
    folder = _make(tmp_path, f"sqlite:///{tmp_path}/l.db")
    ledger = open_ledger(folder)
    n = ledger.limits.max_batch + 1
    body = b"".join(b"\x01" + hashlib.sha256(b"%d" % i).digest() for i in range(n))

    async def go(url: str) -> None:
        async with LedgerClient(url) as c:
            await c.add([body])

    with serve_asgi(create_app(ledger)) as url, pytest.raises(InvalidRequest, match="413"):
        asyncio.run(go(url))
    assert not ledger._pending
    ledger.engine.dispose()


def test_publications_are_written_and_verifiable(tmp_path: Path) -> None:
    """Every N rounds a publication is kept; its code verifies a receipt without any key."""
    folder = tmp_path / "ledger"
    init_ledger(folder, origin="ledger.test/sild", period_ms=100,
                database_url=f"sqlite:///{tmp_path}/l.db", publication_every=3)
    ledger = open_ledger(folder)

    async def go(url: str) -> tuple[bytes, bytes]:
        async with LedgerClient(url) as c:
            receipt = (await c.submit([_imprint(b"published")]))[0]
            await asyncio.sleep(0.5)
            return receipt, await c.fetch("publications")

    with serve_asgi(create_app(ledger)) as url:
        receipt, pubs = asyncio.run(go(url))
    assert pubs.startswith(b"sild-publications/v1 ledger.test/sild\n")
    published = ledger.publications()
    assert published
    cp = verify_receipt(receipt, imprint=_imprint(b"published"), policy=TrustPolicy(),
                        at=datetime.now(UTC)).receipt
    assert cp is not None
    mine = [p for p, _, _ in published if p.size == cp.checkpoint.size]
    policy = TrustPolicy(publications=tuple(p for p, _, _ in published))
    v = verify_receipt(receipt, imprint=_imprint(b"published"), policy=policy,
                       at=datetime.now(UTC))
    assert v.status is (Status.OK if mine else Status.NA), v
    ledger.engine.dispose()
