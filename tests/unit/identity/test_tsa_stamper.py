"""The TSA's ledger stamper with an in-memory ledger client (docs/spec/tsa.md §3 steps 2–3)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence

import pytest

from sild.core.note import Ed25519Signer
from sild.core.verification import TrustPolicy
from sild.errors import ServiceUnavailable, TransportError
from sild.identity.tsa_http import LedgerStamper, StamperLimits
from sild.ledger.service import Submission

POLICY = TrustPolicy(log_keys=(Ed25519Signer.from_seed("ledger.test/x", b"k" * 32).verifier(),))


class FakeLedger:
    """Records every POST /add; answers receipts as told."""

    url = "memory://ledger"

    def __init__(self, *, fail: bool = False, hang: bool = False) -> None:
        self.batches: list[int] = []
        self.fail = fail
        self.hang = hang

    async def add(self, imprints: Sequence[bytes]) -> Submission:
        if self.fail:
            raise TransportError("ledger is unreachable")
        self.batches.append(len(imprints))
        return Submission(7, 0, len(imprints))

    async def receipts(self, sub: Submission, *, wait_s: float | None = None) -> list[bytes]:
        if self.hang:
            await asyncio.sleep(3600)
        return [b"not a receipt"] * sub.count

    async def close(self) -> None:
        pass


def _imprint() -> bytes:
    return b"\x01" + os.urandom(32)


def _run(ledger: FakeLedger, n: int, limits: StamperLimits | None = None) -> list[object]:
    async def go() -> list[object]:
        stamper = LedgerStamper(ledger, policy=POLICY,  # type: ignore[arg-type]
                                limits=limits or StamperLimits())
        try:
            return await asyncio.gather(*(stamper.stamp(_imprint()) for _ in range(n)),
                                        return_exceptions=True)
        finally:
            await stamper.close()

    return asyncio.run(go())


def test_concurrent_requests_share_one_submission() -> None:
    """Requests arriving within the linger time go to the ledger in one POST /add."""
    ledger = FakeLedger()
    _run(ledger, 50)
    assert ledger.batches == [50]


def test_batches_respect_the_ledger_limit() -> None:
    """More than max_batch waiting requests are split (the ledger refuses bigger batches)."""
    ledger = FakeLedger()
    _run(ledger, 25, StamperLimits(max_batch=10))
    assert ledger.batches == [10, 10, 5]


def test_unverifiable_receipts_are_refused() -> None:
    """A receipt that does not verify under the TSA's ledger policy gives no token."""
    out = _run(FakeLedger(), 3)
    assert all(isinstance(e, ServiceUnavailable) and "refused" in e.message for e in out)


def test_unreachable_ledger_fails_every_waiting_request() -> None:
    """A ledger error reaches every request of the batch as ServiceUnavailable."""
    out = _run(FakeLedger(fail=True), 5)
    assert all(isinstance(e, ServiceUnavailable) and "unreachable" in e.message for e in out)


def test_silent_ledger_times_out() -> None:
    """A ledger that never answers → ServiceUnavailable after timeout_s, not a hang."""
    out = _run(FakeLedger(hang=True), 2, StamperLimits(timeout_s=0.2))
    assert all(isinstance(e, ServiceUnavailable) and "in time" in e.message for e in out)


def test_a_policy_without_anchor_is_refused() -> None:
    """The TSA must be able to check receipts: no key and no publication → refused."""
    with pytest.raises(ServiceUnavailable):
        LedgerStamper(FakeLedger(), policy=TrustPolicy())  # type: ignore[arg-type]
