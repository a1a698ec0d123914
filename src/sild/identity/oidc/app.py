"""The provider over HTTP, a Starlette ASGI app (docs/spec/oidc.md §2).

==========================================  ==============================================
``GET /.well-known/openid-configuration``   discovery (OpenID Connect Discovery 1.0 §4)
``GET /jwks``                               the signing key (RFC 7517)
``GET /authorize``                          RFC 6749 §4.1.1: a login page with a challenge
``POST /login/certificate``                 the signed challenge → 303 to the client
``POST /login/demo``                        only in demo mode; logs a warning every time
``POST /token``                             RFC 6749 §4.1.3: code (+ PKCE verifier) → tokens
``GET|POST /userinfo``                      OIDC Core §5.3 with a Bearer access token
``POST /login/passkey/options``             JSON ``{nonce}`` → WebAuthn request options
``POST /login/passkey``                     JSON ``{nonce, credential}`` → ``{location}``
``GET /passkeys``                           the session's passkey page
``POST /passkeys/register/options``         session → WebAuthn creation options
``POST /passkeys/register``                 session + credential JSON → the new passkey
``POST /logout``                            ends the session, 303 to /passkeys
``POST /assertion``                         Bearer access token → Sild-Subject-Assertion
``GET /static/passkey.js``                  the pages' script (navigator.credentials)
==========================================  ==============================================

OAuth request bodies are ``application/x-www-form-urlencoded`` (RFC 6749 Appendix B),
the passkey endpoints' ``application/json``; at most 64 KiB; a parameter given twice is
refused (RFC 6749 §3.1). Pages are Jinja2 templates (autoescaped) with one static script;
the Content-Security-Policy allows no inline script. Endpoints that act on the session
cookie refuse a request whose ``Origin`` is another site. The store may block, so each
request runs the provider in a worker thread.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import anyio.to_thread
import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route

from sild.errors import StorageError
from sild.identity._http import BodyTooLarge, read_limited, serve_app
from sild.identity.oidc.provider import LoginDone, LoginPage, OAuthError, Provider

__all__ = ["DEFAULT_PORT", "create_oidc_app", "serve_oidc"]

log = logging.getLogger("sild.identity.oidc")

DEFAULT_PORT = 8482
MAX_BODY = 64 * 1024
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# The login page must not be framed by another site (clickjacking; RFC 6749 §10.13).
_NO_FRAMES = {"X-Frame-Options": "DENY",
              "Content-Security-Policy": "frame-ancestors 'none'; default-src 'self'"}
SESSION_COOKIE = "sild_session"
_HERE = Path(__file__).parent
_PAGES = jinja2.Environment(loader=jinja2.FileSystemLoader(_HERE / "templates"),
                            autoescape=True, undefined=jinja2.StrictUndefined)


def _params(pairs: list[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in pairs:
        if k in out:
            raise OAuthError("invalid_request", f"parameter {k} given more than once")
        out[k] = v
    return out


async def _form(request: Request) -> dict[str, str]:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise OAuthError("invalid_request", "body must be application/x-www-form-urlencoded")
    try:
        body = await read_limited(request, MAX_BODY)
        text = body.decode("utf-8")
    except BodyTooLarge as e:
        raise OAuthError("invalid_request", "request body too large", status=413) from e
    except UnicodeDecodeError as e:
        raise OAuthError("invalid_request", "body is not UTF-8") from e
    return _params(parse_qsl(text, keep_blank_values=True))


def _error(e: OAuthError, headers: dict[str, str] | None = None) -> Response:
    if e.redirect_uri is not None:
        return RedirectResponse(e.location(), status_code=303)
    h = dict(_NO_STORE)
    if e.error == "invalid_client":
        h["WWW-Authenticate"] = 'Basic realm="sild-oidc"'
    elif e.status == 401:  # RFC 6750 §3
        h["WWW-Authenticate"] = f'Bearer error="{e.error}"'
    return JSONResponse(e.body(), status_code=e.status, headers=h | (headers or {}))


def _page(p: LoginPage) -> str:
    return _PAGES.get_template("login.html").render(
        client_name=p.client_name, origin=p.origin, nonce=p.nonce, demo=p.demo)


async def _json(request: Request) -> Any:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise OAuthError("invalid_request", "body must be application/json")
    try:
        return json.loads(await read_limited(request, MAX_BODY))
    except BodyTooLarge as e:
        raise OAuthError("invalid_request", "request body too large", status=413) from e
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise OAuthError("invalid_request", "malformed JSON") from e


def _same_origin(request: Request, origin: str) -> None:
    """Cookie-bearing endpoints answer only their own pages (a cross-site POST would
    carry a Lax cookie on top-level navigation only, but check anyway)."""
    sent = request.headers.get("origin")
    if sent is not None and sent != origin:
        raise OAuthError("invalid_request", "cross-origin request refused", status=403)


def create_oidc_app(provider: Provider) -> Starlette:
    """The ASGI app of one provider."""

    async def run(fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return await anyio.to_thread.run_sync(fn, *args)
        except StorageError as e:  # RFC 6749 §4.1.2.1 / §5.2: try again later
            log.error("identity store unavailable: %s", e)
            raise OAuthError("temporarily_unavailable", "identity store unavailable",
                             status=503) from e

    async def discovery(request: Request) -> Response:
        return JSONResponse(provider.discovery())

    async def jwks(request: Request) -> Response:
        return JSONResponse(provider.jwks())

    async def authorize(request: Request) -> Response:
        try:
            params = _params(list(request.query_params.multi_items()))
            page: LoginPage = await run(provider.authorize, params)
        except OAuthError as e:
            return _error(e)
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse({"nonce": page.nonce, "origin": page.origin,
                                 "client": page.client_name, "demo": page.demo},
                                headers=_NO_STORE)
        return HTMLResponse(_page(page), headers=_NO_STORE | _NO_FRAMES)

    secure = provider.config.issuer.startswith("https://")

    def with_session(response: Response, session: str | None) -> Response:
        if session is not None:
            response.set_cookie(SESSION_COOKIE, session, httponly=True, samesite="lax",
                                secure=secure, path="/",
                                max_age=int(provider.config.session_ttl.total_seconds()))
        return response

    def login(fn: Callable[[dict[str, str]], LoginDone]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            try:
                done: LoginDone = await run(fn, await _form(request))
            except OAuthError as e:
                return _error(e)
            return with_session(RedirectResponse(done.location, status_code=303),
                                done.session)
        return endpoint

    def json_api(fn: Callable[[Request], Any]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            try:
                _same_origin(request, provider.config.origin)
                body = await fn(request)
            except OAuthError as e:
                return _error(e)
            return JSONResponse(body, headers=_NO_STORE)
        return endpoint

    def cookie(request: Request) -> str | None:
        return request.cookies.get(SESSION_COOKIE)

    async def passkey_login_options(request: Request) -> Any:
        return await run(provider.passkey_login_options, await _json(request))

    async def passkey_login(request: Request) -> Any:
        done: LoginDone = await run(provider.login_passkey, await _json(request))
        return {"location": done.location}

    async def register_options(request: Request) -> Any:
        return await run(provider.passkey_registration_options, cookie(request))

    async def register(request: Request) -> Any:
        stored = await run(provider.passkey_register, cookie(request), await _json(request))
        return {"registered": True, "credential_id": stored.credential_id,
                "created_at": stored.created_at.isoformat()}

    async def passkeys_page(request: Request) -> Response:
        try:
            account = await run(provider.account, cookie(request))
        except OAuthError as e:
            return _error(e)
        text = _PAGES.get_template("passkeys.html").render(account=account)
        return HTMLResponse(text, status_code=200, headers=_NO_STORE | _NO_FRAMES)

    async def logout(request: Request) -> Response:
        try:
            _same_origin(request, provider.config.origin)
            await run(provider.logout, cookie(request))
        except OAuthError as e:
            return _error(e)
        response = RedirectResponse("/passkeys", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax",
                               secure=secure)
        return response

    async def assertion(request: Request) -> Response:
        try:
            has_body = request.headers.get("content-length", "0") not in ("", "0") or \
                "transfer-encoding" in request.headers
            form = await _form(request) if has_body else {}
            body = await run(provider.subject_assertion,
                             request.headers.get("authorization"), form)
        except OAuthError as e:
            return _error(e)
        return JSONResponse(body, headers=_NO_STORE)

    async def script(request: Request) -> Response:
        return FileResponse(_HERE / "static" / "passkey.js",
                            media_type="text/javascript; charset=utf-8")

    async def token(request: Request) -> Response:
        try:
            body = await run(provider.token, await _form(request),
                             request.headers.get("authorization"))
        except OAuthError as e:
            return _error(e)
        return JSONResponse(body, headers=_NO_STORE)

    async def userinfo(request: Request) -> Response:
        try:
            body = await run(provider.userinfo, request.headers.get("authorization"))
        except OAuthError as e:
            return _error(e)
        return JSONResponse(body, headers=_NO_STORE)

    routes = [
        Route("/.well-known/openid-configuration", discovery, methods=["GET"]),
        Route("/jwks", jwks, methods=["GET"]),
        Route("/authorize", authorize, methods=["GET"]),
        Route("/login/certificate", login(provider.login_certificate), methods=["POST"]),
        Route("/token", token, methods=["POST"]),
        Route("/userinfo", userinfo, methods=["GET", "POST"]),
        Route("/login/passkey/options", json_api(passkey_login_options), methods=["POST"]),
        Route("/login/passkey", json_api(passkey_login), methods=["POST"]),
        Route("/passkeys", passkeys_page, methods=["GET"]),
        Route("/passkeys/register/options", json_api(register_options), methods=["POST"]),
        Route("/passkeys/register", json_api(register), methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/assertion", assertion, methods=["POST"]),
        Route("/static/passkey.js", script, methods=["GET"]),
    ]
    if provider.config.demo:
        routes.append(Route("/login/demo", login(provider.login_demo), methods=["POST"]))
    return Starlette(routes=routes)


async def serve_oidc(provider: Provider, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                     started: Callable[[str], None] | None = None) -> None:
    """Run the provider until cancelled (``sild identity oidc serve``)."""
    await serve_app(create_oidc_app(provider), host, port, started)
