"""Estonia's Data Tracker protocol, ``findUsage`` v2, over a gateway's usage records.

docs/spec/tracker.md §5; e-gov/AJ ``Kasutusteabe_esitamise_protokoll.md`` v1.6 §6 and
``dumonitor-openapi.yaml`` (service version 2.1.0, shipped beside this module):

=============================  ===================================================
``GET /v2/findUsage``          §6.1: ``X-Road-UserId`` header and ``userCode`` are
                               mandatory; ``periodStart``/``periodEnd`` RFC 3339,
                               ``offset`` (0), ``limit`` (1000); newest first;
                               ``totalUsages`` independent of offset and limit
``GET /v2/usagePeriod``        §6.2: ``{periodStart, periodEnd?}``
``GET /v2/heartbeat``          §6.3: ``{status: OK|FAIL, message?}``
``GET /sild/v1/usageProof``    Sild's opt-in extra (§3): the same query with every
                               record's content and the chain proof; the standard
                               answer above is never changed by it
``GET /openapi.yaml``          the protocol's OpenAPI description, unmodified
=============================  ===================================================

The app is the register's tracker information system: the provider gateway calls it
for the service code ``findUsage`` (X-Road-Service names the register's subsystem), so
access rights, signing and logging are the exchange's as for any service. Errors are
plain HTTP status codes (§6.1.5) with an X-Road-style JSON body.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio.to_thread
import orjson
import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sild.clock import Clock, utc_now
from sild.core.headertext import check_header
from sild.core.identifiers import ServiceId
from sild.core.usage import parse_subject
from sild.errors import InvalidRequest, MissingHeader, SildError, StorageError
from sild.tracker.proof import usage_proof
from sild.tracker.store import UsageStore, receiver_parts
from sild.web.errors import answer_for

__all__ = ["DEFAULT_PORT", "MAX_LIMIT", "create_tracker_app", "openapi_text"]

log = structlog.get_logger("sild.tracker")

DEFAULT_PORT = 8484
MAX_LIMIT = 10_000  # int32 in the OpenAPI; a page this large is already 1.5 MB of JSON
MAX_OFFSET = 2**31 - 1  # format: int32


def openapi_text() -> str:
    """``dumonitor-openapi.yaml`` as e-gov/AJ publishes it (two comment lines first)."""
    return (importlib.resources.files("sild.tracker") / "dumonitor-openapi.yaml").read_text(
        encoding="utf-8")


def logtime(when: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, whole seconds as the protocol's examples."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _one(request: Request, name: str) -> str | None:
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise InvalidRequest(f"{name} given more than once")
    return values[0] if values else None


def _time(request: Request, name: str) -> datetime | None:
    text = _one(request, name)
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        when = None
    # RFC 3339 §5.6 date-time: a full date, a time and an offset (or Z).
    if when is None or when.tzinfo is None or "T" not in text.upper():
        raise InvalidRequest(f"{name} must be an RFC 3339 date-time with a zone, "
                             f"like 2021-01-31T10:20:30Z")
    return when


def _int(request: Request, name: str, default: int, high: int) -> int:
    text = _one(request, name)
    if text is None:
        return default
    if not text.isascii() or not text.isdigit() or len(text) > 10 or int(text) > high:
        raise InvalidRequest(f"{name} must be a whole number from 0 to {high}")
    return int(text)


def _flag(request: Request, name: str) -> bool:
    text = _one(request, name)
    if text is None or text in ("0", "false"):
        return False
    if text in ("1", "true"):
        return True
    raise InvalidRequest(f"{name} must be 1 or 0 (true or false)")


def _register(request: Request) -> str:
    """The register asked about: the subsystem of the X-Road-Service the gateway set."""
    text = request.headers.get("x-road-service")
    if not text:
        raise MissingHeader("X-Road-Service is missing: call findUsage through the exchange")
    try:
        return str(ServiceId.parse(text).subsystem)
    except SildError as e:
        raise InvalidRequest(f"X-Road-Service is malformed: {e.message}") from e


class _Query:
    """The checked parameters of a findUsage request (protocol §6.1.3)."""

    def __init__(self, request: Request) -> None:
        user = request.headers.get("x-road-userid")
        if not user:
            raise MissingHeader("X-Road-UserId is mandatory for findUsage (protocol §6.1.3)")
        self.user_id = check_header("X-Road-UserId", user, limit=255)
        code = _one(request, "userCode")
        if not code:
            raise InvalidRequest("userCode is mandatory (protocol §6.1.3)")
        self.subject = parse_subject(code)
        self.start = _time(request, "periodStart")
        self.end = _time(request, "periodEnd")
        if self.start and self.end and self.end < self.start:
            raise InvalidRequest("periodEnd is before periodStart")
        self.offset = _int(request, "offset", 0, MAX_OFFSET)
        self.limit = _int(request, "limit", 1000, MAX_LIMIT)
        self.register = _register(request)


def create_tracker_app(store: UsageStore, *, retention_days: int | Callable[[str | None], int],
                       clock: Clock = utc_now) -> Starlette:
    def fail(e: SildError) -> Response:
        answer = answer_for(e, component="Tracker")
        return Response(answer.body, status_code=answer.status,
                        headers=dict(answer.headers()))

    async def find_usage(request: Request) -> Response:
        try:
            q = _Query(request)
            total, page = await anyio.to_thread.run_sync(lambda: store.page(
                q.register, q.subject, start=q.start, end=q.end, offset=q.offset,
                limit=q.limit))
        except SildError as e:
            return fail(e)
        usages = []
        parts: dict[str, tuple[str, str]] = {}  # few receivers, many records
        for when, action, receiver, name in page:
            code, system = parts.get(receiver) or parts.setdefault(
                receiver, receiver_parts(receiver))
            item: dict[str, Any] = {"logtime": logtime(when), "action": action,
                                    "receiverCode": code}
            if name:
                item["receiverName"] = name
            item["receiverSystem"] = system
            usages.append(item)
        log.info("find_usage", register=q.register, user=q.user_id, returned=len(usages),
                 total=total)
        return Response(orjson.dumps({"totalUsages": total, "usages": usages}),
                        media_type="application/json")

    async def proof(request: Request) -> Response:
        try:
            q = _Query(request)
            anchor = _flag(request, "anchor")  # §3.4: the anchored head and its proof
            body = await anyio.to_thread.run_sync(lambda: usage_proof(
                store, q.register, q.subject, start=q.start, end=q.end, anchor=anchor))
        except SildError as e:
            return fail(e)
        return JSONResponse(body)

    def days_for(register: str | None) -> int:
        return retention_days(register) if callable(retention_days) else retention_days

    async def usage_period(request: Request) -> Response:
        now = clock()
        try:  # the register asked about, when the exchange names it (§5.2)
            register = _register(request) if request.headers.get("x-road-service") else None
            oldest = await anyio.to_thread.run_sync(lambda: store.oldest(register))
        except SildError as e:
            return fail(e)
        kept_from = now - timedelta(days=days_for(register))
        start = max(kept_from, oldest) if oldest is not None else kept_from
        return JSONResponse({"periodStart": logtime(start)})

    async def heartbeat(_: Request) -> Response:
        try:
            await anyio.to_thread.run_sync(store.ping)
        except StorageError as e:
            return JSONResponse({"status": "FAIL", "message": e.message})
        return JSONResponse({"status": "OK", "message": "usage log reachable"})

    async def openapi(_: Request) -> Response:
        return Response(openapi_text(), media_type="application/yaml")

    return Starlette(routes=[
        Route("/v2/findUsage", find_usage, methods=["GET"]),
        Route("/v2/usagePeriod", usage_period, methods=["GET"]),
        Route("/v2/heartbeat", heartbeat, methods=["GET"]),
        Route("/sild/v1/usageProof", proof, methods=["GET"]),
        Route("/openapi.yaml", openapi, methods=["GET"]),
    ])

