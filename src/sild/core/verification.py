"""Receipt verification policies with three-valued results, KSI style.

docs/spec/ledger.md §5. Like KSI's policies (research/ksi-tlog.md §1.6) every step
answers **OK**, **FAIL** or **NA** (cannot tell with what was given) with a reason code:

1. ``internal``  — the hash chain from the document to the checkpoint root
   (:func:`sild.core.receipt.check_receipt`); FAIL stops everything.
2. ``key``       — the checkpoint is signed by a trusted ledger key (NA without keys).
3. ``witness``   — at least ``quorum`` trusted witnesses cosigned it (NA without witnesses).
4. ``publication`` — the checkpoint *is* a publication the verifier trusts, e.g. a code
   read from print (NA when none is given or the receipt is not extended to it).

The verdict is FAIL if any step failed, OK when the internal step and at least one
trust anchor (key or publication) are OK and a required witness quorum is met, and NA
otherwise. Pure: the verifier supplies the time (STYLE.md rule 8).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sild.core.calendar import Publication, RoundClock
from sild.core.checkpoint import Checkpoint, verify_checkpoint
from sild.core.ledger_errors import (
    HashAlgorithmError,
    LedgerFormatError,
    NoteSignatureError,
    ProofError,
)
from sild.core.note import CosignatureVerifier, Ed25519Verifier, parse_verifier_key
from sild.core.receipt import InternallyConsistentReceipt, check_receipt
from sild.errors import SignatureError

__all__ = [
    "ReceiptVerifier",
    "Status",
    "StepResult",
    "TrustPolicy",
    "Verdict",
    "parse_policy",
    "verify_receipt",
]


class Status(enum.Enum):
    """A three-valued answer (KSI: OK, FAIL, NA)."""

    OK = "OK"
    FAIL = "FAIL"
    NA = "NA"


@dataclass(frozen=True, slots=True)
class StepResult:
    """One policy step: its name, status, reason code and a sentence for people."""

    step: str
    status: Status
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """The overall result, the steps that led to it and what the receipt proves."""

    status: Status
    code: str
    message: str
    steps: tuple[StepResult, ...]
    receipt: InternallyConsistentReceipt | None = None


@dataclass(frozen=True, slots=True)
class TrustPolicy:
    """What the verifier trusts (docs/spec/ledger.md §5.1)."""

    log_keys: tuple[Ed25519Verifier, ...] = ()
    origin: str | None = None  # default: the first log key's name (tlog-checkpoint §Signatures)
    witnesses: tuple[CosignatureVerifier, ...] = ()
    quorum: int = 0
    publications: tuple[Publication, ...] = ()
    clock: RoundClock | None = None  # if known, t must equal genesis + (index + 1)·period

    def __post_init__(self) -> None:
        if not 0 <= self.quorum <= len(self.witnesses):
            raise LedgerFormatError(
                f"quorum {self.quorum} needs at least that many witnesses ({len(self.witnesses)})"
            )

    @property
    def log_origin(self) -> str | None:
        """The origin line checkpoints must carry."""
        if self.origin is not None:
            return self.origin
        return self.log_keys[0].name if self.log_keys else None


def parse_policy(text: str) -> TrustPolicy:
    """Parse a policy file: one directive per line, ``#`` comments (docs/spec/ledger.md §5.1)::

        log <vkey>            witness <vkey>        quorum <n>
        origin <line>         genesis <ms> <period ms>
        publication <code>
    """
    logs: list[Ed25519Verifier] = []
    witnesses: list[CosignatureVerifier] = []
    pubs: list[Publication] = []
    origin: str | None = None
    quorum = 0
    clock: RoundClock | None = None
    for n, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        key, args = words[0], words[1:]
        try:
            if key in ("log", "witness") and len(args) == 1:
                v = parse_verifier_key(args[0])
                if key == "log" and isinstance(v, Ed25519Verifier):
                    logs.append(v)
                elif key == "witness" and isinstance(v, CosignatureVerifier):
                    witnesses.append(v)
                else:
                    raise LedgerFormatError(f"{key} key of the wrong type")
            elif key == "origin" and args:
                origin = line.split("origin", 1)[1].strip()
            elif key == "quorum" and len(args) == 1 and args[0].isdigit():
                quorum = int(args[0])
            elif key == "genesis" and len(args) == 2 and all(a.isdigit() for a in args):
                clock = RoundClock(int(args[0]), int(args[1]))
            elif key == "publication" and args:
                pubs.append(Publication.from_code("".join(args)))
            else:
                raise LedgerFormatError(f"unknown directive {key!r}")
        except (LedgerFormatError, ValueError) as e:
            raise LedgerFormatError(f"policy line {n}: {e}") from e
    return TrustPolicy(tuple(logs), origin, tuple(witnesses), quorum, tuple(pubs), clock)


def _internal(
    raw: bytes,
    imprint: bytes,
    policy: TrustPolicy,
    at: datetime,
    parsed: dict[bytes, Checkpoint] | None = None,
) -> tuple[StepResult, InternallyConsistentReceipt | None]:
    """Step 1 (docs/spec/ledger.md §5.2)."""
    try:
        r = check_receipt(raw, imprint=imprint, parsed=parsed)
    except HashAlgorithmError as e:
        return StepResult("internal", Status.FAIL, "INT-04", str(e)), None
    except (LedgerFormatError, ValueError) as e:
        return StepResult("internal", Status.FAIL, "GEN-02", f"malformed receipt: {e}"), None
    except ProofError as e:
        code = "INT-01" if "document" in str(e) else "INT-02"
        return StepResult("internal", Status.FAIL, code, str(e)), None
    if r.imprint.algorithm.status_at(at) == "obsolete":
        msg = f"{r.imprint.algorithm.name} is obsolete at {at.isoformat()}"
        return StepResult("internal", Status.FAIL, "INT-04", msg), r
    if policy.clock is not None and policy.clock.end_ms(r.round_index) != r.time_ms:
        msg = "the round time does not match the calendar index"
        return StepResult("internal", Status.FAIL, "INT-03", msg), r
    return StepResult("internal", Status.OK, "OK", "hash chain leads to the checkpoint"), r


def _key(r: InternallyConsistentReceipt, policy: TrustPolicy) -> StepResult:
    """Step 2: the ledger's signature on the checkpoint."""
    origin = policy.log_origin
    if not policy.log_keys or origin is None:
        return StepResult("key", Status.NA, "KEY-NA", "no ledger key given")
    try:
        verify_checkpoint(r.checkpoint_note, origin=origin, log_keys=policy.log_keys)
    except (SignatureError, LedgerFormatError) as e:
        return StepResult("key", Status.FAIL, "KEY-02", str(e))
    return StepResult("key", Status.OK, "OK", f"signed by {policy.log_keys[0].name}")


