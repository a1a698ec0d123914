"""The provider over HTTP, a Starlette ASGI app (docs/spec/oidc.md §2).

==========================================  ==============================================
``GET /.well-known/openid-configuration``   discovery (OpenID Connect Discovery 1.0 §4)
``GET /jwks``                               the signing key (RFC 7517)
``GET /authorize``                          RFC 6749 §4.1.1: a login page with a challenge
``POST /login/certificate``                 the signed challenge → 303 to the client
``POST /login/demo``                        only in demo mode; logs a warning every time
``POST /token``                             RFC 6749 §4.1.3: code (+ PKCE verifier) → tokens
``GET|POST /userinfo``                      OIDC Core §5.3 with a Bearer access token
==========================================  ==============================================

Request bodies are ``application/x-www-form-urlencoded`` (RFC 6749 Appendix B), at most
64 KiB; a parameter given twice is refused (RFC 6749 §3.1). The store may block, so each
request runs the provider in a worker thread.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from sild.errors import StorageError
from sild.identity._http import BodyTooLarge, read_limited, serve_app
from sild.identity.oidc.provider import LoginPage, OAuthError, Provider

__all__ = ["DEFAULT_PORT", "create_oidc_app", "serve_oidc"]

log = logging.getLogger("sild.identity.oidc")

DEFAULT_PORT = 8482
MAX_BODY = 64 * 1024
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# The login page must not be framed by another site (clickjacking; RFC 6749 §10.13).
_NO_FRAMES = {"X-Frame-Options": "DENY",
              "Content-Security-Policy": "frame-ancestors 'none'; default-src 'self'"}


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
    nonce, origin = html.escape(p.nonce), html.escape(p.origin)
    demo = "" if not p.demo else f"""
<h2>DEMO LOGIN (demo mode: no authentication)</h2>
<form method="post" action="/login/demo"><input type="hidden" name="nonce" value="{nonce}">
<input name="personal_code" placeholder="EE38001085718"><input name="given_name">
<input name="family_name"><button>log in (demo)</button></form>"""
    return f"""<!doctype html><meta charset="utf-8"><title>Sild login</title>
<h1>Log in to {html.escape(p.client_name)}</h1>
<p>Sign the challenge with your authentication key (PIN1): hex of
SHA-256(origin) ‖ SHA-256(nonce), origin <code>{origin}</code>, nonce
<code id="nonce">{nonce}</code>; valid 5 minutes, once.</p>
<form method="post" action="/login/certificate"><input type="hidden" name="nonce"
value="{nonce}"><textarea name="certificate" placeholder="certificate (base64 DER)">
</textarea><textarea name="signature" placeholder="signature (base64)"></textarea>
<button>log in</button></form>{demo}"""


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

    def login(fn: Callable[[dict[str, str]], str]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            try:
                location: str = await run(fn, await _form(request))
            except OAuthError as e:
                return _error(e)
            return RedirectResponse(location, status_code=303)
        return endpoint

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
    ]
    if provider.config.demo:
        routes.append(Route("/login/demo", login(provider.login_demo), methods=["POST"]))
    return Starlette(routes=routes)


async def serve_oidc(provider: Provider, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                     started: Callable[[str], None] | None = None) -> None:
    """Run the provider until cancelled (``sild identity oidc serve``)."""
    await serve_app(create_oidc_app(provider), host, port, started)
