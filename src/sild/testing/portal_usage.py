"""A minimal host for the portal's usage pages in tests and benchmarks: what the real
portal provides (a ``base.html``, ``_`` from ``locales/<lang>/*.json``, ``lang``,
``csrf_token``, ``request.state.person``, ``/static``) in the smallest form, so the
timeline's pages are rendered exactly as they will be inside the portal."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Receive, Scope, Send

from sild.portal.usage import usage_routes
from sild.portal.usage_proofs import ProofChecker
from sild.portal.usage_source import UsageSource

__all__ = ["BASE_HTML", "Person", "translations", "usage_test_app"]

PORTAL = Path(__file__).resolve().parent.parent / "portal"

BASE_HTML = """<!doctype html>
<html lang="{{ lang }}"><head><meta charset="utf-8">
<title>{% block title %}{% endblock %}</title></head>
<body><main>{% block content %}{% endblock %}</main></body></html>
"""


@dataclass(frozen=True)
class Person:
    code: str
    user_code: str
    name: str = "Test Person"


def translations(lang: str) -> dict[str, str]:
    """Every ``locales/<lang>/*.json`` of the portal, merged (the interface's rule)."""
    out: dict[str, str] = {}
    for f in sorted((PORTAL / "locales" / lang).glob("*.json")):
        out.update(json.loads(f.read_text(encoding="utf-8")))
    return out


def usage_test_app(source: UsageSource, person: Person,
                   on_close: Callable[[], Awaitable[None]] | None = None,
                   checker: ProofChecker | None = None) -> Starlette:
    """The usage routes behind a stand-in login: every request is ``person``;
    ``?lang=et`` or ``ja`` switches the language."""
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader([jinja2.DictLoader({"base.html": BASE_HTML}),
                                    jinja2.FileSystemLoader(PORTAL / "templates")]),
        autoescape=True, undefined=jinja2.StrictUndefined)
    books = {lang: translations(lang) for lang in ("en", "et", "ja")}

    def context(request: Request) -> dict[str, Any]:
        lang = request.query_params.get("lang", "en")
        book = books.get(lang, {})
        return {"_": lambda text: book.get(text, text), "lang": lang,
                "csrf_token": "test-token"}

    templates = Jinja2Templates(env=env, context_processors=[context])

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        if on_close is not None:
            await on_close()

    class Login:  # the portal's login guard, reduced to "everyone is ``person``"
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                scope.setdefault("state", {})["person"] = person
            await self.app(scope, receive, send)

    return Starlette(routes=[*usage_routes(source, templates=templates, checker=checker),
                             Mount("/static", StaticFiles(directory=PORTAL / "static"))],
                     middleware=[Middleware(Login)], lifespan=lifespan)
