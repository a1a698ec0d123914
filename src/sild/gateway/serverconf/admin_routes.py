"""Management routes for services, access rights and local groups (docs/spec/access.md §7).

:func:`add_service_routes` mounts them on the gateway's admin API; the caller
mounts them under ``/api``. The routes call
the same :class:`~sild.gateway.serverconf.ServerConf` methods as the CLI. The web
shell (sild.web.shell) checks the credential and the body size first.

Identifiers contain ``/``, so they travel in JSON bodies and query parameters,
never in the path. Errors are X-Road style (research/xroad.md §2.2), by the one
mapper (sild.web.errors).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from sild.core.access import Endpoint, parse_subject
from sild.core.identifiers import ServiceId, SubsystemId, parse_client
from sild.errors import NotFound
from sild.gateway.serverconf.store import (
    DEFAULT_TIMEOUT,
    ServerConf,
    ServiceDescription,
    UnknownService,
)

__all__ = ["add_service_routes"]

log = structlog.get_logger("sild.gateway.admin")


class _NotFoundErrors(APIRoute):
    """On the management API an unknown service is a missing resource (404), not the
    exchange's ``Server.UnknownService``; every other error goes to the app's mapper."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except UnknownService as e:
                raise NotFound(e.message) from e

        return route


class ServiceIn(BaseModel):
    subsystem: str = Field(examples=["EE/GOV/70000001/registry"])
    code: str = Field(examples=["persons"])
    url: str = Field(examples=["https://is.example/api"])
    timeout: int = DEFAULT_TIMEOUT
    verify_tls: bool = True
    openapi: str | None = Field(default=None, description="OpenAPI 3 description, JSON or YAML")


class DisableIn(BaseModel):
    service: str = Field(examples=["EE/GOV/70000001/registry/persons"])
    notice: str = ""


class ServiceRef(BaseModel):
    service: str = Field(examples=["EE/GOV/70000001/registry/persons"])


class EndpointIn(BaseModel):
    service: str
    method: str = Field(examples=["GET"])
    path: str = Field(examples=["/persons/*"])


class RightIn(BaseModel):
    service: str
    subject: str = Field(examples=["EE/COM/12345678/shop", "group:EE/trusted", "local:partners"])
    endpoint: str | None = Field(default=None, examples=["GET /persons/*"])


class LocalGroupIn(BaseModel):
    subsystem: str
    code: str
    description: str = ""


class LocalGroupMemberIn(BaseModel):
    subsystem: str
    code: str
    client: str


def _rights_json(sc: ServerConf, service: ServiceId) -> list[dict[str, Any]]:
    return [{"subject_type": r.subject.object_type, "subject": str(r.subject),
             "endpoint": str(r.endpoint) if r.endpoint else None}
            for r in sc.access_rights(service)]


def _service_json(sc: ServerConf, d: ServiceDescription) -> dict[str, Any]:
    return {
        "id": str(d.id), "url": d.url, "timeout": d.timeout, "verify_tls": d.verify_tls,
        "disabled": d.disabled, "disabled_notice": d.disabled_notice,
        "service_type": d.service_type,
        "endpoints": [{"method": e.method, "path": e.path} for e in d.endpoints],
        "access_rights": _rights_json(sc, d.id),
    }


def _endpoint(text: str | None) -> Endpoint | None:
    return None if text is None else Endpoint.parse(text)


def add_service_routes(app: FastAPI, conf: ServerConf) -> None:
    """Mount ``/api/services``, ``/api/access-rights`` and ``/api/local-groups`` on ``app``."""
    # The credential is checked by the web shell before the body is read (sild.web.shell).
    r = APIRouter(prefix="/api", route_class=_NotFoundErrors)

    @r.get("/services", tags=["services"])
    def list_services(subsystem: str | None = None) -> list[dict[str, Any]]:
        sub = SubsystemId.parse(subsystem) if subsystem else None
        return [_service_json(conf, d) for d in conf.services(sub)]

    @r.post("/services", status_code=201, tags=["services"])
    def add_service(body: ServiceIn) -> dict[str, Any]:
        desc = conf.add_service(
            SubsystemId.parse(body.subsystem), body.code, body.url, timeout=body.timeout,
            verify_tls=body.verify_tls,
            openapi=body.openapi.encode() if body.openapi is not None else None)
        return _service_json(conf, desc)

    @r.delete("/services", tags=["services"])
    def remove_service(id: str) -> dict[str, Any]:
        conf.remove_service(ServiceId.parse(id))
        return {"removed": id}

    @r.post("/services/disable", tags=["services"])
    def disable(body: DisableIn) -> dict[str, Any]:
        service = ServiceId.parse(body.service)
        conf.set_disabled(service, True, notice=body.notice)
        return _service_json(conf, conf.service(service))

    @r.post("/services/enable", tags=["services"])
    def enable(body: ServiceRef) -> dict[str, Any]:
        service = ServiceId.parse(body.service)
        conf.set_disabled(service, False)
        return _service_json(conf, conf.service(service))

    @r.post("/services/endpoints", status_code=201, tags=["services"])
    def add_endpoint(body: EndpointIn) -> dict[str, Any]:
        service = ServiceId.parse(body.service)
        conf.add_endpoint(service, Endpoint(body.method, body.path))
        return _service_json(conf, conf.service(service))

    @r.get("/access-rights", tags=["access rights"])
    def list_rights(service: str) -> list[dict[str, Any]]:
        return _rights_json(conf, ServiceId.parse(service))

    @r.post("/access-rights", status_code=201, tags=["access rights"])
    def grant(body: RightIn) -> dict[str, Any]:
        service = ServiceId.parse(body.service)
        conf.grant(service, parse_subject(body.subject), _endpoint(body.endpoint))
        return _service_json(conf, conf.service(service))

    @r.delete("/access-rights", tags=["access rights"])
    def revoke(service: str, subject: str, endpoint: str | None = None) -> dict[str, Any]:
        sid = ServiceId.parse(service)
        conf.revoke(sid, parse_subject(subject), _endpoint(endpoint))
        return _service_json(conf, conf.service(sid))

    @r.get("/local-groups", tags=["local groups"])
    def list_local_groups(subsystem: str | None = None) -> list[dict[str, Any]]:
        sub = SubsystemId.parse(subsystem) if subsystem else None
        return [{"subsystem": str(g.subsystem), "code": g.code, "description": g.description,
                 "members": [str(m) for m in g.members]} for g in conf.local_groups(sub)]

    @r.post("/local-groups", status_code=201, tags=["local groups"])
    def add_local_group(body: LocalGroupIn) -> dict[str, Any]:
        conf.add_local_group(SubsystemId.parse(body.subsystem), body.code, body.description)
        return {"subsystem": body.subsystem, "code": body.code}

    @r.post("/local-groups/members", status_code=201, tags=["local groups"])
    def add_local_group_member(body: LocalGroupMemberIn) -> dict[str, Any]:
        client = parse_client(body.client)
        conf.add_local_group_member(SubsystemId.parse(body.subsystem), body.code, client)
        return {"subsystem": body.subsystem, "code": body.code, "client": str(client)}

    app.include_router(r)
