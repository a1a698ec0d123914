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
from typing import Annotated, Any

import structlog
from fastapi import Body, FastAPI, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from sild import __version__
from sild.core.identifiers import GlobalGroupId, MemberId, SubsystemId, parse_client
from sild.errors import InvalidRequest, SildError
from sild.registry.publisher import Publisher
from sild.registry.requests import MAX_REQUEST_SIZE
from sild.registry.service import MAX_REQUEST_ID, Registry, Removal, RequestRow
from sild.registry.workflow import Action, State
from sild.web.shell import Shell, install_fastapi_errors

# A request id is a database row id, an INTEGER column: 1 .. 2^31 - 1 (PostgreSQL's
# INTEGER). A larger number is a clear 400, not an overflow in the driver (issue 12; on
# PostgreSQL 2^31 was a 500, on SQLite 2^63).
RequestIdPath = Annotated[int, Path(ge=1, le=MAX_REQUEST_ID, description="a request id")]

__all__ = ["create_app"]

log = structlog.get_logger("sild.registry")

GLOBALCONF_MEDIA_TYPE = "application/vnd.sild.globalconf+dsse+json"



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


def create_app(registry: Registry, publisher: Publisher, admin_token: str) -> Shell:
    app = FastAPI(title="Sild registry", version=__version__,
                  description="Members, gateways and the signed global configuration.")

    install_fastapi_errors(app)  # the one mapper (sild.web.errors)

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
    def request_state(request_id: RequestIdPath) -> dict[str, Any]:
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

    # /api/… needs the admin credential: the web shell checks it before any body is read.

    @app.get("/api/members", tags=["members"])
    def list_members() -> list[dict[str, Any]]:
        return [{"id": m, "name": n, "subsystems": s} for m, n, s in registry.members()]

    @app.post("/api/members", status_code=201, tags=["members"])
    def add_member(body: MemberIn) -> dict[str, Any]:
        registry.add_member(MemberId.parse(body.id), body.name)
        return {"id": body.id, "version": registry.version()}

    @app.patch("/api/members/{member_id:path}", tags=["members"])
    def edit_member(member_id: str, body: MemberEditIn) -> dict[str, Any]:
        """Rename a member."""
        registry.edit_member(MemberId.parse(member_id), body.name)
        return {"id": member_id, "version": registry.version()}

    @app.delete("/api/members/{member_id:path}", tags=["members"])
    def remove_member(member_id: str, cascade: bool = False) -> dict[str, Any]:
        """Remove a member; one with subsystems or gateways only with ``cascade=true``."""
        removal = registry.remove_member(MemberId.parse(member_id), cascade=cascade)
        return {"id": member_id, "version": registry.version(), "removed": _removal_json(removal)}

    @app.post("/api/subsystems", status_code=201, tags=["members"])
    def add_subsystem(body: SubsystemIn) -> dict[str, Any]:
        registry.add_subsystem(SubsystemId.parse(body.id))
        return {"id": body.id, "version": registry.version()}

    @app.delete("/api/subsystems/{subsystem_id:path}", tags=["members"])
    def remove_subsystem(subsystem_id: str, cascade: bool = False) -> dict[str, Any]:
        """Remove a subsystem; one hosted on a gateway only with ``cascade=true``."""
        removal = registry.remove_subsystem(SubsystemId.parse(subsystem_id), cascade=cascade)
        return {"id": subsystem_id, "version": registry.version(),
                "removed": _removal_json(removal)}

    @app.get("/api/gateways", tags=["gateways"])
    def list_gateways() -> list[dict[str, Any]]:
        return [{"id": g.id, "address": g.address, "auth_fingerprint": g.auth_fingerprint,
                 "clients": list(g.clients)} for g in registry.gateways()]

    @app.get("/api/requests", tags=["requests"])
    def list_requests(state: State | None = None) -> list[dict[str, Any]]:
        return [_request_json(r) for r in registry.requests(state)]

    @app.post("/api/requests/{request_id}/approve", tags=["requests"])
    def approve(request_id: RequestIdPath) -> dict[str, Any]:
        return _request_json(registry.decide(request_id, Action.APPROVE))

    @app.post("/api/requests/{request_id}/reject", tags=["requests"])
    def reject(request_id: RequestIdPath,
               body: Annotated[DecisionIn | None, Body()] = None) -> dict[str, Any]:
        reason = body.reason if body else ""
        return _request_json(registry.decide(request_id, Action.REJECT, reason=reason))

    @app.get("/api/groups", tags=["groups"])
    def list_groups() -> list[dict[str, Any]]:
        return [{"id": g, "description": d, "members": m} for g, d, m in registry.groups()]

    @app.post("/api/groups", status_code=201, tags=["groups"])
    def add_group(body: GroupIn) -> dict[str, Any]:
        registry.add_group(GlobalGroupId.parse(body.id), body.description)
        return {"id": body.id, "version": registry.version()}

    @app.patch("/api/groups/{instance}/{code}", tags=["groups"])
    def edit_group(instance: str, code: str, body: GroupEditIn) -> dict[str, Any]:
        """Change a global group's description."""
        registry.edit_group(GlobalGroupId(instance, code), body.description)
        return {"version": registry.version()}

    @app.delete("/api/groups/{instance}/{code}", tags=["groups"])
    def remove_group(instance: str, code: str) -> dict[str, Any]:
        """Remove a global group and its memberships."""
        removal = registry.remove_group(GlobalGroupId(instance, code))
        return {"version": registry.version(), "removed": _removal_json(removal)}

    @app.post("/api/groups/{instance}/{code}/members", tags=["groups"])
    def group_add(instance: str, code: str, body: GroupMemberIn) -> dict[str, Any]:
        registry.group_add(GlobalGroupId(instance, code), parse_client(body.client))
        return {"version": registry.version()}

    @app.delete("/api/groups/{instance}/{code}/members/{client:path}",
                tags=["groups"])
    def group_remove(instance: str, code: str, client: str) -> dict[str, Any]:
        registry.group_remove(GlobalGroupId(instance, code), parse_client(client))
        return {"version": registry.version()}

    @app.post("/api/revocations", status_code=201, tags=["cas"])
    def revoke(body: RevocationIn) -> dict[str, Any]:
        registry.revoke(body.ca_fingerprint, body.serial, reason=body.reason)
        return {"version": registry.version()}

    @app.get("/api/config-keys", tags=["configuration"])
    def config_keys() -> list[dict[str, Any]]:
        return [{"key_id": k, "status": s, "created_at": c.isoformat()}
                for k, s, c in registry.config_keys()]

    @app.get("/api/status", tags=["configuration"])
    def status() -> dict[str, Any]:
        return {"instance": registry.instance, "version": registry.version(),
                "pending_requests": len(registry.requests(State.SUBMITTED))}

    # Registration requests are the largest bodies (MAX_REQUEST_SIZE); the rest is JSON.
    return Shell(app, max_body=MAX_REQUEST_SIZE + 64 * 1024, admin_token=admin_token,
                 admin_prefixes=("/api/",))
