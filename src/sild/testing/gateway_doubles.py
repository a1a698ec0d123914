"""In-memory doubles of the gateway's ports (STYLE.md rule 5): a message log that keeps
records in a list, and an access policy from a dict. For unit tests of the pipeline;
integration tests use the database-backed ones."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from sild.core.globalconf import GlobalConf
from sild.core.identifiers import ClientId, ServiceId, SubsystemId
from sild.errors import AccessDenied, StorageError, UnknownClient, UnknownService
from sild.gateway.context import ServiceTarget

__all__ = ["MemoryAccess", "MemoryLog"]


@dataclass
class MemoryLog:
    records: list[Any] = field(default_factory=list)
    fail: bool = False
    delay: float = 0.0

    async def append(self, *records: Any) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail:
            raise StorageError("message log unavailable (test double set to fail)")
        self.records.extend(records)


@dataclass
class MemoryAccess:
    """Services by id and the clients allowed to call each (no endpoint rules)."""

    services: dict[ServiceId, ServiceTarget] = field(default_factory=dict)
    allowed: dict[ServiceId, set[ClientId]] = field(default_factory=dict)

    def check_access(self, service: ServiceId, client: ClientId, method: str, path: str,
                     conf: GlobalConf) -> ServiceTarget:
        target = self.services.get(service)
        if target is None or client not in self.allowed.get(service, set()):
            raise AccessDenied(f"Request is not allowed: SERVICE:{service}")
        return target

    def list_methods(self, subsystem: SubsystemId) -> dict[str, Any]:
        return {"service": [{"service_code": s.service_code} for s in sorted(self.services)
                            if s.subsystem == subsystem]}

    def allowed_methods(self, subsystem: SubsystemId, client: ClientId,
                        conf: GlobalConf) -> dict[str, Any]:
        return {"service": [{"service_code": s.service_code} for s in sorted(self.services)
                            if s.subsystem == subsystem and client in self.allowed.get(s, ())]}

    def openapi(self, subsystem: SubsystemId, service_code: str) -> StaticOpenApi:
        raise UnknownClient(f"no OpenAPI description for {subsystem}/{service_code}")

    def wsdl(self, subsystem: SubsystemId, service_code: str,
             version: str | None = None) -> bytes:
        raise UnknownService(f"Unknown service: SERVICE:{subsystem}/{service_code}")


@dataclass(frozen=True)
class StaticOpenApi:
    text: str
    media_type: str
