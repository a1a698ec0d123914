"""The timeline inside the real portal (sild.portal.app mounts sild.portal.usage): the
portal's login, base page, languages and CSP around the timeline's own pages."""

from __future__ import annotations

from sild.testing.portal_country import Country

from .conftest import Portal


def test_timeline_page_renders_in_the_portal(country: Country, portal: Portal) -> None:
    """Logged in, /usage is the timeline in the portal's base page, in Estonian."""
    b = portal.client()
    b.demo_login(country.patient())
    r = b.get("/usage", headers={"Accept-Language": "et"})
    assert r.status_code == 200, r.text[:500]
    assert "Kes minu andmeid kasutas" in r.text
    assert '<html lang="et">' in r.text
    assert '<script type="module" src="/static/usage_verify.js">' in r.text


def test_how_page_renders_in_the_portal(country: Country, portal: Portal) -> None:
    """/usage/how renders with the portal's templates."""
    b = portal.client()
    b.demo_login(country.patient())
    r = b.get("/usage/how")
    assert r.status_code == 200, r.text[:500]
    assert "How is this proved?" in r.text


def test_bad_filter_is_a_400_page_in_the_portal(country: Country, portal: Portal) -> None:
    """An unknown register in the query → 400 with the reason, in the portal's page."""
    b = portal.client()
    b.demo_login(country.patient())
    r = b.get("/usage?register=police")
    assert r.status_code == 400
    assert "no register called" in r.text.replace("&#39;", "'")


def test_the_verify_module_is_served(portal: Portal) -> None:
    """/static/usage_verify.js is served by the portal as JavaScript."""
    r = portal.client().get("/static/usage_verify.js")
    assert r.status_code == 200
    assert "javascript" in r.headers["content-type"]
