"""Everything one gateway's request handlers share, and the small ports they use.

The message log and the service configuration are reached through the
:class:`LogPort` and :class:`AccessPort` protocols, so the pipeline can be unit
tested with in-memory doubles (STYLE.md rule 5) while integration tests and
``sild gateway serve`` use the real, database-backed ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sild.confclient import ConfClient
from sild.core.globalconf import GatewayEntry, GlobalConf
from sild.core.identifiers import ClientId, ServerId, ServiceId
from sild.core.timefmt import utc_now
from sild.errors import GlobalConfError, GlobalConfExpired, ServiceUnavailable
from sild.gateway.config import GatewayLimits
from sild.gateway.replay import ReplayCache
from sild.gateway.signer import SignKeys
from sild.gateway.trust import TrustView

__all__ = [
    "AccessPort",
    "ExchangeRecord",
    "GatewayContext",
    "LogPort",
    "OpMonEntry",
    "ServiceTarget",
]


@dataclass(frozen=True, slots=True)
class ExchangeRecord:
    """One signed message as the message log keeps it (X-Road messagelog ``logrecord``)."""

    side: str  # "consumer" | "provider"
    kind: str  # "request" | "response"
    at: datetime
    message_id: str
    request_id: str
    client: str
    service: str
    header: bytes  # the canonical signed header (RequestHeader / ResponseHeader bytes)
    signature: bytes
    signer_certificate: bytes  # DER
    body: bytes
    status: int | None = None


@dataclass(frozen=True, slots=True)
class OpMonEntry:
    """One operational-monitoring record (research/xroad.md §4.3)."""

    side: str  # "Client" (consumer) | "Producer" (provider), as X-Road names them
    request_in: datetime
    request_out: datetime | None
    response_in: datetime | None
    response_out: datetime
    client: str
    service: str
    method: str
    path: str
    message_id: str
    request_id: str
    user_id: str
    issue: str
    client_gateway: str
    service_gateway: str
    request_size: int
    response_size: int
    succeeded: bool
    status: int
    fault_code: str = ""
    fault_string: str = ""


@dataclass(frozen=True, slots=True)
class ServiceTarget:
    """Where and how the provider gateway calls a service's information system."""

    url: str
    timeout: float
    verify_tls: bool = True


class AccessPort(Protocol):
    def check_access(self, service: ServiceId, client: ClientId, method: str, path: str,
                     conf: GlobalConf) -> ServiceTarget:
        """Raise AccessDenied / unknown-service errors, else where to send the request."""
        ...

    def metaservice(self, service: ServiceId, client: ClientId, query: str,
                    conf: GlobalConf) -> tuple[int, str, bytes]:
        """Answer listMethods / allowedMethods / getOpenAPI: (status, content type, body)."""
        ...


class LogPort(Protocol):
    async def append(self, *records: Any) -> None:
        """Return once every record is durable (ARCHITECTURE.md §4 durability rule)."""
        ...


@dataclass
class GatewayContext:
    server: ServerId
    limits: GatewayLimits
    keys: SignKeys
    confclient: ConfClient
    log: LogPort
    access: AccessPort
    log_body: str = "full"
    clock: Callable[[], datetime] = utc_now
    maintenance: bool = False
    replay: ReplayCache = field(init=False)
    _view: TrustView | None = field(default=None, init=False)
    started: float = field(default_factory=time.time)

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
