"""Signs, checks and caches the global configuration the registry serves.

The document is rebuilt and re-signed when the configuration version changed or
when the cached copy is older than the refresh interval, so a running registry
always serves a document with at least ``expire - refresh`` seconds of validity
left (docs/spec/globalconf.md §2). Signing uses every active configuration key.

Before a new document is served it is verified exactly as a gateway's configuration
client verifies it (§5 "the publisher's self-check": :func:`verify_globalconf`, §4
steps 1-6, against the anchor's keys, then against the keys of the last document
served). A document that fails — bad data that reached the database around the
registry's checks, or a bug — is never served: the last good document stays in
service, the failure is logged as an error and :attr:`Publisher.problem` says why,
which turns the registry's health check red.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sild.clock import utc_now
from sild.core.anchor import Anchor
from sild.core.globalconf import SigningKey, sign_globalconf, verify_globalconf
from sild.crypto.keys import load_private_key
from sild.errors import ConfigurationError, GlobalConfError, LocalError, SildError
from sild.registry.service import Registry

__all__ = ["RETRY_AFTER_FAILURE", "Publisher"]

log = structlog.get_logger("sild.registry")

# A document that failed its self-check is rebuilt when the registry changes, or after
# this long (a database that was down may be back); not on every request, because a
# rebuild of a national instance costs tens of milliseconds and gateways poll constantly.
RETRY_AFTER_FAILURE = timedelta(seconds=10)


@dataclass(frozen=True, slots=True)
class _Signed:
    version: int
    issued_at: datetime
    key_ids: tuple[str, ...]
    envelope: bytes
    signing_keys: Mapping[str, SigningKey]  # what a gateway trusts after accepting it


@dataclass(frozen=True, slots=True)
class _Failure:
    version: int | None
    at: datetime
    error: SildError


class Publisher:
    def __init__(
        self,
        registry: Registry,
        keys_dir: Path,
        *,
        anchor: Anchor | None = None,
        expire_after: timedelta = timedelta(seconds=600),
        refresh_interval: int = 60,
        passphrase: bytes | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """``anchor`` is the instance's configuration anchor (§1), the trust a new gateway
        starts from; without it the first self-check trusts the registry's active keys."""
        self.registry = registry
        self.keys_dir = keys_dir
        self.anchor = anchor
        self.expire_after = expire_after
        self.refresh_interval = refresh_interval
        self._passphrase = passphrase
        self.clock = clock
        self._cached: _Signed | None = None  # the last good document: the one served
        self._failure: _Failure | None = None
        self._keys: dict[str, Ed25519PrivateKey] = {}
        self._lock = threading.Lock()

    @property
    def problem(self) -> str | None:
        """Why the newest configuration is not being served, or ``None`` when it is."""
        failure = self._failure
        return None if failure is None else failure.error.message

    @property
    def serving_version(self) -> int | None:
        """The version of the document being served (the last good one), if any."""
        cached = self._cached
        return None if cached is None else cached.version

    def _key(self, kid: str) -> Ed25519PrivateKey:
        if kid not in self._keys:
            key = load_private_key(self.keys_dir / f"{kid}.key", passphrase=self._passphrase)
            if not isinstance(key, Ed25519PrivateKey):
                raise ConfigurationError(f"configuration key {kid} is not Ed25519")
            self._keys[kid] = key
        return self._keys[kid]

    def current(self) -> bytes:
        """The signed envelope to serve now: the newest one that passed its self-check.

        Raises only when no document has passed yet: the original :class:`LocalError`
        (unreadable key, database down) or :class:`GlobalConfError` (bad data).
        """
        at = self.clock().replace(microsecond=0)
        try:
            version: int | None = self.registry.version()
        except SildError as e:  # the database is down: one log line per retry pause
            with self._lock:
                f = self._failure
                if f is not None and f.version is None and at < f.at + RETRY_AFTER_FAILURE:
                    return self._fallback(f.error)
                return self._failed(None, at, e)
        with self._lock:
            c = self._cached
            if (
                c is not None
                and c.version == version
                and at < c.issued_at + timedelta(seconds=self.refresh_interval)
            ):
                return c.envelope
            f = self._failure
            if f is not None and f.version == version and at < f.at + RETRY_AFTER_FAILURE:
                return self._fallback(f.error)
            try:
                signed = self._publish(at)
            except SildError as e:
                return self._failed(version, at, e)
            except Exception as e:  # a bug: keep the last good document, log the traceback
                log.exception("globalconf_build_crashed", version=version)
                return self._failed(version, at, GlobalConfError(f"{type(e).__name__}: {e}"))
            if self._failure is not None:
                log.info("globalconf_published_again", version=signed.version)
            self._cached, self._failure = signed, None
            return signed.envelope

    def _publish(self, at: datetime) -> _Signed:
        conf = self.registry.snapshot(
            at=at, expire_after=self.expire_after, refresh_interval=self.refresh_interval
        )
        kids = tuple(k.key_id for k in conf.signing_keys)
        if not kids:
            raise ConfigurationError("the registry has no active configuration key")
        envelope = sign_globalconf(conf, [self._key(k) for k in kids])
        # The self-check (docs/spec/globalconf.md §5): §4 steps 1-6 as a gateway runs them.
        last = self._cached
        if last is not None:
            trusted, floor = last.signing_keys, (last.version, last.issued_at)
        elif self.anchor is not None:
            trusted, floor = self.anchor.trusted_keys, None
        else:
            trusted, floor = {k.key_id: k for k in conf.signing_keys}, None
        instance = self.anchor.instance if self.anchor is not None else self.registry.instance
        try:
            verified = verify_globalconf(
                envelope, trusted_keys=trusted, instance=instance, at=at, last=floor
            )
        except GlobalConfError as e:
            raise GlobalConfError(
                f"version {conf.version} fails the gateways' own check: {e.message}"
            ) from e
        return _Signed(conf.version, at, kids, envelope, verified.trusted_keys)

    def _failed(self, version: int | None, at: datetime, error: SildError) -> bytes:
        if not isinstance(error, GlobalConfError | LocalError):
            # bad data in the database that the model or the encoder refused
            error = GlobalConfError(f"version {version} cannot be encoded: {error.message}")
        self._failure = _Failure(version, at, error)
        log.error(
            "globalconf_not_published",
            version=version,
            serving_version=self.serving_version,
            code=error.xroad_code,
            error=error.message,
        )
        return self._fallback(error)

    def _fallback(self, error: SildError) -> bytes:
        if self._cached is not None:
            return self._cached.envelope
        raise error
