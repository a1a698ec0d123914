"""The consent service over HTTP, a Starlette app inside :class:`~sild.web.shell.Shell`
(docs/spec/consent.md §5).

Provider-facing (reached through the exchange, like any member subsystem):

==============================================  =========================================
``GET /v1/decision``                            §4: allow or deny a release of personal data
``GET /v1/jwks``                                the artefact signing key (RFC 7517 §5)
``GET /healthz``                                liveness (``{"status": "ok"}``)
``GET /v1/consents/{id}/status``                §3.3: the online status check
``POST /v1/consents``                           a consumer asks for consent (→ PENDING);
                                                the consumer is ``X-Road-Client``
==============================================  =========================================

Person-facing, for the portal; ``Authorization: Bearer <admin token>`` until the portal
brings a per-person subject assertion (§5.3):

==============================================  =========================================
``GET /v1/persons/{code}/locks``                current locks
``PUT|DELETE /v1/persons/{code}/locks/{cat}``   lock (body: except, expires) / unlock
``GET /v1/persons/{code}/history``              every lock and consent change
``GET|POST /v1/persons/{code}/consents``        list / grant (→ ACTIVE, signed)
``GET /v1/persons/{code}/consents/{id}``        one consent with its signed artefact
``POST /v1/persons/{code}/consents/{id}/{act}`` approve, reject, pause, resume, revoke
==============================================  =========================================

Errors answer the X-Road way (:func:`sild.web.errors.answer_for`). The store may block,
so each request runs the service in a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio.to_thread
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sild.consent.model import Action, parse_time
from sild.consent.service import ConsentService
from sild.errors import InvalidRequest, MissingHeader
from sild.web.shell import Shell, xroad_error_handlers

__all__ = ["DEFAULT_PORT", "MAX_BODY", "create_consent_app", "serve_consent"]

DEFAULT_PORT = 8483
MAX_BODY = 64 * 1024
_NO_STORE = {"Cache-Control": "no-store"}
_SINGLE = ("subject", "client", "purpose", "consent")
_ACTIONS = {a.value: a for a in Action if a is not Action.EXPIRE}


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, headers=_NO_STORE,
                    media_type="application/json")


async def _body(request: Request) -> dict[str, Any]:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise InvalidRequest("the body must be application/json")
    try:
        data = orjson.loads(await request.body())
    except orjson.JSONDecodeError as e:
        raise InvalidRequest("the body is not JSON") from e
    if not isinstance(data, dict):
        raise InvalidRequest("the body must be a JSON object")
    return data


def _expiry(value: object, what: str) -> Any:
    return None if value is None else parse_time(value, what)


def _consent_fields(data: dict[str, Any]) -> dict[str, Any]:
    """The consent detail of a request body (AA ConsentDetail names)."""
    unknown = set(data) - {"subject", "consumer", "purpose", "categories", "dataLife",
                           "consentStart", "consentExpiry"}
    if unknown:
        raise InvalidRequest(f"unknown field {sorted(unknown)[0]!r}")
    cats = data.get("categories")
    if not isinstance(cats, list):
        raise InvalidRequest("categories is a list of data categories")
    if "consentExpiry" not in data:
        raise InvalidRequest("consentExpiry is required")
    return {"purpose": data.get("purpose"), "categories": cats,
            "data_life": data.get("dataLife"),
            "start": _expiry(data.get("consentStart"), "consentStart"),
            "expiry": parse_time(data["consentExpiry"], "consentExpiry")}


def create_consent_app(service: ConsentService, *, admin_token: str) -> Shell:
    """The ASGI app: routes of the module docstring inside the Shell."""

    async def run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))

    # -- provider-facing ------------------------------------------------------------------

    async def decision(request: Request) -> Response:
        # (1) parameters: each once, categories repeatable, nothing else (§4 step 1)
        params: dict[str, str] = {}
        categories: list[str] = []
        for k, v in request.query_params.multi_items():
            if k == "category":
                categories.append(v)
            elif k in _SINGLE:
                if k in params:
                    raise InvalidRequest(f"parameter {k} given more than once")
                params[k] = v
            else:
                raise InvalidRequest(f"unknown parameter {k!r}")
        for k in ("subject", "client", "purpose"):
            if k not in params:
                raise InvalidRequest(f"parameter {k} is required")
        d = await run(service.decide, subject=params["subject"], categories=categories,
                      client=params["client"], purpose=params["purpose"],
                      consent=params.get("consent"))
        return _json(d.to_json())

    async def healthz(request: Request) -> Response:
        return _json({"status": "ok"})

    async def jwks(request: Request) -> Response:
        return JSONResponse(service.jwks(), headers={"Cache-Control": "max-age=300"})

    async def status(request: Request) -> Response:
        rec = await run(service.get, request.path_params["cid"])
        return _json({"consentId": rec.artefact.consent_id, "status": rec.status.value})

    async def consumer_request(request: Request) -> Response:
        client = request.headers.get("x-road-client")
        if not client:
            raise MissingHeader("X-Road-Client names the consumer asking for consent")
        data = await _body(request)
        rec = await run(service.request, subject=data.get("subject"), consumer=client,
                        **_consent_fields(data))
        return _json({"consentId": rec.artefact.consent_id, "status": rec.status.value}, 201)

    # -- person-facing (admin bearer token, checked by the Shell) ---------------------------

    def actor(request: Request) -> str:
        return f"person {request.path_params['code']} (via management API)"

    async def list_locks(request: Request) -> Response:
        found = await run(service.locks, request.path_params["code"])
        now = service.clock()
        return _json({"locks": [lk.to_json(now) for lk in found]})

    async def put_lock(request: Request) -> Response:
        data = await _body(request) if await request.body() else {}
        unknown = set(data) - {"except", "expires"}
        if unknown:
            raise InvalidRequest(f"unknown field {sorted(unknown)[0]!r}")
        named = data.get("except", [])
        if not isinstance(named, list):
            raise InvalidRequest("except is a list of X-Road client ids")
        lock = await run(service.lock, request.path_params["code"],
                         request.path_params["category"], exceptions=named,
                         expires_at=_expiry(data.get("expires"), "expires"),
                         actor=actor(request))
        return _json(lock.to_json())

    async def delete_lock(request: Request) -> Response:
        await run(service.unlock, request.path_params["code"], request.path_params["category"],
                  actor=actor(request))
        return Response(status_code=204)

    async def history(request: Request) -> Response:
        return _json({"events": await run(service.history, request.path_params["code"])})

    async def list_consents(request: Request) -> Response:
        found = await run(service.consents, request.path_params["code"])
        return _json({"consents": [c.to_json() for c in found]})

    async def grant(request: Request) -> Response:
        data = await _body(request)
        if "subject" in data:
            raise InvalidRequest("the person is the one in the path")
        rec = await run(service.grant, subject=request.path_params["code"],
                        consumer=data.get("consumer"), actor=actor(request),
                        **_consent_fields({k: v for k, v in data.items() if k != "consumer"}))
        return _json(rec.to_json(), 201)

    async def one_consent(request: Request) -> Response:
        rec = await run(service.get, request.path_params["cid"],
                        subject=request.path_params["code"])
        return _json(rec.to_json())

    async def act(request: Request) -> Response:
        action = _ACTIONS.get(request.path_params["action"])
        if action is None:
            raise InvalidRequest(f"no action {request.path_params['action'][:20]!r}; one of "
                                 f"{', '.join(_ACTIONS)}")
        rec = await run(service.transition, request.path_params["cid"], action,
                        actor=actor(request), subject=request.path_params["code"])
        return _json(rec.to_json())

    person = "/v1/persons/{code}"
    routes = [
        Route("/v1/decision", decision, methods=["GET"]),
        Route("/v1/jwks", jwks, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/v1/consents/{cid}/status", status, methods=["GET"]),
        Route("/v1/consents", consumer_request, methods=["POST"]),
        Route(f"{person}/locks", list_locks, methods=["GET"]),
        Route(f"{person}/locks/{{category}}", put_lock, methods=["PUT"]),
        Route(f"{person}/locks/{{category}}", delete_lock, methods=["DELETE"]),
        Route(f"{person}/history", history, methods=["GET"]),
        Route(f"{person}/consents", list_consents, methods=["GET"]),
        Route(f"{person}/consents", grant, methods=["POST"]),
        Route(f"{person}/consents/{{cid}}", one_consent, methods=["GET"]),
        Route(f"{person}/consents/{{cid}}/{{action}}", act, methods=["POST"]),
    ]
    app = Starlette(routes=routes, exception_handlers=xroad_error_handlers())
    return Shell(app, max_body=MAX_BODY, admin_token=admin_token,
                 admin_prefixes=("/v1/persons",))


async def serve_consent(app: Shell, host: str, port: int,
                        started: Callable[[str], None] | None = None) -> None:
    """Serve until cancelled (``sild consent serve``); ``started(url)`` once listening."""
    import asyncio
    import contextlib

    from sild.embedded import start_embedded

    server, task = await start_embedded(app, host, port)
    if started is not None:
        started(f"http://{host}:{port}")
    try:
        await asyncio.shield(task)
    finally:
        server.should_exit = True
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(task, 10)
