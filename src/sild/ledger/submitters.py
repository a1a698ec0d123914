"""Who may submit hashes to a ledger, and how many (docs/spec/ledger.md §8.1).

The read side of a ledger (tiles, checkpoints, receipts) is public; the write side,
``POST /add``, is not: every submitter presents an API key the operator issued with
``sild ledger key add`` (``Authorization: Bearer <name>.<secret>``). The folder keeps
only the SHA-256 of each secret, in ``submitters.json`` (0600); a secret of 32 random
bytes needs no slow hash (nothing to brute-force).

Each key carries two quotas, so that no submitter — however many connections it opens —
can crowd the others out:

* ``rate``: hashes per second, a token bucket holding at most ``max(rate, max_batch)``
  (one full request is always possible after waiting), refused with 429 and
  ``Retry-After`` when empty;
* ``share``: the fraction of a round's ``max_round`` hashes one key may fill, so a
  flooding submitter makes only its own submissions wait for the next round, never
  the others' (ARCHITECTURE.md §8: nobody anonymous can exhaust a service).

:class:`Submitters` re-reads the file when it changes (at most once a second), so
``key revoke`` takes effect on a running ledger without a restart.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import math
import os
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sild.errors import (
    ConfigurationError,
    DuplicateEntry,
    NotFound,
    QuotaExceeded,
    Unauthorized,
)
from sild.files import atomic_write

__all__ = [
    "SUBMITTERS_FILE",
    "Submitter",
    "SubmitterKey",
    "Submitters",
    "add_key",
    "load_keys",
    "read_credential",
    "revoke_key",
]

SUBMITTERS_FILE = "submitters.json"
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
DEFAULT_RATE = 10_000  # hashes/s: a gateway anchors one root per second; catch-up 1,000/request
DEFAULT_SHARE = 0.25  # of max_round: four floods at once still leave a quarter for everyone else


@dataclass(frozen=True, slots=True)
class SubmitterKey:
    """One issued key as stored: its name, the SHA-256 of its secret, its quotas."""

    name: str
    sha256: str
    rate: int = DEFAULT_RATE
    share: float = DEFAULT_SHARE
    created: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "sha256": self.sha256, "rate": self.rate,
                "share": self.share, "created": self.created}


@dataclass(frozen=True, slots=True)
class Submitter:
    """An authenticated submitter (only :meth:`Submitters.authenticate` makes one)."""

    name: str
    rate: int
    share: float


def _check_quota(rate: int, share: float) -> None:
    if not 1 <= rate <= 10_000_000:
        raise ConfigurationError("rate must be 1..10000000 hashes per second")
    if not 0 < share <= 1:
        raise ConfigurationError("share must be in (0, 1]")


def _path(folder: Path) -> Path:
    return folder / SUBMITTERS_FILE


def load_keys(folder: Path) -> list[SubmitterKey]:
    """The keys of a ledger folder (none when the file does not exist)."""
    path = _path(folder)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as e:
        raise ConfigurationError(f"cannot read {path}: {e}") from e
    try:
        data = json.loads(raw)
        keys = [SubmitterKey(name=str(k["name"]), sha256=str(k["sha256"]),
                             rate=int(k.get("rate", DEFAULT_RATE)),
                             share=float(k.get("share", DEFAULT_SHARE)),
                             created=str(k.get("created", "")))
                for k in data["keys"]]
        for k in keys:
            _check_quota(k.rate, k.share)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise ConfigurationError(f"{path}: malformed submitter keys ({e})") from e
    return keys


def _save(folder: Path, keys: list[SubmitterKey]) -> None:
    data = {"keys": [k.to_json() for k in keys]}
    atomic_write(_path(folder), (json.dumps(data, indent=2) + "\n").encode(), private=True)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def add_key(folder: Path, name: str, *, rate: int = DEFAULT_RATE,
            share: float = DEFAULT_SHARE, now: str = "") -> str:
    """Issue a key; returns the credential ``<name>.<secret>`` (shown once, never stored)."""
    if not (folder / "ledger.json").is_file():
        raise ConfigurationError(f"{folder} is not a ledger folder (no ledger.json)")
    if not _NAME.fullmatch(name):
        raise ConfigurationError(
            "a key name is 1-63 of a-z 0-9 . _ - (starting with a letter or digit)")
    _check_quota(rate, share)
    keys = load_keys(folder)
    if any(k.name == name for k in keys):
        raise DuplicateEntry(f"key {name!r} already exists; revoke it first")
    secret = secrets.token_urlsafe(32)
    credential = f"{name}.{secret}"
    keys.append(SubmitterKey(name, _digest(credential), rate, share, now))
    _save(folder, keys)
    return credential


def revoke_key(folder: Path, name: str) -> None:
    """Remove a key; a running ledger refuses it within a second."""
    keys = load_keys(folder)
    left = [k for k in keys if k.name != name]
    if len(left) == len(keys):
        raise NotFound(f"no key named {name!r}")
    _save(folder, left)


def read_credential(path: Path) -> str:
    """A credential file (``<name>.<secret>`` on one line), as the anchorer and TSA read it."""
    try:
        text = path.read_bytes().decode("ascii").strip()
    except OSError as e:
        raise ConfigurationError(f"cannot read ledger credential {path}: {e}") from e
    except UnicodeDecodeError as e:
        raise ConfigurationError(f"{path} is not a ledger credential (binary file)") from e
    if "." not in text or any(c.isspace() for c in text) or len(text) > 200:
        raise ConfigurationError(f"{path} is not a ledger credential (<name>.<secret>)")
    return text


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class Submitters:
    """The keys of one ledger and their live quota state (single event loop, no locks)."""

    folder: Path | None
    max_batch: int
    max_round: int
    # Without a folder: every caller is one anonymous submitter with these quotas
    # (in-process tests and tools; ``sild ledger serve`` always has a folder).
    open_rate: int = 0
    clock: Callable[[], float] = time.monotonic
    _keys: dict[str, SubmitterKey] = field(default_factory=dict)
    _mtime: float = -1.0
    _checked: float = -math.inf
    _buckets: dict[str, _Bucket] = field(default_factory=dict)
    _rounds: dict[str, tuple[int, int]] = field(default_factory=dict)  # name → (round, count)

    @classmethod
    def of_folder(cls, folder: Path, *, max_batch: int, max_round: int) -> Submitters:
        s = cls(folder, max_batch, max_round)
        s._reload(force=True)
        return s

    @classmethod
    def unauthenticated(cls, *, max_batch: int, max_round: int,
                        rate: int = 10_000_000) -> Submitters:
        """Anyone may submit, as one submitter ``anonymous`` (tests and embedded tools)."""
        return cls(None, max_batch, max_round, open_rate=rate)

    def _reload(self, *, force: bool = False) -> None:
        assert self.folder is not None
        now = self.clock()
        if not force and now - self._checked < 1.0:
            return
        self._checked = now
        try:
            mtime = os.stat(_path(self.folder)).st_mtime_ns / 1e9
        except FileNotFoundError:
            mtime = 0.0
        if mtime != self._mtime:
            self._keys = {k.name: k for k in load_keys(self.folder)}
            self._mtime = mtime

    def names(self) -> list[str]:
        """The names of the keys in force (none without a folder)."""
        return sorted(self._keys)

    def authenticate(self, authorization: str | None) -> Submitter:
        """The submitter an ``Authorization`` header names, or :class:`Unauthorized`."""
        if self.folder is None:
            return Submitter("anonymous", self.open_rate, 1.0)
        scheme, _, credential = (authorization or "").partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise Unauthorized("submitting needs a ledger API key "
                               "(Authorization: Bearer <key>); ask the ledger's operator")
        with contextlib.suppress(ConfigurationError):  # a hand-broken file: keep the keys
            self._reload()
        name = credential.partition(".")[0]
        key = self._keys.get(name)
        if key is None or not hmac.compare_digest(key.sha256, _digest(credential)):
            raise Unauthorized("ledger API key unknown or revoked")
        return Submitter(key.name, key.rate, key.share)

    def ready(self, who: Submitter) -> None:
        """Before reading a body: refuse at once if the bucket is empty."""
        b = self._bucket(who)
        if b.tokens < 1:
            raise _quota(f"submitter {who.name!r} is over its rate of {who.rate} hashes/s",
                         (1 - b.tokens) / who.rate)

    def charge(self, who: Submitter, count: int, *, round_index: int,
               round_ends_in_s: float) -> None:
        """Take ``count`` hashes from the rate and from this round's share, or refuse."""
        b = self._bucket(who)
        if count > b.tokens:
            raise _quota(f"submitter {who.name!r} is over its rate of {who.rate} hashes/s",
                         (count - b.tokens) / who.rate)
        limit = max(1, int(self.max_round * who.share))
        r, used = self._rounds.get(who.name, (round_index, 0))
        if r != round_index:
            used = 0
        # A share of 1 is the whole round: the ledger's own RoundFull (503) says it.
        if who.share < 1.0 and used + count > limit:
            raise _quota(f"submitter {who.name!r} has used its share of round {round_index} "
                         f"({used} of {limit} hashes)", round_ends_in_s)
        b.tokens -= count
        self._rounds[who.name] = (round_index, used + count)

    def refund(self, who: Submitter, count: int, *, round_index: int) -> None:
        """Give back what :meth:`charge` took for hashes the ledger did not queue."""
        self._bucket(who).tokens += count
        r, used = self._rounds.get(who.name, (round_index, 0))
        if r == round_index:
            self._rounds[who.name] = (r, max(0, used - count))

    def _bucket(self, who: Submitter) -> _Bucket:
        now = self.clock()
        cap = float(max(who.rate, self.max_batch))
        b = self._buckets.get(who.name)
        if b is None:
            b = self._buckets[who.name] = _Bucket(cap, now)
        b.tokens = min(cap, b.tokens + (now - b.at) * who.rate)
        b.at = now
        return b


def _quota(message: str, wait_s: float) -> QuotaExceeded:
    return QuotaExceeded(message, retry_after=max(1, math.ceil(wait_s)))
