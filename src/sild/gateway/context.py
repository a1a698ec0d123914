"""Everything one gateway's request handlers share, and the small ports they use.

The message log and the service configuration are reached through the
:class:`LogPort` and :class:`AccessPort` protocols, so the pipeline can be unit
tested with in-memory doubles (STYLE.md rule 5) while integration tests and
``sild gateway serve`` use the real, database-backed ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sild.clock import Clock, precise_now
from sild.core.globalconf import GatewayEntry, GlobalConf, VerifiedGlobalConf
from sild.core.identifiers import ClientId, ServerId, ServiceId, SubsystemId
from sild.core.replay import ReplayCache
from sild.core.trust import TrustView
from sild.errors import GlobalConfError, GlobalConfExpired, ServiceUnavailable
from sild.gateway.admission import Ticket
from sild.gateway.config import GatewayLimits, TrackerSettings
from sild.gateway.messagelog.log import LogRecord
from sild.gateway.messagelog.opmon import OpMonRecord
from sild.gateway.messagelog.usage import UsageRecord
from sild.gateway.signer import SignKeys

__all__ = [
    "AccessPort",
    "ConfSource",
    "ConsentAnswer",
    "ConsentPort",
    "GatewayContext",
    "LogPort",
    "OpenApiText",
    "ServiceTarget",
    "StaticTarget",
]



class ServiceTarget(Protocol):
    """Where and how the provider gateway calls a service's information system."""

    @property
    def url(self) -> str: ...
    @property
    def timeout(self) -> float: ...
    @property
    def verify_tls(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class StaticTarget:
    """A :class:`ServiceTarget` given directly (tests, doubles)."""

    url: str
    timeout: float
    verify_tls: bool = True


class OpenApiText(Protocol):
    @property
    def text(self) -> str: ...
    @property
    def media_type(self) -> str: ...


class AccessPort(Protocol):
    """The provider side's service configuration (sild.gateway.serverconf.ServerConf)."""

    def check_access(self, service: ServiceId, client: ClientId, method: str, path: str,
                     conf: GlobalConf) -> ServiceTarget:
        """Raise AccessDenied / UnknownService / ServiceDisabled, else the target."""
        ...

    def list_methods(self, subsystem: SubsystemId) -> dict[str, Any]: ...

    def allowed_methods(self, subsystem: SubsystemId, client: ClientId,
                        conf: GlobalConf) -> dict[str, Any]: ...

    def openapi(self, subsystem: SubsystemId, service_code: str) -> OpenApiText: ...

    def wsdl(self, subsystem: SubsystemId, service_code: str,
             version: str | None = None) -> bytes: ...


class ConsentAnswer(Protocol):
    """A consent service's decision for one person (docs/spec/consent.md)."""

    @property
    def allowed(self) -> bool: ...
    @property
    def locked(self) -> tuple[str, ...]: ...  # the categories locked for this client
    @property
    def consent_id(self) -> str | None: ...
    @property
    def reason(self) -> str: ...


class ConsentPort(Protocol):
    """Where a provider gateway asks whether a person's data may be released
    (sild.consent.client.ConsentClient); raises a SildError when it cannot tell, and
    the gateway then fails closed (docs/spec/tracker.md §6)."""

    async def decide(self, subject: str, categories: tuple[str, ...], client: str,
                     purpose: str, consent: str | None) -> ConsentAnswer: ...


class ConfSource(Protocol):
    """Where the current verified global configuration comes from (sild.confclient)."""

    def current(self) -> VerifiedGlobalConf:
        """The configuration in use; GlobalConfExpired / GlobalConfError otherwise."""
        ...


class LogPort(Protocol):
    async def append(self, *records: LogRecord | OpMonRecord | UsageRecord) -> None:
        """Return once every record is durable (ARCHITECTURE.md §4 durability rule)."""
        ...


@dataclass
class GatewayContext:
    server: ServerId
    limits: GatewayLimits
    keys: SignKeys
    confclient: ConfSource
    log: LogPort
    access: AccessPort
    log_body: str = "full"
    clock: Clock = precise_now  # the one clock of this gateway
    maintenance: bool = False
    # client → registered IS certificate fingerprints when the IS port is HTTPS, else None
    is_clients: Mapping[ClientId, frozenset[str]] | None = None
    replay: ReplayCache = field(init=False)
    _view: TrustView | None = field(default=None, init=False)
    started: float = field(default_factory=time.time)
    # Raises TimestampingFailed when anchoring is overdue (sild.gateway.anchoring.anchorer, §4.3).
    anchoring_check: Callable[[], None] | None = None
    tracker: TrackerSettings = field(default_factory=TrackerSettings)
    consent: ConsentPort | None = None  # None: no consent service, locks not enforced
    # The OpenID provider's JWKS for Sild-Subject-Assertion; None: not accepted.
    assertion_keys: Mapping[str, Any] | None = None
    # The replay window shared with the gateway's other nodes (sild.gateway.replay_shared;
    # PostgreSQL); None: the per-node ReplayCache alone.
    shared_replay: Any | None = None
    # Trades a request's admission ticket for one of the named client's (Gate.trade on
    # the IS port: SOAP clients are known only once the body is read); None: no limits.
    admit_client: Callable[[Ticket, str], Ticket] | None = None

    def __post_init__(self) -> None:
        self.replay = ReplayCache(self.limits.freshness)

    def trust(self) -> TrustView:
        """The current trust view; OutdatedGlobalConf when there is no valid configuration."""
        try:
            verified = self.confclient.current()
        except GlobalConfExpired:
            raise
        except GlobalConfError as e:  # e.g. none yet: the gateway fails closed all the same
            raise GlobalConfExpired(f"no valid global configuration: {e}") from e
        view = self._view
        if view is None or view.verified is not verified:
            view = TrustView(verified)
            self._view = view
        return view

    def own_entry(self, view: TrustView) -> GatewayEntry:
        entry = view.conf.gateway(self.server)
        if entry is None:
            raise GlobalConfError(f"this gateway ({self.server}) is not in global configuration")
        return entry

    def check_open(self) -> None:
        if self.maintenance:
            raise ServiceUnavailable("gateway is in maintenance mode")
        if self.anchoring_check is not None:
            self.anchoring_check()
