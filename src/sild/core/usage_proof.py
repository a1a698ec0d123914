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

The head itself is authenticated separately (the anchored head map, §3.4): with a
trust policy, a proof asked with ``anchor`` names the newest anchored head as its
``head``, lists the records after it as ``unanchored`` (chain-checked, flagged), and
its ``anchor`` section is checked by :func:`sild.core.headmap.verify_anchor`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sild.core.headmap import AnchorCheck, verify_anchor
from sild.core.usage import CHAIN_START, chain_next, content_digest, record_hash
from sild.core.usage_since import compare_with_earlier
from sild.core.verification import TrustPolicy

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
    unanchored: int = 0  # records after the anchored head (§3.4), chain-checked only
    anchor: AnchorCheck | None = None  # the anchor section's verdict, when checked

    @property
    def verdict(self) -> str:
        """FAIL (something is wrong), OK (complete and the head anchored in a trusted
        ledger) or NA (consistent, but the head's anchoring was not shown)."""
        if not self.ok:
            return "FAIL"
        return "OK" if self.anchor is not None and self.anchor.status == "OK" else "NA"

    def summary(self) -> str:
        parts = [f"record {f.seq} {f.problem}" for f in self.findings]
        if self.anchor is not None and self.anchor.status == "FAIL":
            parts.append(f"{self.anchor.code}: {self.anchor.message}")
        if parts:
            return "; ".join(parts)
        note = f", complete from {self.complete_from}" if self.complete_from else ""
        text = (f"complete: {self.records} records and {self.sealed} sealed records "
                f"in the period{note}")
        if self.anchor is not None:
            text += f"; {self.anchor.message}"
        if self.unanchored:
            text += f"; {self.unanchored} newer records not yet anchored (chain-checked)"
        return text


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


def verify_usage_proof(proof: dict[str, Any], *, policy: TrustPolicy | None = None,
                       at: datetime | None = None,
                       earlier: Sequence[dict[str, Any]] = ()) -> ProofResult:
    """Check a proof document; never raises for bad input, reports it as a finding.

    With ``policy`` (the ledger key, publications: :class:`TrustPolicy`) and ``at``,
    the anchor section is checked too (§3.4); a proof without one is then NA: "head
    not anchored yet". ``earlier`` proofs of the same chain (already verified) must be
    extended by this one (§3.4.7).
    """
    try:
        result = _verify(proof)
        if result.ok and earlier:
            found = [ProofFinding(seq, problem) for e in earlier
                     for seq, problem in compare_with_earlier(proof, e)]
            if found:
                result = ProofResult(False, result.records, result.sealed, tuple(found),
                                     result.complete_from, result.unanchored)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        return ProofResult(False, 0, 0, (ProofFinding(0, f"malformed ({e})"),), None)
    if policy is None or at is None:
        return result
    check = _anchor(proof, policy, at)
    ok = result.ok and check.status != "FAIL"
    return ProofResult(ok, result.records, result.sealed, result.findings,
                       result.complete_from, result.unanchored, check)


def _anchor(proof: dict[str, Any], policy: TrustPolicy, at: datetime) -> AnchorCheck:
    section = proof.get("anchor")
    if section is None:
        return AnchorCheck("NA", "MAP-NA", "head not anchored yet: the register has no "
                           "anchored head map (or the proof was asked without one)")
    try:
        head = proof["head"]
        return verify_anchor(section, register=str(proof["register"]),
                             subject=str(proof["subject"]), head_seq=int(head["seq"]),
                             head_chain=_b64(head["chain"]), policy=policy, at=at)
    except (KeyError, TypeError, ValueError) as e:
        return AnchorCheck("FAIL", "MAP-00", f"malformed head ({e})")


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
    anchored = proof.get("anchor") is not None  # the head is the anchored one (§3.4)
    later = (proof.get("unanchored") or []) if anchored else []
    if not isinstance(proof["records"], list) or not isinstance(later, list):
        raise ValueError("records must be a list")
    findings: list[ProofFinding] = []
    shown = sealed = 0
    last_time = ""
    first = True
    at_head = seq == head_seq and chain == head_chain
    current_seq = int(proof["current"]["seq"]) if anchored and "current" in proof else None
    items = [(item, False) for item in proof["records"]] + [(item, True) for item in later]
    for item, after_head in items:
        if after_head and not at_head:
            break  # the records did not reach the head: reported below
        n = int(item["seq"])
        at = str(item["logged_at"])
        if n != seq + 1:
            findings.append(ProofFinding(seq + 1, "missing" if n > seq + 1 else "inserted"))
            break
        if after_head and current_seq is not None and n > current_seq:
            findings.append(ProofFinding(n, "inserted (beyond the register's own head)"))
            break
        if not after_head and n > head_seq:
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
            findings.append(ProofFinding(n, "altered or back-dated"
                                         + (" (not yet anchored)" if after_head else "")))
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
        if not after_head:
            at_head = seq == head_seq and chain == head_chain
    if not findings and not at_head:
        if seq < head_seq:
            findings.append(ProofFinding(seq + 1, "missing"))
        elif seq == head_seq and anchored:
            findings.append(ProofFinding(seq, "altered: the chain disagrees with the "
                                         "anchored head map here (a record up to it was "
                                         "rewritten)"))
        else:
            findings.append(ProofFinding(seq, "inserted (not covered by the head)"))
    elif not findings and anchored and "current" in proof:
        current = proof["current"]
        if int(current["seq"]) != seq or _b64(current["chain"]) != chain:
            findings.append(ProofFinding(seq + 1, "missing or inserted after the anchored "
                                         "head (the current head is not reached)"))
    complete_from = None
    if proof.get("expired"):
        complete_from = str(proof["records"][0]["logged_at"]) if proof["records"] else None
    return ProofResult(not findings, shown, sealed, tuple(findings), complete_from,
                       len(later) if anchored else 0)
