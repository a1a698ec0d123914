"""Receipts (sild.core.receipt) and the OK/FAIL/NA policies (sild.core.verification)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from sild.core.calendar import CalendarRecord, Publication, RoundClock
from sild.core.checkpoint import Checkpoint, sign_checkpoint
from sild.core.merkle import MerkleTree, leaf_hash
from sild.core.note import CosignatureSigner, Ed25519Signer
from sild.core.receipt import ReceiptExtra, format_receipt
from sild.core.tlogproof import RoundPath
from sild.core.verification import (
    ReceiptVerifier,
    Status,
    TrustPolicy,
    parse_policy,
    verify_receipt,
)

AT = datetime(2026, 11, 22, tzinfo=UTC)
LOG = Ed25519Signer("ledger.test/cal", Ed25519PrivateKey.generate())
WITNESSES = [CosignatureSigner(f"w{i}.test", Ed25519PrivateKey.generate()) for i in range(3)]
CLOCK = RoundClock(1_700_000_000_000, 1000)
DOCS = [b"document %d" % i for i in range(7)]


def imprint(doc: bytes) -> bytes:
    return b"\x01" + hashlib.sha256(doc).digest()


def _build(cal_size: int = 9, round_index: int = 5) -> list[bytes]:
    """Receipts for DOCS, all in round ``round_index`` of a calendar of ``cal_size``."""
    imps = [imprint(d) for d in DOCS]
    tree = MerkleTree([leaf_hash(i) for i in imps])
    records = [CalendarRecord.empty(CLOCK.end_ms(r)) for r in range(cal_size)]
    records[round_index] = CalendarRecord(CLOCK.end_ms(round_index), len(imps), tree.root())
    cal = MerkleTree([r.leaf() for r in records])
    cp = sign_checkpoint(Checkpoint(LOG.name, cal_size, cal.root()), signer=LOG,
                         cosigners=[(w, 1_800_000_000) for w in WITNESSES])
    out = []
    for i, imp in enumerate(imps):
        rp = RoundPath(round_index, len(imps), i, tuple(tree.inclusion_proof(i)))
        extra = ReceiptExtra(imp, CLOCK.end_ms(round_index), rp)
        out.append(format_receipt(extra=extra, calendar_proof=cal.inclusion_proof(round_index),
                                  checkpoint=cp))
    return out


RECEIPTS = _build()
FULL = TrustPolicy(log_keys=(LOG.verifier(),), witnesses=tuple(w.verifier() for w in WITNESSES),
                   quorum=3, clock=CLOCK)


def test_every_receipt_verifies() -> None:
    """Each document's receipt is OK under key, witness quorum and clock checks."""
    for d, r in zip(DOCS, RECEIPTS, strict=True):
        v = verify_receipt(r, imprint=imprint(d), policy=FULL, at=AT)
        assert v.status is Status.OK, v
        assert v.receipt is not None
        assert v.receipt.time_ms == CLOCK.end_ms(5)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_flipping_any_byte_fails(data: st.DataObject) -> None:
    """Flipping any bit of any byte of a receipt makes verification FAIL."""
    raw = RECEIPTS[3]
    i = data.draw(st.integers(0, len(raw) - 1))
    bit = data.draw(st.integers(0, 7))
    bad = raw[:i] + bytes([raw[i] ^ (1 << bit)]) + raw[i + 1 :]
    v = verify_receipt(bad, imprint=imprint(DOCS[3]), policy=FULL, at=AT)
    assert v.status is Status.FAIL, (i, bit, v)


def test_other_document_fails() -> None:
    """A receipt does not verify for another document (INT-01)."""
    v = verify_receipt(RECEIPTS[0], imprint=imprint(b"forged"), policy=FULL, at=AT)
    assert (v.status, v.code) == (Status.FAIL, "INT-01")


def test_no_anchor_is_na_and_wrong_key_fails() -> None:
    """Without any trust anchor the verdict is NA; with a wrong ledger key, FAIL."""
    v = verify_receipt(RECEIPTS[0], imprint=imprint(DOCS[0]), policy=TrustPolicy(), at=AT)
    assert (v.status, v.code) == (Status.NA, "GEN-01")
    other = Ed25519Signer(LOG.name, Ed25519PrivateKey.generate()).verifier()
    v = verify_receipt(RECEIPTS[0], imprint=imprint(DOCS[0]),
                       policy=TrustPolicy(log_keys=(other,)), at=AT)
    assert v.status is not Status.OK


def test_quorum_not_met_fails() -> None:
    """A witness that did not cosign makes a required quorum fail."""
    extra = CosignatureSigner("w9.test", Ed25519PrivateKey.generate()).verifier()
    policy = TrustPolicy(log_keys=(LOG.verifier(),),
                         witnesses=(*FULL.witnesses, extra), quorum=4)
    v = verify_receipt(RECEIPTS[0], imprint=imprint(DOCS[0]), policy=policy, at=AT)
    assert (v.status, v.code) == (Status.FAIL, "WIT-01")


def test_publication_ok_na_and_fork() -> None:
    """The checkpoint as publication is OK; a later one is NA; another root at its size FAILs."""
    r = verify_receipt(RECEIPTS[0], imprint=imprint(DOCS[0]), policy=TrustPolicy(), at=AT).receipt
    assert r is not None
    same = Publication(r.checkpoint.size, r.checkpoint.root)
    later = Publication(r.checkpoint.size + 5, r.checkpoint.root)
    fork = Publication(r.checkpoint.size, bytes(32))  # type: ignore[arg-type]
    for pub, want in ((same, Status.OK), (later, Status.NA), (fork, Status.FAIL)):
        v = verify_receipt(RECEIPTS[0], imprint=imprint(DOCS[0]),
                           policy=TrustPolicy(publications=(pub,)), at=AT)
        assert v.status is want, (pub, v)


def test_round_time_must_match_the_clock() -> None:
    """With the ledger's genesis and period known, a wrong round time fails (INT-03)."""
    shifted = TrustPolicy(log_keys=(LOG.verifier(),), clock=RoundClock(CLOCK.genesis_ms, 2000))
    v = verify_receipt(RECEIPTS[0], imprint=imprint(DOCS[0]), policy=shifted, at=AT)
    assert (v.status, v.code) == (Status.FAIL, "INT-03")


def test_cached_verifier_agrees() -> None:
    """ReceiptVerifier gives the same verdicts as verify_receipt."""
    rv = ReceiptVerifier(FULL)
    for d, r in zip(DOCS, RECEIPTS, strict=True):
        assert rv.verify(r, imprint=imprint(d), at=AT).status is Status.OK
    assert rv.verify(RECEIPTS[1], imprint=imprint(DOCS[0]), at=AT).status is Status.FAIL


def test_policy_file() -> None:
    """A policy file with log, witnesses, quorum, genesis and publication parses."""
    pub = Publication(9, bytes(range(32))).code()  # type: ignore[arg-type]
    text = "\n".join([
        "# trusted", f"log {LOG.verifier().vkey()}",
        *(f"witness {w.verifier().vkey()}" for w in WITNESSES),
        "quorum 2", f"genesis {CLOCK.genesis_ms} 1000", f"publication {pub}",
    ])
    p = parse_policy(text)
    assert (len(p.log_keys), len(p.witnesses), p.quorum, p.clock) == (1, 3, 2, CLOCK)
    assert p.publications[0].size == 9
    with pytest.raises(Exception, match="line 1"):
        parse_policy("quorum many")
