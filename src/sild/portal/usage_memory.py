"""An in-memory :class:`~sild.portal.usage_source.UsageSource` for page tests and
demos without trackers (STYLE §5): fixed answers per register, a register that "does
not answer", and the proof bytes to download."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from sild.core.verification import TrustPolicy
from sild.portal.usage_model import Entry, RegisterAnswer

__all__ = ["MemoryUsageSource"]


class MemoryUsageSource:
    def __init__(self, registers: Mapping[str, Sequence[Entry]], *,
                 proofs: Mapping[str, dict[str, Any]] | None = None,
                 down: Sequence[str] = (), policy: TrustPolicy | None = None) -> None:
        self._labels = tuple(registers)
        self.registers = {k: tuple(v) for k, v in registers.items()}
        self.proofs = dict(proofs or {})
        self.down = set(down)
        self._policy = policy
        self.calls = 0

    @property
    def labels(self) -> tuple[str, ...]:
        return self._labels

    @property
    def policy(self) -> TrustPolicy | None:
        return self._policy

    async def answers(self, *, subject: str, user: str) -> list[RegisterAnswer]:
        self.calls += 1
        out = []
        for label in self._labels:
            if label in self.down:
                out.append(RegisterAnswer(label, error="HTTP 502 (test: down)"))
                continue
            proof = self.proofs.get(label)
            entries = self.registers[label]
            out.append(RegisterAnswer(
                label, entries, len(entries), proof=proof,
                proof_error=None if proof is not None else "no proof",
                proof_raw=orjson.dumps(proof) if proof is not None else b""))
        return out

    async def proof(self, label: str, *, subject: str, user: str) -> bytes:
        if label not in self.registers:
            raise LookupError(label)
        if label in self.down or label not in self.proofs:
            raise ConnectionError("HTTP 502 (test: down)")
        return orjson.dumps(self.proofs[label])
