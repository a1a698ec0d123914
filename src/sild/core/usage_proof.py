"""Checking a usage proof offline: is this every record of mine for the period?
(docs/spec/tracker.md §3.3). Pure: no I/O, no clock.

A proof (``sild.tracker.proof/1``, built by :mod:`sild.tracker.proof`) lists one run of
a subject's chain in one register: the record just before the period (if any), every
record from the period's start up to the chain's head. Each record is given either
with its content (the verifier recomputes its digest) or, when sealed or after the
period, as its digest only. Each carries the chain value the register stored after
it. Verification recomputes every link and names the first record that breaks it:

* a **missing** record: a gap in the sequence numbers;
* an **altered** (or back-dated) record: its recomputed chain value differs from the
  one stored after it, or its time goes back along the chain;
* an **inserted** record: a record the head does not cover, or a chain that does not
  end in the head;
* a record of the period **withheld**: given as a digest although it is not sealed.

The head itself is authenticated separately (the anchored head map, §3.4).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from sild.core.usage import CHAIN_START, chain_next, content_digest, record_hash

__all__ = ["PROOF_TYPE", "ProofFinding", "ProofResult", "verify_usage_proof"]

PROOF_TYPE = "sild.tracker.proof/1"


@dataclass(frozen=True, slots=True)
class ProofFinding:
    seq: int
    problem: str  # missing | altered | inserted | withheld | malformed | foreign


@dataclass(frozen=True, slots=True)
class ProofResult:
    ok: bool
    records: int  # records of the period shown with their content
    sealed: int  # sealed records of the period (hash and time only)
    findings: tuple[ProofFinding, ...]
    complete_from: str | None  # None: complete for the whole period asked

    def summary(self) -> str:
        if self.ok:
            note = f", complete from {self.complete_from}" if self.complete_from else ""
            return (f"complete: {self.records} records and {self.sealed} sealed records "
                    f"in the period{note}")
        return "; ".join(f"record {f.seq} {f.problem}" for f in self.findings)


def _b64(value: object) -> bytes:
    if not isinstance(value, str):
        raise ValueError("expected base64 text")
    try:
        raw = base64.b64decode(value, validate=True)
    except binascii.Error as e:
        raise ValueError("bad base64") from e
    if len(raw) != 32:
        raise ValueError("expected 32 bytes")
    return raw


def _in_period(at: str, start: str | None, end: str | None) -> bool:
    # The times are all format_micros text (fixed width, UTC): text order is time order.
    return (start is None or at >= start) and (end is None or at <= end)


def verify_usage_proof(proof: dict[str, Any]) -> ProofResult:
    """Check a proof document; never raises for bad input, reports it as a finding."""
    try:
        return _verify(proof)
    except (KeyError, TypeError, ValueError) as e:
        return ProofResult(False, 0, 0, (ProofFinding(0, f"malformed ({e})"),), None)


def _verify(proof: dict[str, Any]) -> ProofResult:
    if proof.get("type") != PROOF_TYPE:
        raise ValueError(f"not a {PROOF_TYPE} document")
    register, subject = str(proof["register"]), str(proof["subject"])
    start, end = proof.get("periodStart"), proof.get("periodEnd")
    base = proof["from"]
    seq, chain = int(base["seq"]), _b64(base["chain"])
    if seq == 0 and chain != CHAIN_START:
        raise ValueError("a chain from its start must begin with 32 zero bytes")
    head = proof["head"]
    head_seq, head_chain = int(head["seq"]), _b64(head["chain"])
    findings: list[ProofFinding] = []
    shown = sealed = 0
    last_time = ""
    first = True
    for item in proof["records"]:
        n = int(item["seq"])
        at = str(item["logged_at"])
        if n != seq + 1:
            findings.append(ProofFinding(seq + 1, "missing" if n > seq + 1 else "inserted"))
            break
        if n > head_seq:
            findings.append(ProofFinding(n, "inserted (not covered by the head)"))
            break
        if "content" in item:
            content = item["content"]
            if content.get("register") != register or content.get("subject") != subject:
                findings.append(ProofFinding(n, "foreign (another person or register)"))
                break
            digest, is_sealed = content_digest(content), "sealed" in content["flags"]
        else:
            digest, is_sealed = _b64(item["digest"]), item.get("sealed") is True
        stated = _b64(item["chain"])
        chain = chain_next(chain, record_hash(n, at, digest, sealed=is_sealed))
        if chain != stated or at < last_time:
            findings.append(ProofFinding(n, "altered or back-dated"))
            break
        if first and seq > 0 and start is not None and at >= start and not proof.get(
                "expired"):
            # the record before the period must be shown, to prove none is left out
            findings.append(ProofFinding(n - 1, "missing"))
            break
        if _in_period(at, start, end) and not (first and start is not None and at < start):
            if "content" in item:
                shown += 1
            elif is_sealed:
                sealed += 1
            else:
                findings.append(ProofFinding(n, "withheld"))
                break
        seq, last_time, first = n, at, False
    if not findings:
        if seq < head_seq:
            findings.append(ProofFinding(seq + 1, "missing"))
        elif seq > head_seq or chain != head_chain:
            findings.append(ProofFinding(seq, "inserted (not covered by the head)"))
    complete_from = None
    if proof.get("expired"):
        complete_from = str(proof["records"][0]["logged_at"]) if proof["records"] else None
    return ProofResult(not findings, shown, sealed, tuple(findings), complete_from)