def _witness(r: InternallyConsistentReceipt, policy: TrustPolicy) -> StepResult:
    """Step 3: the witness quorum (signed-note rules: a bad known cosignature fails)."""
    if not policy.witnesses:
        return StepResult("witness", Status.NA, "WIT-NA", "no witness keys given")
    origin = policy.log_origin or r.checkpoint.origin
    try:
        # Any log key will do here; the key step already judged the log's signature.
        vc = verify_checkpoint(
            r.checkpoint_note,
            origin=origin,
            log_keys=policy.log_keys or policy.witnesses,
            witnesses=policy.witnesses,
            quorum=policy.quorum,
        )
    except NoteSignatureError as e:
        return StepResult("witness", Status.FAIL, "WIT-01", str(e))
    except (SignatureError, LedgerFormatError) as e:
        return StepResult("witness", Status.FAIL, "WIT-02", str(e))
    n = len(vc.cosignatures)
    return StepResult("witness", Status.OK, "OK", f"{n} of {len(policy.witnesses)} witnesses")


def _publication(
    r: InternallyConsistentReceipt, publications: Sequence[Publication]
) -> StepResult:
    """Step 4: the checkpoint equals a trusted publication (size and root)."""
    if not publications:
        return StepResult("publication", Status.NA, "PUB-NA", "no publication given")
    cp = r.checkpoint
    for p in publications:
        if p.size == cp.size:
            if p.root == cp.root:
                return StepResult("publication", Status.OK, "OK", f"matches publication {p.code()}")
            return StepResult(
                "publication", Status.FAIL, "PUB-01",
                f"the ledger's root at size {p.size} differs from the publication (a fork)",
            )
    later = [p for p in publications if p.size > cp.size]
    if later:
        return StepResult(
            "publication", Status.NA, "PUB-02",
            f"receipt must be extended to size {min(p.size for p in later)} "
            "(sild ledger extend)",
        )
    return StepResult("publication", Status.NA, "PUB-03", "the publication predates the receipt")


def verify_receipt(
    raw: bytes,
    *,
    imprint: bytes,
    policy: TrustPolicy,
    at: datetime,
) -> Verdict:
    """Run the policy of docs/spec/ledger.md §5.2 on one receipt; never raises on bad input."""
    internal, r = _internal(raw, imprint, policy, at)
    if internal.status is not Status.OK or r is None:
        return Verdict(Status.FAIL, internal.code, internal.message, (internal,), r)
    steps = (internal, _key(r, policy), _witness(r, policy), _publication(r, policy.publications))
    return _decide(steps, policy, r)


def _decide(
    steps: tuple[StepResult, ...], policy: TrustPolicy, r: InternallyConsistentReceipt
) -> Verdict:
    """The verdict rule of docs/spec/ledger.md §5.3."""
    failed = [s for s in steps if s.status is Status.FAIL]
    if failed:
        return Verdict(Status.FAIL, failed[0].code, failed[0].message, steps, r)
    by = {s.step: s for s in steps}
    anchored = by["key"].status is Status.OK or by["publication"].status is Status.OK
    if policy.quorum and by["witness"].status is not Status.OK:
        return Verdict(Status.NA, "WIT-01", "witness quorum not shown", steps, r)
    if not anchored:
        return Verdict(
            Status.NA, "GEN-01", "no trust anchor: give a ledger key or a publication", steps, r
        )
    return Verdict(Status.OK, "OK", "receipt verified", steps, r)


class ReceiptVerifier:
    """:func:`verify_receipt` with the signature steps cached per checkpoint.

    Receipts of the same round (or the same publication) share one checkpoint note, so
    a busy verifier checks each checkpoint's signatures once and then only hashes.
    """

    def __init__(self, policy: TrustPolicy, *, max_cached: int = 1024) -> None:
        self.policy = policy
        self._max = max_cached
        self._steps: dict[bytes, tuple[StepResult, StepResult]] = {}
        self._parsed: dict[bytes, Checkpoint] = {}

    def verify(self, raw: bytes, *, imprint: bytes, at: datetime) -> Verdict:
        """Same verdict as :func:`verify_receipt`."""
        internal, r = _internal(raw, imprint, self.policy, at, self._parsed)
        if internal.status is not Status.OK or r is None:
            return Verdict(Status.FAIL, internal.code, internal.message, (internal,), r)
        cached = self._steps.get(r.checkpoint_note)
        if cached is None:
            if len(self._steps) >= self._max:
                self._steps.clear()
            cached = (_key(r, self.policy), _witness(r, self.policy))
            self._steps[r.checkpoint_note] = cached
        steps = (internal, *cached, _publication(r, self.policy.publications))
        return _decide(steps, self.policy, r)
