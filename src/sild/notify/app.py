"""The notification service over HTTP, a Starlette app inside :class:`~sild.web.shell.Shell`
(docs/spec/notify.md §4).

Provider-facing (a member subsystem reached through the exchange):

==============================================  =========================================
``POST /v1/events``                             §4.2: a batch of usage events from a
                                                provider gateway; ``X-Road-Client`` names
                                                the sender; idempotent by event id
``GET /healthz``                                liveness and delivery counts
==============================================  =========================================

Person-facing, for the portal; ``Authorization: Bearer <admin token>`` until the portal
brings per-person authentication (§4.3):

================================================  =======================================
``GET|POST /v1/persons/{code}/subscriptions``     list / subscribe (webhook or inbox)
``DELETE /v1/persons/{code}/subscriptions/{id}``  unsubscribe
``GET /v1/persons/{code}/inbox``                  inbox notices (``unread``, ``offset``,
                                                  ``limit``)
``POST /v1/persons/{code}/inbox/read``            mark notices read (``{"ids": […]}`` or
                                                  ``{}`` for all)
``GET /v1/persons/{code}/deliveries``             webhook delivery status (``state``)
================================================  =======================================

The app's lifespan runs the delivery worker (:mod:`sild.notify.delivery`); a stored
batch wakes it, so a notice leaves within milliseconds of its event's arrival.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio.to_thread
import orjson
import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sild.core.identifiers import parse_client
from sild.errors import (
    BatchTooLarge,
    InvalidRequest,
    MissingHeader,
    SildError,
)
from sild.notify.delivery import DeliveryWorker
from sild.notify.model import parse_event
from sild.notify.store import NotifyStore
from sild.web.shell import Shell, xroad_error_handlers

__all__ = ["DEFAULT_PORT", "create_notify_app", "serve_notify"]

log = structlog.get_logger("sild.notify")

DEFAULT_PORT = 8485
MAX_PAGE = 1000
_NO_STORE = {"Cache-Control": "no-store"}


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, headers=_NO_STORE,
                    media_type="application/json")


async def _body(request: Request) -> Any:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise InvalidRequest("the body must be application/json")
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError as e:
        raise InvalidRequest("the body is not JSON") from e


def _int(request: Request, name: str, default: int, high: int) -> int:
    values = request.query_params.getlist(name)
    if not values:
        return default
    text = values[0]
    if len(values) > 1 or not text.isascii() or not text.isdigit() or len(text) > 10 \
            or int(text) > high:
        raise InvalidRequest(f"{name} must be a whole number from 0 to {high}")
    return int(text)


def _flag(request: Request, name: str) -> bool:
    text = request.query_params.get(name, "false").lower()
    if text not in ("true", "false", "1", "0"):
        raise InvalidRequest(f"{name} is true or false")
    return text in ("true", "1")


def create_notify_app(store: NotifyStore, *, admin_token: str,
                      worker: DeliveryWorker | None = None) -> Shell:
    """The ASGI app; with ``worker``, its lifespan starts and stops the worker."""
    limits = store.limits

    async def run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))

    # -- §4.2 provider-facing ------------------------------------------------------------

    async def events(request: Request) -> Response:
        # (1) the sender: the gateway's client, as the provider gateway passes it on
        sender_text = request.headers.get("x-road-client")
        if not sender_text:
            raise MissingHeader("X-Road-Client names the gateway's client sending events")
        try:
            sender = parse_client(sender_text)
        except SildError as e:
            raise InvalidRequest(f"X-Road-Client is malformed: {e.message}") from e
        # (2) the batch: an object with a list of at most max_batch events
        data = await _body(request)
        if not isinstance(data, dict) or set(data) != {"events"} \
                or not isinstance(data["events"], list):
            raise InvalidRequest('the body is {"events": [ … ]}')
        if len(data["events"]) > limits.max_batch:
            raise BatchTooLarge(f"{len(data['events'])} events in one batch; at most "
                                f"{limits.max_batch}")
        # (3) each event on its own: a bad one is reported, the others are stored
        good, rejected = [], []
        for raw in data["events"]:
            try:
                ev = parse_event(raw)
                # a member reports the use of its own registers only
                if parse_client(ev.register).member != sender.member:
                    raise InvalidRequest(f"{sender} may not report events of {ev.register}")
                good.append(ev)
            except SildError as e:
                rid = raw.get("id") if isinstance(raw, dict) else None
                rejected.append({"id": rid if isinstance(rid, str) else None,
                                 "type": e.xroad_code, "message": e.message[:300]})
        # (4) stored once each, deliveries made in the same transaction; wake the worker
        accepted, duplicates = await run(store.add_events, good) if good else (0, 0)
        if accepted and worker is not None:
            worker.wake()
        if rejected:
            log.warning("events_rejected", sender=str(sender), count=len(rejected),
                        first=rejected[0]["message"])
        return _json({"accepted": accepted, "duplicates": duplicates, "rejected": rejected})

    async def healthz(request: Request) -> Response:
        counts = await run(store.counts)
        return _json({"status": "ok", "deliveries": counts,
                      "inFlight": worker.in_flight if worker else 0})

    # -- §4.3 person-facing (admin bearer token, checked by the Shell) ---------------------

    async def list_subscriptions(request: Request) -> Response:
        found = await run(store.subscriptions, request.path_params["code"])
        return _json({"subscriptions": [s.to_json() for s in found]})

    async def subscribe(request: Request) -> Response:
        data = await _body(request)
        if not isinstance(data, dict):
            raise InvalidRequest("the body must be a JSON object")
        unknown = set(data) - {"webhook", "inbox", "categories", "emergencyOnly"}
        if unknown:
            raise InvalidRequest(f"unknown field {sorted(unknown)[0][:40]!r}")
        inbox = data.get("inbox", False)
        if not isinstance(inbox, bool):
            raise InvalidRequest("inbox is true or false")
        sub, secret = await run(store.subscribe, request.path_params["code"],
                                webhook=data.get("webhook"), inbox=inbox,
                                categories=data.get("categories", []),
                                emergency_only=data.get("emergencyOnly", False))
        out = sub.to_json()
        if secret is not None:
            out["secret"] = secret  # shown once
        return _json(out, 201)

    async def unsubscribe(request: Request) -> Response:
        await run(store.unsubscribe, request.path_params["code"], request.path_params["sid"])
        return Response(status_code=204)

    async def inbox(request: Request) -> Response:
        total, unread, page = await run(
            store.inbox, request.path_params["code"], unread_only=_flag(request, "unread"),
            offset=_int(request, "offset", 0, 2**31 - 1),
            limit=_int(request, "limit", 100, MAX_PAGE))
        return _json({"total": total, "unread": unread,
                      "notices": [n.to_json() for n in page]})

    async def mark_read(request: Request) -> Response:
        data = await _body(request) if await request.body() else {}
        if not isinstance(data, dict) or set(data) - {"ids"}:
            raise InvalidRequest('the body is {"ids": [ … ]} or {} for all')
        ids = data.get("ids")
        if ids is not None and not isinstance(ids, list):
            raise InvalidRequest("ids is a list of notice ids")
        n = await run(store.mark_read, request.path_params["code"], ids)
        return _json({"marked": n})

    async def deliveries(request: Request) -> Response:
        page = await run(store.deliveries, request.path_params["code"],
                         state=request.query_params.get("state"),
                         offset=_int(request, "offset", 0, 2**31 - 1),
                         limit=_int(request, "limit", 100, MAX_PAGE))
        return _json({"deliveries": [n.to_json() for n in page]})

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if worker is not None:
            await worker.start()
        try:
            yield
        finally:
            if worker is not None:
                await worker.stop()

    person = "/v1/persons/{code}"
    routes = [
        Route("/v1/events", events, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route(f"{person}/subscriptions", list_subscriptions, methods=["GET"]),
        Route(f"{person}/subscriptions", subscribe, methods=["POST"]),
        Route(f"{person}/subscriptions/{{sid}}", unsubscribe, methods=["DELETE"]),
        Route(f"{person}/inbox", inbox, methods=["GET"]),
        Route(f"{person}/inbox/read", mark_read, methods=["POST"]),
        Route(f"{person}/deliveries", deliveries, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers=xroad_error_handlers())
    return Shell(app, max_body=limits.max_body, admin_token=admin_token,
                 admin_prefixes=("/v1/persons",))


async def serve_notify(app: Shell, host: str, port: int,
                       started: Callable[[str], None] | None = None) -> None:
    """Serve until cancelled (``sild notify serve``); ``started(url)`` once listening."""
    import asyncio

    from sild.embedded import start_embedded

    server, task = await start_embedded(app, host, port, lifespan="on")
    if started is not None:
        started(f"http://{host}:{port}")
    try:
        await asyncio.shield(task)
    finally:
        server.should_exit = True
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(task, 10)
