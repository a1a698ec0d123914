"""The configuration client gateways run (docs/spec/globalconf.md §4).

Starts from the anchor (§1), downloads the global configuration from the anchor's
sources in order, verifies it (§4 steps 1-6), persists it (step 7) and keeps the
last good copy; refreshes every ``refresh_interval`` and backs off after failures.
Once the copy in use expires, :meth:`ConfClient.current` raises
:class:`GlobalConfExpired` and gateways fail closed with ``OutdatedGlobalConf``.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import structlog

from sild.clock import utc_now
from sild.confclient._cache import (
    CONF_FILE,
    STATE_FILE,
    ClientState,
    atomic_write,
    encode_state,
    parse_state,
)
from sild.confclient.fetch import Fetcher, HttpFetcher
from sild.core.anchor import Anchor
from sild.core.globalconf import SigningKey, VerifiedGlobalConf, verify_globalconf
from sild.core.timefmt import format_rfc3339
from sild.errors import (
    ConfigurationError,
    GlobalConfError,
    GlobalConfExpired,
    InvalidRequest,
    SildError,
)

__all__ = ["DEFAULT_REFRESH_INTERVAL", "FIRST_RETRY_DELAY", "ConfClient", "backoff_delay"]

log = structlog.get_logger("sild.confclient")

# §4: refresh every 60 s until a document says otherwise (X-Road's default too).
DEFAULT_REFRESH_INTERVAL = 60.0
# §4: after a failure retry after 2 s, 4 s, ... capped at the refresh interval.
FIRST_RETRY_DELAY = 2.0
_rng = secrets.SystemRandom()


def backoff_delay(
    failures: int, interval: float, uniform: Callable[[float, float], float] = _rng.uniform
) -> float:
    """Seconds to wait after ``failures`` failures in a row (§4): exponential from 2 s,
    capped at ``interval``, less up to 20% jitter so gateways do not retry in step."""
    base = min(FIRST_RETRY_DELAY * 2.0 ** min(max(failures, 1) - 1, 30), interval)
    return base * uniform(0.8, 1.0)


class ConfClient:
    """Keeps a verified, unexpired global configuration for one gateway (§4)."""

    def __init__(
        self,
        anchor: Anchor,
        cache_dir: Path,
        *,
        clock: Callable[[], datetime] = utc_now,
        fetcher: Fetcher | None = None,
    ) -> None:
        self.anchor = anchor
        self.cache_dir = cache_dir
        self._clock = clock
        self._fetcher: Fetcher = fetcher if fetcher is not None else HttpFetcher()
        self._trusted: dict[str, SigningKey] = anchor.trusted_keys
        self._floor: tuple[int, datetime] | None = None
        self._current: VerifiedGlobalConf | None = None

    @property
    def trusted_keys(self) -> dict[str, SigningKey]:
        """The keys the next document must be signed with (anchor's, then §2 ``signing_keys``)."""
        return dict(self._trusted)

    @property
    def rollback_floor(self) -> tuple[int, datetime] | None:
        """``(version, issued_at)`` of the last accepted document (§4 step 5)."""
        return self._floor

    # --- reading ------------------------------------------------------------------------------

    def current(self, at: datetime | None = None) -> VerifiedGlobalConf:
        """The configuration in use; :class:`GlobalConfExpired` once it has expired."""
        if self._current is None:
            raise GlobalConfError("no global configuration yet")
        now = at if at is not None else self._clock()
        conf = self._current.conf
        if now >= conf.expires_at:
            raise GlobalConfExpired(
                f"global configuration version {conf.version} expired at"
                f" {format_rfc3339(conf.expires_at)}"
            )
        return self._current

    # --- the cache ----------------------------------------------------------------------------

    def load_cached(self) -> VerifiedGlobalConf | None:
        """Restore trusted keys, rollback floor and (if still valid) the cached copy.

        A corrupt or foreign cache is ignored with a warning: the client then starts
        from the anchor, as on first start.
        """
        state = self._read_state()
        verify_keys = dict(self.anchor.trusted_keys)
        if state is not None:
            self._floor = (state.last_version, state.last_issued_at)
            if state.anchor_generated_at >= self.anchor.generated_at:
                self._trusted = {k.key_id: k for k in state.trusted_keys}
                # The cached copy was verified by ``verified_by``; if we crashed between
                # writing it and the state file, by ``trusted_keys``.
                verify_keys = {k.key_id: k for k in (*state.verified_by, *state.trusted_keys)}
            else:
                # The operator installed a newer anchor: its keys replace what we learnt,
                # the rollback floor stays.
                log.info("anchor is newer than the cache; trusting the anchor's keys")
        try:
            raw = (self.cache_dir / CONF_FILE).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            log.warning("cannot read cached globalconf; ignoring it", error=str(e))
            return None
        try:
            verified = verify_globalconf(
                raw,
                trusted_keys=verify_keys,
                instance=self.anchor.instance,
                at=self._clock(),
                last=self._floor,
            )
        except GlobalConfExpired as e:
            log.warning("cached globalconf has expired", error=str(e))
            return None
        except GlobalConfError as e:
            log.warning("cached globalconf is not valid; ignoring it", error=str(e))
            return None
        self._adopt(verified)
        log.info("loaded cached globalconf", version=verified.conf.version)
        return verified

    def _read_state(self) -> ClientState | None:
        path = self.cache_dir / STATE_FILE
        try:
            state = parse_state(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, InvalidRequest) as e:
            log.warning(
                "confclient state file is unusable; ignoring it", path=str(path), error=str(e)
            )
            return None
        if state.instance != self.anchor.instance:
            log.warning("confclient state is for another instance; ignoring it", path=str(path))
            return None
        return state

    def _persist(self, verified: VerifiedGlobalConf) -> None:
        """§4 step (7): the raw envelope first, then the state that depends on it."""
        conf = verified.conf
        state = ClientState(
            instance=conf.instance,
            anchor_generated_at=self.anchor.generated_at,
            trusted_keys=conf.signing_keys,
            verified_by=tuple(self._trusted[k] for k in verified.key_ids),
            last_version=conf.version,
            last_issued_at=conf.issued_at,
        )
        try:
            if self._current is None or self._current.raw != verified.raw:
                atomic_write(self.cache_dir / CONF_FILE, verified.raw)
            atomic_write(self.cache_dir / STATE_FILE, encode_state(state))
        except OSError as e:
            raise ConfigurationError(
                f"cannot write the configuration cache in {self.cache_dir}: {e.strerror}"
            ) from e

    def _adopt(self, verified: VerifiedGlobalConf) -> None:
        self._current = verified
        self._trusted = verified.trusted_keys
        self._floor = (verified.conf.version, verified.conf.issued_at)

    # --- refreshing ---------------------------------------------------------------------------

    async def refresh(self) -> VerifiedGlobalConf:
        """Download from each anchor source in turn; the first that verifies wins (§4)."""
        at = self._clock()
        failures: list[tuple[str, SildError]] = []
        for url in self.anchor.sources:
            try:
                raw = await self._fetcher.fetch(url)
                verified = verify_globalconf(
                    raw,
                    trusted_keys=self._trusted,
                    instance=self.anchor.instance,
                    at=at,
                    last=self._floor,
                )
            except SildError as e:  # a bad document or an unreachable source: try the next
                log.warning("globalconf source failed", url=url, code=e.xroad_code, error=str(e))
                failures.append((url, e))
                continue
            # (7) persist atomically, then use it
            is_new = self._floor != (verified.conf.version, verified.conf.issued_at)
            self._persist(verified)
            self._adopt(verified)
            if is_new:
                log.info(
                    "globalconf accepted",
                    url=url,
                    version=verified.conf.version,
                    expires_at=format_rfc3339(verified.conf.expires_at),
                    key_ids=list(verified.key_ids),
                )
            return verified
        raise _most_relevant(failures)

    async def run(self, stop: asyncio.Event) -> None:
        """Refresh until ``stop`` is set; never dies on a bad document or a down registry."""
        failures = 0
        while not stop.is_set():
            try:
                verified = await self.refresh()
                failures = 0
                delay = verified.conf.refresh_interval * _rng.uniform(0.9, 1.0)
            except SildError as e:
                failures += 1
                delay = backoff_delay(failures, self._interval())
                log.warning(
                    "globalconf refresh failed",
                    code=e.xroad_code,
                    error=str(e),
                    failures=failures,
                    retry_in=round(delay, 1),
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)

    def _interval(self) -> float:
        if self._current is None:
            return DEFAULT_REFRESH_INTERVAL
        return float(self._current.conf.refresh_interval)


def _most_relevant(failures: list[tuple[str, SildError]]) -> SildError:
    """A source serving a bad document matters more than one that is down."""
    if not failures:
        return ConfigurationError("the anchor lists no configuration sources")
    url, err = next(((u, e) for u, e in failures if isinstance(e, GlobalConfError)), failures[0])
    if url in err.message:
        return err
    out = type(err)(f"{url}: {err.message}", **err.fields)
    out.__cause__ = err
    return out
