"""The registry's HTTP interface (FastAPI: a management API whose OpenAPI matters).

Public, no credential:

* ``GET  /globalconf``          the signed global configuration (docs/spec/globalconf.md §3)
* ``POST /requests``            submit a signed registration request (body: the envelope)
* ``GET  /requests/{id}``       the state of a request
* ``GET  /healthz``             200 when the newest configuration passed the publisher's
                                self-check and is served; otherwise 500 with the reason
                                (docs/spec/globalconf.md §5, docs/operations.md)

Management, ``Authorization: Bearer <registry/admin-token>``: everything under
``/api/…``; OpenAPI at ``/openapi.json``, docs at ``/docs``.

Errors are X-Road style: header ``X-Road-Error`` and a JSON body
``{"type", "message", "detail"}`` (research/xroad.md §2.2).
"""

from __future__ import annotations

import contextlib
import hmac
import uuid
from typing import Annotated, Any

import structlog
from fastapi import Body, Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from sild import __version__
from sild.core.identifiers import GlobalGroupId, MemberId, SubsystemId, parse_client
from sild.errors import InvalidRequest, SildError
from sild.registry.publisher import Publisher
from sild.registry.requests import MAX_REQUEST_SIZE
from sild.registry.service import Registry, Removal, RequestRow
from sild.registry.workflow import Action, State

__all__ = ["create_app"]

log = structlog.get_logger("sild.registry")

GLOBALCONF_MEDIA_TYPE = "application/vnd.sild.globalconf+dsse+json"


def error_response(code: str, message: str, status: int) -> JSONResponse:
    detail = str(uuid.uuid4())
    return JSONResponse(
        {"type": code, "message": message, "detail": detail},
        status_code=status,
        headers={"X-Road-Error": code},
    )


class MemberIn(BaseModel):
    id: str = Field(examples=["EE/GOV/70000562"])
    name: str


class SubsystemIn(BaseModel):
    id: str = Field(examples=["EE/GOV/70000562/rr"])


class MemberEditIn(BaseModel):
    name: str


class GroupIn(BaseModel):
    id: str = Field(examples=["EE/security-servers"])
    description: str | None = Field(
        default=None, description="1-1024 characters; the group code when left out")


class GroupEditIn(BaseModel):
    description: str


class GroupMemberIn(BaseModel):
    client: str


class RevocationIn(BaseModel):
    ca_fingerprint: str
    serial: str
    reason: str = ""


class DecisionIn(BaseModel):
    reason: str = ""


def _removal_json(r: Removal) -> dict[str, Any]:
    return {
        "subsystems": list(r.subsystems), "gateways": list(r.gateways),
        "hostings": [{"gateway": g, "client": c} for g, c in r.hostings],
        "group_memberships": [{"group": g, "client": c} for g, c in r.group_memberships],
    }


def _request_json(r: RequestRow) -> dict[str, Any]:
    return {
        "id": r.id, "kind": r.kind, "server": r.server_id, "client": r.client_id,
        "address": r.address, "state": r.state,
        "submitted_at": r.submitted_at.isoformat(),
        "decided_at": r.decided_at.isoformat() if r.decided_at else None,
        "reason": r.reason,
    }


