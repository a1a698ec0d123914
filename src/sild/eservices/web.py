"""What every e-service app shares (docs/spec/eservices.md §2): reading the acting person
and the persons asked about, bounded JSON bodies, X-Road style errors, the HTML page.

The acting person comes in ``X-Road-UserId`` (``EE38001085718``; in the country's portal
it is the logged-in person, issue #10), or ``?user=`` from the HTML form. Every input is
checked before any register is asked, so a bad request costs no exchange and writes
nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import jinja2
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from sild.core.usage import parse_subject
from sild.errors import InvalidRequest, MissingHeader, PayloadTooLarge
from sild.eservices.exchange import RegisterClient
from sild.web.shell import Shell, xroad_error_handlers

__all__ = ["MAX_BODY", "acting_person", "build_app", "json_answer", "person", "read_json",
           "text_field", "utc_text"]

MAX_BODY = 4096  # a form's worth; larger bodies are refused before they are read whole


def person(text: object, what: str = "personal code") -> str:
    """``CC<code>`` (a bare 11-digit code is Estonian); InvalidPersonalCode if not one."""
    if not isinstance(text, str) or not text or len(text) > 32:
        raise InvalidRequest(f"{what} must be a personal code such as EE38001085718")
    return parse_subject(f"EE{text}" if text[:1].isdigit() else text)


def acting_person(request: Request) -> str:
    """The person using the e-service (``X-Road-UserId``, or ``?user=`` from the page)."""
    text = request.headers.get("x-road-userid") or request.query_params.get("user")
    if not text:
        raise MissingHeader("the acting person is missing: send X-Road-UserId (or ?user=)")
    return person(text, "the acting person (X-Road-UserId)")


def text_field(data: dict[str, Any], name: str, *, limit: int, required: bool = True) -> str:
    """A string field of at most ``limit`` characters, stripped; no control characters."""
    value = data.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"{name!r} is required (a non-empty string)")
    value = value.strip()
    if len(value) > limit:
        raise InvalidRequest(f"{name!r} is longer than {limit} characters")
    if any(ord(c) < 32 for c in value):
        raise InvalidRequest(f"{name!r} holds control characters")
    return value


async def read_json(request: Request) -> dict[str, Any]:
    """The JSON object in the body, at most :data:`MAX_BODY` bytes."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise PayloadTooLarge(f"the request body is larger than {MAX_BODY} bytes")
    try:
        data = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError as e:
        raise InvalidRequest("the request body is not JSON") from e
    if not isinstance(data, dict):
        raise InvalidRequest("the request body must be a JSON object")
    return data


def utc_text(t: dt.datetime) -> str:
    """ISO 8601 in UTC with ``Z`` (SQLite hands a time back without its zone)."""
    t = t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)
    return t.isoformat(timespec="seconds").replace("+00:00", "Z")


def json_answer(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status,
                    media_type="application/json; charset=utf-8")


_PAGE = jinja2.Environment(autoescape=True).from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}
code{background:#eee;padding:0 .2rem}label{display:block;margin:.4rem 0}</style></head>
<body><h1>{{ title }}</h1><p>{{ about }}</p>
{% if fields %}<form method="get" action="{{ action }}">
{% for name, label, value in fields %}<label>{{ label }}
<input name="{{ name }}" value="{{ value }}" size="30"></label>{% endfor %}
<button>Ask</button></form>{% endif %}
<h2>JSON API</h2><ul>{% for line in api %}<li><code>{{ line }}</code></li>{% endfor %}</ul>
<p>Every register call goes through the exchange with the purpose
<q>{{ purpose }}</q> and shows in the person's data tracker.</p></body></html>""")


def page(title: str, about: str, *, action: str, fields: Sequence[tuple[str, str, str]],
         api: Sequence[str], purpose: str) -> Callable[[Request], Response]:
    """``GET /``: a minimal page with a form for the service's main question."""
    html = _PAGE.render(title=title, about=about, action=action, fields=fields, api=api,
                        purpose=purpose)

    def index(_request: Request) -> Response:
        return HTMLResponse(html)
    return index


def build_app(routes: Sequence[BaseRoute], client: RegisterClient,
              index: Callable[[Request], Response], *, on_close: Callable[[], None] | None
              = None) -> Shell:
    """The e-service: ``GET /``, its routes, ``/metrics``; closes its client at shutdown."""
    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await client.close()
            if on_close is not None:
                on_close()

    app = Starlette(routes=[Route("/", index, methods=["GET"]), *routes], lifespan=lifespan,
                    exception_handlers=xroad_error_handlers())
    return Shell(app, max_body=MAX_BODY)
