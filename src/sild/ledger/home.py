"""A ledger folder: ``ledger.json``, ``ledger.key`` (0600), ``ledger.vkey``, ``tiles/``.

``sild ledger init DIR`` makes one (docs/spec/ledger.md §7); ``sild ledger serve --dir``
opens it. The database defaults to ``ledger.db`` (SQLite) in the folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sild.core.ledger_errors import LedgerFormatError
from sild.core.note import (
    CosignatureVerifier,
    Ed25519Signer,
    parse_signer_key,
    parse_verifier_key,
)
from sild.errors import ConfigurationError, KeyFileError
from sild.ledger.election import FileWriterLock, writer_lock
from sild.ledger.service import Cosigner, Ledger, now_ms
from sild.ledger.settings import LedgerSettings, WitnessEndpoint
from sild.store import make_engine

__all__ = ["init_ledger", "open_ledger", "read_signer"]


def init_ledger(
    folder: Path,
    *,
    origin: str,
    period_ms: int = 1000,
    database_url: str | None = None,
    genesis_ms: int | None = None,
    publication_every: int | None = None,
    witnesses: Sequence[tuple[str, str]] = (),
    quorum: int = 0,
) -> LedgerSettings:
    """Create keys and settings; genesis is now, rounded down to the period."""
    if (folder / "ledger.json").exists():
        raise ConfigurationError(f"{folder} already holds a ledger")
    folder.mkdir(parents=True, exist_ok=True)
    now = now_ms() if genesis_ms is None else genesis_ms
    settings = LedgerSettings(
        origin=origin,
        genesis_ms=now - now % period_ms,
        period_ms=period_ms,
        database_url=database_url or "sqlite:///ledger.db",
        publication_every=publication_every or max(1, 86_400_000 // period_ms),
        witnesses=tuple(_witness(url, vkey) for url, vkey in witnesses),
        quorum=quorum,
    )
    signer = Ed25519Signer(origin, Ed25519PrivateKey.generate())
    key = folder / "ledger.key"
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(signer.signer_key() + "\n")
    (folder / "ledger.vkey").write_text(signer.verifier().vkey() + "\n")
    (folder / "ledger.json").write_text(json.dumps(settings.to_json(), indent=2) + "\n")
    (folder / "tiles").mkdir(exist_ok=True)
    return settings


def _witness(url: str, vkey: str) -> WitnessEndpoint:
    key = parse_verifier_key(vkey)
    if not isinstance(key, CosignatureVerifier):
        raise ConfigurationError(f"witness key {vkey!r} is not a cosignature (0x04) key")
    return WitnessEndpoint(url.rstrip("/"), key)


def read_signer(path: Path) -> Ed25519Signer:
    """A ``PRIVATE+KEY+…`` file."""
    try:
        return parse_signer_key(path.read_text().strip())
    except OSError as e:
        raise KeyFileError(f"cannot read {path}: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise KeyFileError(f"{path} is not a ledger key (a binary file)") from e
    except LedgerFormatError as e:
        raise KeyFileError(f"{path}: {e}") from e


def open_ledger(
    folder: Path,
    *,
    cosigner: Cosigner | None = None,
    settings: LedgerSettings | None = None,
    require_writer: bool = False,
) -> Ledger:
    """The ledger of a folder, opened (tables migrated, tiles checked).

    It is the writer if it wins the database's writer lock, otherwise a standby
    (docs/spec/ledger.md §3.4); ``require_writer`` refuses to be a standby. One process
    per folder: each node of a ledger needs its own folder (its own tiles).
    """
    s = settings or LedgerSettings.load(folder / "ledger.json")
    signer = read_signer(folder / "ledger.key")
    if signer.name != s.origin:  # tlog-checkpoint §Signatures: the key name is the origin
        raise ConfigurationError(f"key {signer.name!r} does not match origin {s.origin!r}")
    guard = FileWriterLock(folder / "serve.lock")
    if not guard.try_acquire():
        raise ConfigurationError(
            f"{folder} is already open in another process ({_pid(folder / 'serve.lock')}); "
            "give each ledger node its own folder (copy ledger.json and ledger.key)"
        )
    engine = make_engine(s.database_url)
    lock = writer_lock(engine, folder)
    ledger = Ledger(
        settings=s,
        engine=engine,
        signer=signer,
        tiles=folder / "tiles",
        cosigner=cosigner,
        lock=lock,
        guard=guard,
    )
    try:
        ledger.open()
        if require_writer and ledger.role != "writer":
            raise ConfigurationError(
                f"another process is the ledger's writer ({lock.describe()}); "
                "start without --require-writer to run as a standby"
            )
    except BaseException:
        ledger.close()
        raise
    return ledger


def _pid(path: Path) -> str:
    try:
        return f"pid {int(path.read_text().strip())}"
    except (OSError, ValueError):
        return "pid unknown"
