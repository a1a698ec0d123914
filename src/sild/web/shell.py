"""The one web shell around every Sild HTTP service (gateway admin, registry, ledger,
witness): errors, admin authentication and body limits, applied before any parsing.

:class:`Shell` is plain ASGI middleware, so it wraps FastAPI apps and the raw ASGI hot
paths alike:

1. lifespan and websocket scopes pass through untouched;
2. on a protected path (``admin_prefixes``) the ``Authorization: Bearer`` credential is
   checked **before a byte of the body is read** — a stranger cannot make the service
   buffer anything (ARCHITECTURE.md §8);
3. a declared ``Content-Length`` above ``max_body`` is refused at once (413); a chunked
   body is counted as it streams and refused the moment it passes the limit;
4. ``GET /metrics`` answers the Prometheus text of the service's registry, the same way
   on every service (the process collectors at least: CPU, memory, open files);
5. a :class:`~sild.errors.SildError` that escapes the app, before the response started,
   is answered by :func:`sild.web.errors.answer_for` — the same mapper the gateway's
   ports use; any other exception is logged with its traceback and answered as
   ``Server.InternalError``.

:func:`install_fastapi_errors` routes FastAPI's own errors (validation, 401/404) through
the same mapper.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

import structlog

from sild.errors import InternalError, PayloadTooLarge, SildError, Unauthorized
from sild.web.errors import ErrorAnswer, answer_for, error_answer

__all__ = ["Shell", "check_bearer", "install_fastapi_errors", "send_answer"]

log = structlog.get_logger("sild.web")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def check_bearer(authorization: str | None, token: str) -> None:
    """:class:`Unauthorized` unless ``authorization`` is ``Bearer <token>`` (constant time)."""
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                             token.encode()):
        raise Unauthorized("admin credential missing or wrong")


async def send_answer(send: Send, answer: ErrorAnswer) -> None:
    await send({"type": "http.response.start", "status": answer.status, "headers": [
        (b"content-type", answer.content_type.encode()),
        (b"content-length", str(len(answer.body)).encode()),
        (b"x-road-error", answer.code.encode())]})
    await send({"type": "http.response.body", "body": answer.body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


class Shell:
    """``Shell(app, max_body=…, admin_token=…, admin_prefixes=("/api",))``."""

    def __init__(self, app: ASGIApp, *, max_body: int, admin_token: str | None = None,
                 admin_prefixes: Sequence[str] = (), admin_methods: Sequence[str] = (),
                 metrics: Any = None) -> None:
        self.app = app
        # A prometheus_client CollectorRegistry; None: the process-wide default one.
        self.metrics = metrics
        self.max_body = max_body
        self.admin_token = admin_token
        self.admin_prefixes = tuple(admin_prefixes)
        # Methods that need the credential on any path (state changes), e.g. POST.
        self.admin_methods = frozenset(m.upper() for m in admin_methods)

    def _protected(self, scope: Scope) -> bool:
        path: str = scope.get("path", "")
        return (path.startswith(self.admin_prefixes) if self.admin_prefixes else False) or (
            scope.get("method", "GET").upper() in self.admin_methods)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        accept = _header(scope, b"accept") or ""
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        if scope.get("path") == "/metrics" and scope.get("method") in ("GET", "HEAD"):
            await self._send_metrics(send)
            return
        try:
            # (2) the credential first, before any body is read
            if self.admin_token is not None and self._protected(scope):
                check_bearer(_header(scope, b"authorization"), self.admin_token)
            # (3) the declared length
            declared = _header(scope, b"content-length")
            if declared is not None:
                if not declared.strip().isdigit():
                    raise PayloadTooLarge("Content-Length is not a number")
                if int(declared) > self.max_body:
                    raise PayloadTooLarge(
                        f"request body of {declared} bytes exceeds the limit of {self.max_body}")
            received = 0

            async def counting_receive() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > self.max_body:
                        raise PayloadTooLarge(
                            f"request body exceeds the limit of {self.max_body} bytes")
                return message

            await self.app(scope, counting_receive, tracking_send)
        except SildError as e:
            if started:  # too late to answer with an error: the client sees a cut answer
                log.warning("error_after_response_started", code=e.xroad_code)
                return
            await send_answer(send, answer_for(e, accept=accept))
        except Exception as e:  # a bug: answered in protocol, traceback in the log
            log.exception("request_crashed", path=scope.get("path"), exc_type=type(e).__name__)
            if not started:
                await send_answer(send, answer_for(
                    InternalError(f"internal error ({type(e).__name__})"), accept=accept))


    async def _send_metrics(self, send: Send) -> None:
        from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

        body = generate_latest(self.metrics if self.metrics is not None else REGISTRY)
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", CONTENT_TYPE_LATEST.encode()),
            (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def xroad_error_handlers() -> dict[Any, Any]:
    """Starlette ``exception_handlers`` that answer every error the X-Road way (a
    SildError by its code, Starlette's 404/405 and other HTTP errors, and a bug as
    InternalError — Starlette re-raises that one so the Shell logs the traceback)."""
    from starlette.exceptions import HTTPException as StarletteHTTPException
    from starlette.requests import Request
    from starlette.responses import Response

    def response(a: ErrorAnswer) -> Response:
        return Response(a.body, status_code=a.status, headers={"X-Road-Error": a.code},
                        media_type=a.content_type)

    async def sild_error(request: Request, e: Exception) -> Response:
        assert isinstance(e, SildError)
        return response(answer_for(e, accept=request.headers.get("accept", "")))

    async def http_error(request: Request, e: Exception) -> Response:
        assert isinstance(e, StarletteHTTPException)
        code = {404: "Client.NotFound", 405: "Client.InvalidHttpMethod"}.get(
            e.status_code, "Client.BadRequest")
        return response(error_answer(code, str(e.detail),
                                     accept=request.headers.get("accept", ""),
                                     status=e.status_code))

    async def crash(request: Request, e: Exception) -> Response:
        return response(answer_for(InternalError(f"internal error ({type(e).__name__})"),
                                   accept=request.headers.get("accept", "")))

    return {SildError: sild_error, StarletteHTTPException: http_error, Exception: crash}


def install_fastapi_errors(app: Any) -> None:
    """FastAPI's own errors through the one mapper (validation 400, HTTP errors by status)."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import Response
    from starlette.exceptions import HTTPException as StarletteHTTPException

    def response(answer: ErrorAnswer) -> Response:
        return Response(answer.body, status_code=answer.status,
                        headers={"X-Road-Error": answer.code},
                        media_type=answer.content_type)

    @app.exception_handler(SildError)  # type: ignore[untyped-decorator]
    async def sild_error(request: Any, e: SildError) -> Response:
        log.info("request_failed", code=e.xroad_code, message=e.message)
        return response(answer_for(e, accept=request.headers.get("accept", "")))

    @app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
    async def validation_error(request: Any, e: RequestValidationError) -> Response:
        first = e.errors()[0] if e.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return response(error_answer("Client.BadRequest",
                                     f"{where}: {first.get('msg', 'invalid')}",
                                     accept=request.headers.get("accept", ""), status=400))

    @app.exception_handler(StarletteHTTPException)  # type: ignore[untyped-decorator]
    async def http_error(request: Any, e: StarletteHTTPException) -> Response:
        code = {401: "Client.Unauthorized", 404: "Client.NotFound",
                405: "Client.InvalidHttpMethod"}.get(e.status_code, "Client.BadRequest")
        return response(error_answer(code, str(e.detail),
                                     accept=request.headers.get("accept", ""),
                                     status=e.status_code))
