"""The portal mounts the timeline (``sild.portal.usage``, the timeline's module) behind
its login, with the interface both sides follow (portal_iface): HttpUsageSource built
from [trackers] through the portal's own gateway, ``usage_routes(source)`` at /usage,
``request.state.person`` set, ``request.app.state.templates`` giving ``_``, ``lang``,
``csrf_token``. A stand-in module plays the timeline here."""

from __future__ import annotations

import importlib.machinery
import sys
import types
from collections.abc import Iterator
from dataclasses import replace
from typing import Any, ClassVar, NamedTuple

import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sild.core.identifiers import ServiceId
from sild.portal.app import create_portal_app
from sild.portal.demo import config_of
from sild.testing.portal_country import PORTAL, Country
from sild.testing.servers import serve_asgi

from .conftest import Portal

FIND = "EE/GOV/70000001/rr/findUsage"


class _Ref(NamedTuple):
    label: str
    service: str


class _Source:
    made: ClassVar[list[tuple[str, str, list[Any]]]] = []

    def __init__(self, gateway_url: str, client: str, trackers: list[Any],
                 policy: Any = None) -> None:
        self.made.append((gateway_url, client, list(trackers)))
        self.policy = policy


def _routes(source: _Source) -> list[Route]:
    async def page(request: Request) -> Response:
        p = request.state.person
        templates = request.app.state.templates
        return templates.TemplateResponse(request, "error.html", {
            "status": 200, "message": f"timeline of {p.code} asked by {p.user_code}"})
    return [Route("/usage", page, methods=["GET"])]


@pytest.fixture(scope="module")
def timeline_portal(country: Country) -> Iterator[Portal]:
    fake = types.ModuleType("sild.portal.usage")
    fake.__spec__ = importlib.machinery.ModuleSpec("sild.portal.usage", None)
    fake.TrackerRef = _Ref  # type: ignore[attr-defined]
    fake.HttpUsageSource = _Source  # type: ignore[attr-defined]
    fake.usage_routes = _routes  # type: ignore[attr-defined]
    saved = sys.modules.get("sild.portal.usage")
    sys.modules["sild.portal.usage"] = fake
    try:
        config = replace(config_of(country, listen="127.0.0.1:8487"),
                         trackers={"population": ServiceId.parse(FIND)})
        app = create_portal_app(config)
    finally:
        if saved is None:
            del sys.modules["sild.portal.usage"]
        else:
            sys.modules["sild.portal.usage"] = saved
    with serve_asgi(app, lifespan="on") as url:
        yield Portal(url, config)


def test_the_timeline_source_uses_the_portals_own_gateway(
        country: Country, timeline_portal: Portal) -> None:
    """HttpUsageSource(gateway_url, the portal's client, [TrackerRef(label, service)])."""
    gateway, client, trackers = _Source.made[-1]
    assert gateway == country.portal_gateway_url
    assert client == str(PORTAL)
    assert trackers == [("population", FIND)]


def test_the_timeline_needs_a_login(timeline_portal: Portal) -> None:
    """/usage without a session → 303 to the login page."""
    r = timeline_portal.client().get("/usage")
    assert r.status_code == 303
    assert r.headers["location"] == "/"


def test_the_timeline_renders_with_the_portals_templates(
        country: Country, timeline_portal: Portal) -> None:
    """Logged in, /usage answers from the timeline's route with the person set and the
    portal's base template (language, the person's name in the header, CSP)."""
    b = timeline_portal.client()
    b.demo_login(country.patient())
    r = b.get("/usage", headers={"Accept-Language": "et"})
    assert r.status_code == 200
    assert f"timeline of {country.patient()} asked by {country.patient()}" in r.text
    assert '<html lang="et">' in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]


def test_other_unknown_paths_are_still_404(country: Country,
                                           timeline_portal: Portal) -> None:
    """The root mount does not swallow other paths: /nowhere → the portal's 404 page."""
    b = timeline_portal.client()
    b.demo_login(country.patient())
    r = b.get("/nowhere")
    assert r.status_code == 404
    assert 'id="error-message"' in r.text
