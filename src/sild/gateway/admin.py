"""The gateway's admin API on its localhost admin port (FastAPI: OpenAPI at /docs).

* ``GET /health`` — 200 when healthy; 500 with the reason (no valid global
  configuration, message log not writable); 503 in maintenance mode
  (research/xroad.md §4.5, X-Road's health-check semantics).
* ``GET /metrics`` — Prometheus.
* ``GET|POST /maintenance?targetState=true|false`` — X-Road's maintenance toggle
  (bearer token: a state change).
* ``GET /status`` — configuration version and expiry, replay-window size.
* ``/api/…`` — service management (sild.gateway.serverconf.admin_routes), bearer token from
  ``GWDIR/admin-token``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

from sild import __version__
from sild.core.timefmt import format_rfc3339
from sild.errors import SildError
from sild.gateway.serverconf.admin_routes import add_service_routes
from sild.gateway.serverconf.store import ServerConf
from sild.web.shell import Shell, install_fastapi_errors

if TYPE_CHECKING:
    from sild.gateway.runtime import Gateway

__all__ = ["create_admin_app"]


# Management bodies are small JSON documents (and an OpenAPI description).
MAX_ADMIN_BODY = 1024 * 1024


def create_admin_app(gateway: Gateway, serverconf: ServerConf, token: str,
                     check_database: Callable[[], None]) -> Shell:
    app = FastAPI(title=f"Sild gateway {gateway.settings.server}", version=__version__)
    install_fastapi_errors(app)

    @app.get("/health", response_class=PlainTextResponse)
    def health() -> PlainTextResponse:
        ctx = gateway.ctx
        if ctx.maintenance:
            return PlainTextResponse("Health check interface is in maintenance mode", 503)
        try:
            ctx.trust()
        except SildError as e:
            return PlainTextResponse(f"Global configuration is not valid: {e}", 500)
        try:
            check_database()
        except Exception as e:  # any database failure is a health failure
            return PlainTextResponse(f"Database is not reachable: {type(e).__name__}", 500)
        return PlainTextResponse("", 200)

    # X-Road's admin port takes GET (and POST); one operation id each, so the OpenAPI
    # document is valid (a shared id was a 500 on /openapi.json under strict warnings).
    @app.get("/maintenance", response_class=PlainTextResponse,
             operation_id="maintenance_get")
    @app.post("/maintenance", response_class=PlainTextResponse,
              operation_id="maintenance_post")
    def maintenance(targetState: bool) -> PlainTextResponse:
        gateway.ctx.maintenance = targetState
        return PlainTextResponse(f"Maintenance mode set: {str(targetState).lower()}")

    @app.get("/status")
    def status() -> dict[str, Any]:
        out: dict[str, Any] = {"server": str(gateway.settings.server),
                               "maintenance": gateway.ctx.maintenance,
                               "replay_window_entries": len(gateway.ctx.replay)}
        try:
            conf = gateway.ctx.trust().conf
            out.update(globalconf_version=conf.version,
                       globalconf_expires_at=format_rfc3339(conf.expires_at))
        except SildError as e:
            out["globalconf_error"] = str(e)
        return out

    add_service_routes(app, serverconf)
    return Shell(app, max_body=MAX_ADMIN_BODY, admin_token=token,
                 admin_prefixes=("/api", "/maintenance"), metrics=gateway.metrics.registry)
