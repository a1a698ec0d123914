"""The company portal: an employee sees which system read their data, and why.

A small server-rendered page (Jinja2, autoescaped; Starlette). The portal is a
subsystem of the company member (``…/portal``); it copies nothing: for each system that
holds personal data it asks that system's ``findUsage`` service (docs/spec/tracker.md
§5, Estonia's Data Tracker protocol v2) **through its own gateway**, as the portal
subsystem, naming the employee as ``X-Road-UserId``.

Login is a clearly marked **demo login** (pick an employee): the scenario has no
identity provider. Security all the same: a strict Content-Security-Policy (no script,
no inline style), double-submit CSRF tokens on every POST, an HMAC-signed session
cookie (HttpOnly, SameSite=Strict), small bodies only. Bad input is a page with a
clear message and a 4xx status; nothing is written.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any
from urllib.parse import parse_qs

import aiohttp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from sild.core.identifiers import SubsystemId
from sild.core.usage import parse_subject
from sild.enterprise._pages import CSS, PAGES
from sild.enterprise.data import Company, Employee
from sild.errors import SildError

__all__ = ["PortalConfig", "create_portal_app"]

CSP = ("default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
MAX_FORM = 2048  # a login form is a code and a token


@dataclass(frozen=True)
class PortalConfig:
    gateway_url: str  # the portal's own gateway, IS side (http://127.0.0.1:8080)
    client: SubsystemId  # the portal subsystem
    holders: dict[str, SubsystemId]  # label → a subsystem with a findUsage service
    labels: dict[str, str]  # label → what the page calls it
    company: Company
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))


class _BadInput(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _page(name: str, status: int = 200, **values: Any) -> HTMLResponse:
    return HTMLResponse(PAGES.get_template(name).render(**values), status_code=status,
                        headers=_HEADERS)


def _sign(secret: bytes, text: str) -> str:
    return hmac.new(secret, text.encode(), sha256).hexdigest()


def create_portal_app(config: PortalConfig) -> Starlette:
    employees = sorted(config.company.employees, key=lambda e: (e.surname, e.given_name))

    def session_employee(request: Request) -> Employee | None:
        code, _, mac = request.cookies.get("session", "").partition(".")
        if not code or not hmac.compare_digest(mac, _sign(config.secret, code)):
            return None  # absent, or forged (another person's code, a changed byte)
        return config.company.employee(code)

    def csrf_of(request: Request) -> str:
        token = request.cookies.get("csrf", "")
        return token if len(token) == 43 and token.isascii() else ""

    async def form(request: Request) -> dict[str, str]:
        if int(request.headers.get("content-length") or 0) > MAX_FORM:
            raise _BadInput(413, "form too large")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM:
                raise _BadInput(413, "form too large")
        try:
            fields = parse_qs(body.decode(), keep_blank_values=True, strict_parsing=False,
                              max_num_fields=8)
        except (UnicodeDecodeError, ValueError) as e:
            raise _BadInput(400, "malformed form") from e
        if any(len(v) != 1 for v in fields.values()):
            raise _BadInput(400, "a form field was given more than once")
        out = {k: v[0] for k, v in fields.items()}
        token = csrf_of(request)
        if not token or not hmac.compare_digest(out.get("csrf", "").encode(), token.encode()):
            raise _BadInput(403, "the form's CSRF token is missing or wrong; reload the page")
        return out

    async def login_page(request: Request) -> Response:
        token = csrf_of(request) or secrets.token_urlsafe(32)
        resp = _page("login.html", employees=employees, csrf=token)
        resp.set_cookie("csrf", token, httponly=True, samesite="strict")
        return resp

    async def login(request: Request) -> Response:
        fields = await form(request)
        text = fields.get("code", "")
        if len(text) > 40:
            raise _BadInput(400, "the employee code is too long")
        try:
            code = parse_subject(text)
        except SildError as e:
            raise _BadInput(400, f"not a personal code: {e.message}") from e
        if config.company.employee(code) is None:
            raise _BadInput(404, "no such employee")
        resp = RedirectResponse("/me", status_code=303, headers=_HEADERS)
        resp.set_cookie("session", f"{code}.{_sign(config.secret, code)}", httponly=True,
                        samesite="strict")
        return resp

    async def logout(request: Request) -> Response:
        await form(request)
        resp = RedirectResponse("/", status_code=303, headers=_HEADERS)
        resp.delete_cookie("session")
        return resp

    async def me(request: Request) -> Response:
        employee = session_employee(request)
        if employee is None:
            return RedirectResponse("/", status_code=303, headers=_HEADERS)
        wanted = request.query_params.getlist("system")
        if len(wanted) > 1:
            raise _BadInput(400, "give one system to filter by")
        if wanted and wanted[0] not in config.holders:
            raise _BadInput(400, f"unknown system; known: {', '.join(config.holders)}")
        systems = wanted or list(config.holders)
        rows, errors = await _usages(config, employee.code, systems)
        token = csrf_of(request) or secrets.token_urlsafe(32)
        resp = _page("me.html", employee=employee, rows=rows, errors=errors,
                     systems=list(config.holders), labels=config.labels, csrf=token)
        resp.set_cookie("csrf", token, httponly=True, samesite="strict")  # for logout
        return resp

    async def css(_request: Request) -> Response:
        return Response(CSS, media_type="text/css", headers=_HEADERS)

    async def healthz(_request: Request) -> Response:
        return Response("ok\n", media_type="text/plain")

    async def bad_input(_request: Request, e: Exception) -> Response:
        assert isinstance(e, _BadInput)
        return _page("error.html", e.status, code=e.status, message=e.message)

    async def not_found(_request: Request, _e: Exception) -> Response:
        return _page("error.html", 404, code=404, message="no such page")

    return Starlette(routes=[
        Route("/", login_page, methods=["GET"]), Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]), Route("/me", me, methods=["GET"]),
        Route("/static/portal.css", css, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
    ], exception_handlers={_BadInput: bad_input, 404: not_found})


async def _usages(config: PortalConfig, code: str, systems: list[str],
                  ) -> tuple[list[dict[str, str]], list[tuple[str, str]]]:
    """Every system's findUsage answer for ``code``, newest first, through the gateway."""
    rows: list[dict[str, str]] = []
    errors: list[tuple[str, str]] = []
    headers = {"X-Road-Client": str(config.client), "X-Road-UserId": code}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        for label in systems:
            service = config.holders[label].service("findUsage")
            url = f"{config.gateway_url}/r1/{service.path()}/v2/findUsage"
            try:
                async with session.get(url, params={"userCode": code},
                                       headers=headers) as resp:
                    answer = await resp.json(content_type=None)
                    if resp.status != 200:
                        errors.append((label, str(answer.get("message", resp.status))))
                        continue
            except (aiohttp.ClientError, TimeoutError, ValueError) as e:
                errors.append((label, f"the gateway did not answer ({type(e).__name__})"))
                continue
            for u in answer.get("usages", []):
                reader = u.get("receiverName") or u.get("receiverCode", "")
                rows.append({"when": str(u.get("logtime", "")), "system": label,
                             "reader": f"{reader} ({u.get('receiverSystem', '')})",
                             "purpose": str(u.get("action", ""))})
    rows.sort(key=lambda r: r["when"], reverse=True)
    return rows, errors
