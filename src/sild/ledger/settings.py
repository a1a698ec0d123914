"""Ledger settings and limits (docs/spec/ledger.md §7), read from ``ledger.json``.

Limits live in one frozen dataclass with a reason next to each (STYLE.md rule 8).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sild.core.calendar import RoundClock
from sild.core.note import CosignatureVerifier, parse_verifier_key
from sild.errors import ConfigurationError

__all__ = ["LedgerLimits", "LedgerSettings", "WitnessEndpoint"]


@dataclass(frozen=True, slots=True)
class LedgerLimits:
    """Bounds on what one client or one round can cost the ledger."""

    # 10k imprints of ≤ 65 B is a ≤ 650 KB body: parsed in a few ms, so one request
    # cannot stall the event loop for other clients.
    max_batch: int = 10_000
    # 1 M hashes per round ≈ 0.5 s of one core to hash and build, ≈ 100 MB of imprints
    # and leaves in memory; beyond that submissions get 503 until the round closes.
    max_round: int = 1_000_000
    # A long-poll waits at most this long; clients poll again (Rekor v2 asks for 20 s).
    max_wait_s: float = 30.0
    # Closed rounds whose trees stay in memory to answer receipts without the database.
    keep_rounds: int = 8
    # … and at most this many hashes in them (the newest round is always kept): a round
    # costs ~100 B per hash, imprints and tree levels packed in single `bytes` (37 B per
    # imprint with its offset, 32 B per leaf, 32 B for the levels above), so ≈ 10 MB;
    # older receipts are rebuilt from the database. Part of issue 4's 200 MB budget.
    keep_hashes: int = 100_000
    # Witnesses must answer within this share of a round, so rounds never queue up.
    witness_timeout_s: float = 0.5
    # Catch-up after an outage appends empty rounds in chunks of this many per commit.
    catch_up_chunk: int = 100_000
    # A standby reads the database and tries the writer lock this often: it bounds both
    # how far its reads lag and the gap before it takes over from a dead writer.
    standby_poll_s: float = 0.5

    @property
    def max_body(self) -> int:
        """The largest request body: ``max_batch`` SHA-512 imprints as hex JSON."""
        return self.max_batch * 136 + 1024


@dataclass(frozen=True, slots=True)
class WitnessEndpoint:
    """A witness the ledger asks for cosignatures: its tlog-witness URL and cosigning key."""

    url: str
    key: CosignatureVerifier


@dataclass(frozen=True, slots=True)
class LedgerSettings:
    """What ``sild ledger init`` writes to ``ledger.json``."""

    origin: str
    genesis_ms: int
    period_ms: int = 1000
    database_url: str = "sqlite:///ledger.db"
    listen: str = "127.0.0.1:8470"
    witnesses: tuple[WitnessEndpoint, ...] = ()
    quorum: int = 0  # cosignatures a checkpoint needs before receipts are released
    publication_every: int = 86_400  # rounds between publications (daily at 1 s rounds)
    limits: LedgerLimits = field(default_factory=LedgerLimits)

    def __post_init__(self) -> None:
        RoundClock(self.genesis_ms, self.period_ms)  # validates both
        if not 0 <= self.quorum <= len(self.witnesses):
            raise ConfigurationError("quorum is larger than the number of witnesses")
        if self.publication_every < 1:
            raise ConfigurationError("publication_every must be at least 1 round")

    @property
    def clock(self) -> RoundClock:
        """Round index ↔ time."""
        return RoundClock(self.genesis_ms, self.period_ms)

    def to_json(self) -> dict[str, Any]:
        """The JSON form of ``ledger.json``."""
        return {
            "origin": self.origin,
            "genesis_ms": self.genesis_ms,
            "period_ms": self.period_ms,
            "database_url": self.database_url,
            "listen": self.listen,
            "witnesses": [{"url": w.url, "vkey": w.key.vkey()} for w in self.witnesses],
            "quorum": self.quorum,
            "publication_every": self.publication_every,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], *, base: Path | None = None) -> LedgerSettings:
        """Parse ``ledger.json``; a relative SQLite path is relative to ``base``."""
        try:
            witnesses = []
            for w in data.get("witnesses", []):
                key = parse_verifier_key(w["vkey"])
                if not isinstance(key, CosignatureVerifier):
                    raise ConfigurationError(f"witness key {w['vkey']!r} is not a cosigning key")
                witnesses.append(WitnessEndpoint(str(w["url"]).rstrip("/"), key))
            url = str(data.get("database_url", "sqlite:///ledger.db"))
            if base is not None and url.startswith("sqlite:///") and not url.startswith(
                "sqlite:////"
            ):
                url = f"sqlite:///{base / url[len('sqlite:///'):]}"
            return cls(
                origin=str(data["origin"]),
                genesis_ms=int(data["genesis_ms"]),
                period_ms=int(data.get("period_ms", 1000)),
                database_url=url,
                listen=str(data.get("listen", "127.0.0.1:8470")),
                witnesses=tuple(witnesses),
                quorum=int(data.get("quorum", 0)),
                publication_every=int(data.get("publication_every", 86_400)),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigurationError(f"malformed ledger settings: {e}") from e

    @classmethod
    def load(cls, path: Path) -> LedgerSettings:
        """Read ``ledger.json``."""
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise ConfigurationError(f"cannot read {path}: {e}") from e
        return cls.from_json(data, base=path.parent)