def create_app(registry: Registry, publisher: Publisher, admin_token: str) -> FastAPI:
    app = FastAPI(title="Sild registry", version=__version__,
                  description="Members, gateways and the signed global configuration.")

    @app.exception_handler(SildError)
    async def sild_error(_: Request, e: SildError) -> JSONResponse:
        log.info("request_failed", code=e.xroad_code, message=e.message)
        return error_response(e.xroad_code, e.message, e.http_status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, e: RequestValidationError) -> JSONResponse:
        first = e.errors()[0] if e.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error_response("Client.BadRequest", f"{where}: {first.get('msg', 'invalid')}", 400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, e: StarletteHTTPException) -> JSONResponse:
        code = "Client.Unauthorized" if e.status_code == 401 else (
            "Client.NotFound" if e.status_code == 404 else "Client.BadRequest")
        return error_response(code, str(e.detail), e.status_code)

    def admin(authorization: Annotated[str | None, Header()] = None) -> None:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), admin_token.encode()
        ):
            raise StarletteHTTPException(401, "admin credential missing or wrong")

    # -- public ------------------------------------------------------------------

    @app.get("/globalconf", response_class=Response, tags=["public"])
    def globalconf() -> Response:
        """The current signed global configuration (DSSE envelope)."""
        return Response(publisher.current(), media_type=GLOBALCONF_MEDIA_TYPE,
                        headers={"Cache-Control": "no-cache"})

    @app.post("/requests", status_code=202, tags=["public"])
    async def submit(request: Request) -> dict[str, Any]:
        """Submit a signed registration request (a gateway, or a client on a gateway)."""
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_REQUEST_SIZE:
                raise InvalidRequest(f"request body is larger than {MAX_REQUEST_SIZE} bytes")
        row = registry.submit(bytes(body))
        log.info("request_submitted", id=row.id, kind=row.kind, server=row.server_id)
        return _request_json(row)

    @app.get("/requests/{request_id}", tags=["public"])
    def request_state(request_id: int) -> dict[str, Any]:
        """The state of a request; the details are for administrators (/api/requests)."""
        r = registry.request(request_id)
        return {"id": r.id, "kind": r.kind, "state": r.state, "reason": r.reason}

    @app.get("/healthz", tags=["public"], responses={500: {"description": "not healthy"}})
    def healthz() -> JSONResponse:
        """200 while the newest configuration is published; 500 with the reason when it
        failed its self-check (the last good one is then still served) or none can be."""
        with contextlib.suppress(SildError):
            publisher.current()  # rebuilds if due: the answer is about now
        problem = publisher.problem
        if problem is not None:
            return JSONResponse({"status": "failing", "reason": problem,
                                 "serving_version": publisher.serving_version},
                                status_code=500)
        return JSONResponse({"status": "ok", "version": publisher.serving_version})

    # -- management --------------------------------------------------------------

    guarded = [Depends(admin)]

    @app.get("/api/members", dependencies=guarded, tags=["members"])
    def list_members() -> list[dict[str, Any]]:
        return [{"id": m, "name": n, "subsystems": s} for m, n, s in registry.members()]

    @app.post("/api/members", dependencies=guarded, status_code=201, tags=["members"])
    def add_member(body: MemberIn) -> dict[str, Any]:
        registry.add_member(MemberId.parse(body.id), body.name)
        return {"id": body.id, "version": registry.version()}

    @app.patch("/api/members/{member_id:path}", dependencies=guarded, tags=["members"])
    def edit_member(member_id: str, body: MemberEditIn) -> dict[str, Any]:
        """Rename a member."""
        registry.edit_member(MemberId.parse(member_id), body.name)
        return {"id": member_id, "version": registry.version()}

    @app.delete("/api/members/{member_id:path}", dependencies=guarded, tags=["members"])
    def remove_member(member_id: str, cascade: bool = False) -> dict[str, Any]:
        """Remove a member; one with subsystems or gateways only with ``cascade=true``."""
        removal = registry.remove_member(MemberId.parse(member_id), cascade=cascade)
        return {"id": member_id, "version": registry.version(), "removed": _removal_json(removal)}

    @app.post("/api/subsystems", dependencies=guarded, status_code=201, tags=["members"])
    def add_subsystem(body: SubsystemIn) -> dict[str, Any]:
        registry.add_subsystem(SubsystemId.parse(body.id))
        return {"id": body.id, "version": registry.version()}

    @app.delete("/api/subsystems/{subsystem_id:path}", dependencies=guarded, tags=["members"])
    def remove_subsystem(subsystem_id: str, cascade: bool = False) -> dict[str, Any]:
        """Remove a subsystem; one hosted on a gateway only with ``cascade=true``."""
        removal = registry.remove_subsystem(SubsystemId.parse(subsystem_id), cascade=cascade)
        return {"id": subsystem_id, "version": registry.version(),
                "removed": _removal_json(removal)}

    @app.get("/api/gateways", dependencies=guarded, tags=["gateways"])
    def list_gateways() -> list[dict[str, Any]]:
        return [{"id": g.id, "address": g.address, "auth_fingerprint": g.auth_fingerprint,
                 "clients": list(g.clients)} for g in registry.gateways()]

    @app.get("/api/requests", dependencies=guarded, tags=["requests"])
    def list_requests(state: State | None = None) -> list[dict[str, Any]]:
        return [_request_json(r) for r in registry.requests(state)]

    @app.post("/api/requests/{request_id}/approve", dependencies=guarded, tags=["requests"])
    def approve(request_id: int) -> dict[str, Any]:
        return _request_json(registry.decide(request_id, Action.APPROVE))

    @app.post("/api/requests/{request_id}/reject", dependencies=guarded, tags=["requests"])
    def reject(request_id: int,
               body: Annotated[DecisionIn | None, Body()] = None) -> dict[str, Any]:
        reason = body.reason if body else ""
        return _request_json(registry.decide(request_id, Action.REJECT, reason=reason))

    @app.get("/api/groups", dependencies=guarded, tags=["groups"])
    def list_groups() -> list[dict[str, Any]]:
        return [{"id": g, "description": d, "members": m} for g, d, m in registry.groups()]

    @app.post("/api/groups", dependencies=guarded, status_code=201, tags=["groups"])
    def add_group(body: GroupIn) -> dict[str, Any]:
        registry.add_group(GlobalGroupId.parse(body.id), body.description)
        return {"id": body.id, "version": registry.version()}

    @app.patch("/api/groups/{instance}/{code}", dependencies=guarded, tags=["groups"])
    def edit_group(instance: str, code: str, body: GroupEditIn) -> dict[str, Any]:
        """Change a global group's description."""
        registry.edit_group(GlobalGroupId(instance, code), body.description)
        return {"version": registry.version()}

    @app.delete("/api/groups/{instance}/{code}", dependencies=guarded, tags=["groups"])
    def remove_group(instance: str, code: str) -> dict[str, Any]:
        """Remove a global group and its memberships."""
        removal = registry.remove_group(GlobalGroupId(instance, code))
        return {"version": registry.version(), "removed": _removal_json(removal)}

    @app.post("/api/groups/{instance}/{code}/members", dependencies=guarded, tags=["groups"])
    def group_add(instance: str, code: str, body: GroupMemberIn) -> dict[str, Any]:
        registry.group_add(GlobalGroupId(instance, code), parse_client(body.client))
        return {"version": registry.version()}

    @app.delete("/api/groups/{instance}/{code}/members/{client:path}", dependencies=guarded,
                tags=["groups"])
    def group_remove(instance: str, code: str, client: str) -> dict[str, Any]:
        registry.group_remove(GlobalGroupId(instance, code), parse_client(client))
        return {"version": registry.version()}

    @app.post("/api/revocations", dependencies=guarded, status_code=201, tags=["cas"])
    def revoke(body: RevocationIn) -> dict[str, Any]:
        registry.revoke(body.ca_fingerprint, body.serial, reason=body.reason)
        return {"version": registry.version()}

    @app.get("/api/config-keys", dependencies=guarded, tags=["configuration"])
    def config_keys() -> list[dict[str, Any]]:
        return [{"key_id": k, "status": s, "created_at": c.isoformat()}
                for k, s, c in registry.config_keys()]

    @app.get("/api/status", dependencies=guarded, tags=["configuration"])
    def status() -> dict[str, Any]:
        return {"instance": registry.instance, "version": registry.version(),
                "pending_requests": len(registry.requests(State.SUBMITTED))}

    return app
