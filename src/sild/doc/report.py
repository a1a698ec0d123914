"""What ``sild doc verify`` reports: per signature an indication (ETSI EN 319 102-1
§5.1.3: TOTAL-PASSED / TOTAL-FAILED / INDETERMINATE, here VALID / INVALID /
INDETERMINATE), the reason, and every step (docs/spec/documents.md §5)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from sild.core.verification import Status

__all__ = ["ContainerReport", "Indication", "SignatureReport", "Step"]


class Indication(enum.StrEnum):
    VALID = "VALID"
    INVALID = "INVALID"
    INDETERMINATE = "INDETERMINATE"


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    status: Status  # OK | FAIL | NA
    message: str


@dataclass(frozen=True, slots=True)
class SignatureReport:
    name: str
    indication: Indication
    reason: str
    signer: str | None = None
    signer_serial: str | None = None
    claimed_time: str | None = None
    timestamp: datetime | None = None
    steps: tuple[Step, ...] = ()
    notes: tuple[str, ...] = ()

    def as_json(self) -> dict[str, object]:
        return {
            "file": self.name, "indication": self.indication.value, "reason": self.reason,
            "signer": self.signer, "signer_serial_number": self.signer_serial,
            "claimed_signing_time": self.claimed_time,
            "timestamp": self.timestamp.isoformat() if self.timestamp else None,
            "steps": [{"step": s.name, "status": s.status.value, "message": s.message}
                      for s in self.steps],
            "notes": list(self.notes),
        }


@dataclass(frozen=True, slots=True)
class ContainerReport:
    files: tuple[tuple[str, int, str], ...]
    signatures: tuple[SignatureReport, ...]

    @property
    def indication(self) -> Indication:
        marks = {s.indication for s in self.signatures}
        if Indication.INVALID in marks:
            return Indication.INVALID
        if not self.signatures or Indication.INDETERMINATE in marks:
            return Indication.INDETERMINATE
        return Indication.VALID

    def as_json(self) -> dict[str, object]:
        return {"indication": self.indication.value,
                "files": [{"name": n, "size": s, "mimetype": m} for n, s, m in self.files],
                "signatures": [s.as_json() for s in self.signatures]}
