"""The portal's web plumbing: the session/language/security-header middleware, page
rendering, CSRF-checked forms and the login guard (docs/spec/portal.md §4–§6).

Security headers on every answer (OWASP Secure Headers): a strict
``Content-Security-Policy`` (``default-src 'self'``, no inline script or style, no
framing, forms only to the portal itself), ``X-Content-Type-Options: nosniff``,
``Referrer-Policy: no-referrer``, ``X-Frame-Options: DENY``, ``Cache-Control: no-store``
on pages (personal data must not stay in shared caches).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jinja2
from starlette.datastructures import FormData, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sild.portal.i18n import LANGUAGES, Translations, choose_language
from sild.portal.session import COOKIE, Session, SessionStore

__all__ = ["CSP", "Forbidden", "PortalMiddleware", "Renderer", "checked_form",
           "ensure_session", "guard", "login_required"]

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
       "object-src 'none'")
LANG_COOKIE = "sild_lang"
MAX_FORM = 64 * 1024  # a form of the portal is a few hundred bytes
MAX_UPLOAD = 10 * 1024 * 1024  # a document container to verify


class Forbidden(Exception):
    """403 with a message the person can read (CSRF, representation, demo login off)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadInput(Exception):
    """400 with a message the person can read (a malformed code, an oversize field)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PortalMiddleware:
    """Loads the session and language into ``request.state``; sets cookies and headers."""

    def __init__(self, app: ASGIApp, *, sessions: SessionStore, secure: bool,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.sessions = sessions
        self.secure = secure
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        sid = request.cookies.get(COOKIE)
        session = self.sessions.get(sid, now=self.clock())
        query_lang = request.query_params.get("lang")
        lang = choose_language(query_lang, request.cookies.get(LANG_COOKIE),
                               request.headers.get("accept-language", ""))
        state = scope.setdefault("state", {})
        state.update(session=session, person=session.person if session else None, lang=lang,
                     sessions=self.sessions, now=self.clock())

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                h = MutableHeaders(scope=message)
                h["Content-Security-Policy"] = CSP
                h["X-Content-Type-Options"] = "nosniff"
                h["Referrer-Policy"] = "no-referrer"
                h["X-Frame-Options"] = "DENY"
                if not scope["path"].startswith("/static/"):
                    h["Cache-Control"] = "no-store"
                secure = "; Secure" if self.secure else ""
                now: Session | None = state.get("session")
                if now is not None and now.id != sid:
                    h.append("Set-Cookie", f"{COOKIE}={now.id}; Path=/; HttpOnly; "
                                           f"SameSite=Lax{secure}")
                elif now is None and sid:
                    h.append("Set-Cookie", f"{COOKIE}=; Path=/; Max-Age=0; HttpOnly; "
                                           f"SameSite=Lax{secure}")
                if query_lang in LANGUAGES:
                    h.append("Set-Cookie", f"{LANG_COOKIE}={query_lang}; Path=/; "
                                           f"Max-Age=31536000; SameSite=Lax{secure}")
            await send(message)

        await self.app(scope, receive, send_with_headers)


def ensure_session(request: Request) -> Session:
    """The request's session, a new (anonymous) one if it has none."""
    session: Session | None = request.state.session
    if session is None:
        session = request.state.sessions.new(now=request.state.now)
        request.state.session = session
    return session


def replace_session(request: Request, session: Session | None) -> None:
    request.state.session = session
    request.state.person = session.person if session else None


async def checked_form(request: Request, *, max_size: int = MAX_FORM) -> FormData:
    """The POSTed form, only with the session's CSRF token (else :class:`Forbidden`)."""
    length = request.headers.get("content-length", "")
    if not length.isdigit():
        raise BadInput("a form needs a Content-Length")
    if int(length) > max_size:
        raise BadInput(f"the form is larger than {max_size // 1024} KiB")
    session: Session | None = request.state.session
    form = await request.form(max_files=1, max_fields=50, max_part_size=max_size)
    if session is None or not session.csrf_ok(form.get("csrf_token")):
        await form.close()
        raise Forbidden("This form has expired or did not come from this portal "
                        "(CSRF token missing or wrong). Reload the page and try again.")
    return form


def field(form: FormData, name: str, *, limit: int = 200, required: bool = True) -> str:
    value = form.get(name, "")
    if not isinstance(value, str):
        raise BadInput(f"{name} must be text")
    if len(value) > limit:
        raise BadInput(f"{name} is longer than {limit} characters")
    value = value.strip()
    if required and not value:
        raise BadInput(f"{name} is required")
    return value


class Renderer:
    """Jinja2 pages; every template gets ``request``, ``_``, ``lang``, ``csrf_token`` and
    ``person`` (the interface the timeline's templates rely on)."""

    def __init__(self, translations: Translations, *, demo: bool,
                 extra: Path | None = None) -> None:
        loaders: list[jinja2.BaseLoader] = [jinja2.PackageLoader("sild.portal", "templates")]
        if extra is not None:
            loaders.append(jinja2.FileSystemLoader(str(extra)))
        self.env = jinja2.Environment(loader=jinja2.ChoiceLoader(loaders),
                                      autoescape=True, undefined=jinja2.StrictUndefined)
        self.env.globals["languages"] = LANGUAGES
        self.env.globals["demo"] = demo
        self.translations = translations

    def context(self, request: Request) -> dict[str, Any]:
        """What every page gets besides its own context."""
        lang: str = request.state.lang
        session: Session | None = request.state.session
        return {"request": request, "lang": lang, "_": self.translations.gettext(lang),
                "csrf_token": session.csrf if session else "",
                "person": request.state.person}

    def __call__(self, request: Request, name: str, context: dict[str, Any] | None = None,
                 *, status: int = 200) -> HTMLResponse:
        ctx = self.context(request) | (context or {})
        return HTMLResponse(self.env.get_template(name).render(ctx), status_code=status)

    @property
    def templates(self) -> Jinja2Templates:
        """The same environment as Starlette templates (``app.state.templates``), for
        pages mounted from other modules (the timeline): same ``_``, ``lang``,
        ``csrf_token`` and ``person``."""
        return Jinja2Templates(env=self.env, context_processors=[self.context])


Endpoint = Callable[[Request], Awaitable[Response]]


def login_required(fn: Endpoint) -> Endpoint:
    """Unauthenticated → 303 to the login page."""
    async def endpoint(request: Request) -> Response:
        if request.state.person is None:
            return RedirectResponse("/", status_code=303)
        return await fn(request)
    return endpoint


def guard(app: ASGIApp, *, prefix: str = "/") -> ASGIApp:
    """``app`` behind the login: a request under ``prefix`` without a logged-in person
    → 303 to the login page (the timeline's mount)."""
    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith(prefix):
            raise HTTPException(status_code=404)  # the portal's own 404 page
        if scope["type"] == "http" and scope.get("state", {}).get("person") is None:
            await RedirectResponse("/", status_code=303)(scope, receive, send)
            return
        await app(scope, receive, send)
    return guarded
