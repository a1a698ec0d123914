"""Signs and caches the global configuration the registry serves.

The document is rebuilt and re-signed when the configuration version changed or
when the cached copy is older than the refresh interval, so a running registry
always serves a document with at least ``expire - refresh`` seconds of validity
left (docs/spec/globalconf.md §2). Signing uses every active configuration key.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sild.clock import utc_now
from sild.core.globalconf import sign_globalconf
from sild.crypto.keys import load_private_key
from sild.errors import ConfigurationError
from sild.registry.service import Registry

__all__ = ["Publisher"]


@dataclass(frozen=True, slots=True)
class _Signed:
    version: int
    issued_at: datetime
    key_ids: tuple[str, ...]
    envelope: bytes


class Publisher:
    def __init__(
        self,
        registry: Registry,
        keys_dir: Path,
        *,
        expire_after: timedelta = timedelta(seconds=600),
        refresh_interval: int = 60,
        passphrase: bytes | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.registry = registry
        self.keys_dir = keys_dir
        self.expire_after = expire_after
        self.refresh_interval = refresh_interval
        self._passphrase = passphrase
        self.clock = clock
        self._cached: _Signed | None = None
        self._keys: dict[str, Ed25519PrivateKey] = {}
        self._lock = threading.Lock()

    def _key(self, kid: str) -> Ed25519PrivateKey:
        if kid not in self._keys:
            key = load_private_key(self.keys_dir / f"{kid}.key", passphrase=self._passphrase)
            if not isinstance(key, Ed25519PrivateKey):
                raise ConfigurationError(f"configuration key {kid} is not Ed25519")
            self._keys[kid] = key
        return self._keys[kid]

    def current(self) -> bytes:
        """The signed envelope to serve now."""
        at = self.clock().replace(microsecond=0)
        version = self.registry.version()
        with self._lock:
            c = self._cached
            if (
                c is not None
                and c.version == version
                and at < c.issued_at + timedelta(seconds=self.refresh_interval)
            ):
                return c.envelope
            conf = self.registry.snapshot(
                at=at, expire_after=self.expire_after, refresh_interval=self.refresh_interval
            )
            kids = tuple(k.key_id for k in conf.signing_keys)
            if not kids:
                raise ConfigurationError("the registry has no active configuration key")
            envelope = sign_globalconf(conf, [self._key(k) for k in kids])
            self._cached = _Signed(conf.version, at, kids, envelope)
            return envelope
