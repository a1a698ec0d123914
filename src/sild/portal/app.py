"""The citizen portal, a Starlette app (docs/spec/portal.md).

==============================================  ==========================================
``GET /``                                       login page (or 303 to /data)
``GET /login/oidc``, ``GET /login/callback``    OIDC code flow with PKCE (§4)
``POST /login/demo``                            demo mode only, CSRF-checked
``POST /logout``                                CSRF-checked
``GET /data``                                   my data, live from the registers (§3)
``GET /represent``, ``POST /represent``         act for a child / for myself (§5)
``GET /locks``; ``POST /locks``,                locks and consents (§5)
``POST /consents``, ``POST /consents/{id}/revoke``
``GET /notifications``, ``GET /notifications/feed``  the person's inbox (§5)
``GET /documents``, ``POST /documents/verify``,  documents (sild.doc) (§5)
``POST /documents/sign``
``GET /eservices``, ``/eservices/company``,      e-services: the list and the portal's own
``/eservices/tax-return``, ``/eservices/family`` pages (GET; POST CSRF-checked) (§8)
``/usage…``                                     who used my data (the timeline's routes)
``GET /static/…``                               CSS and the one script
==============================================  ==========================================

Every page but ``/``, the login routes and ``/static`` needs a logged-in person; every
POST needs the session's CSRF token (:mod:`sild.portal.web`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from sild.doc.trust import TrustList
from sild.portal.config import PortalConfig, ledger_policy
from sild.portal.documents import Documents
from sild.portal.eservices import EServicePages
from sild.portal.exchange import GatewayClient, ManagementClient
from sild.portal.i18n import Translations
from sild.portal.login import LoginRoutes
from sild.portal.session import SessionStore
from sild.portal.signing import PersonSigner, TokenSigner
from sild.portal.views import Views
from sild.portal.web import (
    BadInput,
    Forbidden,
    PortalMiddleware,
    Renderer,
    guard,
    login_required,
)

__all__ = ["create_portal_app", "serve_portal"]

log = logging.getLogger("sild.portal")
STATIC = Path(__file__).parent / "static"


def _mount_usage(app: Starlette, config: PortalConfig) -> bool:
    """Mount the timeline (``sild.portal.usage``) at /usage behind the login guard.

    Imported lazily: the timeline is its own module (portal_iface). Without it the
    portal runs without the "who used my data" page; returns whether it was mounted.
    """
    import importlib.util

    if importlib.util.find_spec("sild.portal.usage") is None:
        return False
    import importlib

    usage: Any = importlib.import_module("sild.portal.usage")
    trackers = [usage.TrackerRef(label, str(service))
                for label, service in config.trackers.items()]
    source = usage.HttpUsageSource(config.gateway_url, str(config.client), trackers,
                                   policy=ledger_policy(config))
    timeline = Starlette(routes=usage.usage_routes(source))
    timeline.state.templates = app.state.templates
    # The timeline's paths are absolute (/usage, /usage/how, /usage/proof/…): mounted at
    # the root, last, so every other route matches first; only /usage… needs the login.
    app.router.routes.append(Mount("", app=guard(timeline, prefix="/usage")))
    return True


def _signer(config: PortalConfig) -> PersonSigner | None:
    s = config.signing
    if s is None:
        return None
    return TokenSigner(s.tokens_dir, tsa_url=s.tsa_url, ocsp_url=s.ocsp_url,
                       ca_files=list(s.ca_files))


def create_portal_app(config: PortalConfig, *, sessions: SessionStore | None = None,
                      signer: PersonSigner | None = None) -> PortalMiddleware:
    """The portal; ``signer`` overrides the one ``[signing]`` configures."""
    gateway = GatewayClient(config.gateway_url, config.client)
    consent = ManagementClient(config.consent) if config.consent else None
    notify = ManagementClient(config.notify) if config.notify else None
    render = Renderer(Translations(), demo=config.demo)
    views = Views(config, gateway, consent, notify, render)
    login = LoginRoutes(config)
    eservices = EServicePages(config, gateway, render)
    documents = Documents(render, TrustList.from_paths(config.trust_files),
                          signer or _signer(config))

    async def home(request: Request) -> Response:
        if request.state.person is not None:
            return RedirectResponse("/data", status_code=303)
        from sild.portal.web import ensure_session

        ensure_session(request)  # the demo login form carries a CSRF token
        return render(request, "login.html", {"config": config})

    async def logged_in_demo(request: Request) -> Response:
        response = await login.demo(request)
        await views.subscribe(request.state.person)
        return response

    async def forbidden(request: Request, e: Exception) -> Response:
        assert isinstance(e, Forbidden)
        return render(request, "error.html", {"status": 403, "message": e.message},
                      status=403)

    async def bad_input(request: Request, e: Exception) -> Response:
        assert isinstance(e, BadInput)
        return render(request, "error.html", {"status": 400, "message": e.message},
                      status=400)

    async def http_error(request: Request, e: Exception) -> Response:
        assert isinstance(e, HTTPException)
        return render(request, "error.html", {"status": e.status_code,
                                              "message": str(e.detail)[:200]},
                      status=e.status_code)

    need = login_required
    routes: list[BaseRoute] = [
        Route("/", home, methods=["GET"]),
        Route("/login/oidc", login.start_oidc, methods=["GET"]),
        Route("/login/callback", login.callback, methods=["GET"]),
        Route("/login/demo", logged_in_demo, methods=["POST"]),
        Route("/logout", need(login.logout), methods=["POST"]),
        Route("/data", need(views.data), methods=["GET"]),
        Route("/represent", need(views.represent), methods=["GET"]),
        Route("/represent", need(views.act_for), methods=["POST"]),
        Route("/locks", need(views.locks), methods=["GET"]),
        Route("/locks", need(views.lock), methods=["POST"]),
        Route("/consents", need(views.grant), methods=["POST"]),
        Route("/consents/{cid}/revoke", need(views.revoke), methods=["POST"]),
        Route("/notifications", need(views.notifications), methods=["GET"]),
        Route("/notifications/feed", need(views.feed), methods=["GET"]),
        Route("/documents", need(documents.page), methods=["GET"]),
        Route("/documents/verify", need(documents.verify), methods=["POST"]),
        Route("/documents/sign", need(documents.sign), methods=["POST"]),
        Route("/eservices", need(eservices.index), methods=["GET"]),
        Route("/eservices/company", need(eservices.company_form), methods=["GET"]),
        Route("/eservices/company", need(eservices.company), methods=["POST"]),
        Route("/eservices/tax-return", need(eservices.tax_return), methods=["GET"]),
        Route("/eservices/tax-return", need(eservices.confirm_tax_return), methods=["POST"]),
        Route("/eservices/family", need(eservices.family), methods=["GET"]),
        Route("/eservices/family", need(eservices.child), methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            for client in (gateway, consent, notify):
                if client is not None:
                    await client.close()

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={
        Forbidden: forbidden, BadInput: bad_input, HTTPException: http_error})
    app.state.render = render
    app.state.templates = render.templates  # for the timeline's pages (portal_iface)
    _mount_usage(app, config)
    return PortalMiddleware(app, sessions=sessions or SessionStore(),
                            secure=config.secure_cookies)


async def serve_portal(app: PortalMiddleware, host: str, port: int,
                       started: Callable[[str], None] | None = None) -> None:
    """Serve until cancelled (``sild portal serve``); ``started(url)`` once listening."""
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
