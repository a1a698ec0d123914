"""``sild.portal.demo.start``: what ``sild demo`` calls with its ``DemoCountry``
(docs/spec/portal.md §7). Here the country is the test kit's, once as a PortalCountry
and once dressed as the demo's DemoCountry (plain strings, the instance folder)."""

from __future__ import annotations

import asyncio
import html
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from sild.portal.demo import from_demo_country, start
from sild.testing.portal_country import DOCTOR, PORTAL, RIA, Country


@dataclass(frozen=True)
class _Person:
    code: str
    given_name: str
    surname: str
    role: str = "citizen"


@dataclass(frozen=True)
class _DemoCountryLike:
    """The fields of sild.demo_country.DemoCountry the portal reads."""

    root: Path
    services: dict[str, str]
    find_usage: dict[str, str]
    subsystems: dict[str, str]
    consent_url: str
    notify_url: str
    eservice_urls: dict[str, str]
    persons: tuple[_Person, ...]
    portal_is: str

    def is_url_for(self, role: str) -> str:
        assert role == "portal"
        return self.portal_is


def _like(country: Country) -> _DemoCountryLike:
    p = country.person(country.patient())
    return _DemoCountryLike(
        root=country.net.root, services={k: str(v) for k, v in
                                         country.register_services.items()},
        find_usage={}, subsystems={"portal": str(PORTAL), "doctor": str(DOCTOR)},
        consent_url=country.consent_api[0], notify_url=country.notify_api[0],
        eservice_urls={"company": "http://127.0.0.1:9/company"},
        persons=(_Person(p["code"], p["given_name"], p["surname"]),),
        portal_is=country.net.is_url_of(RIA.server))


async def _login_and_read(url: str, code: str) -> str:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{url}/") as r:
            token = re.search(r'name="csrf_token" value="([^"]+)"', await r.text())
        assert token
        async with http.post(f"{url}/login/demo", data={
                "csrf_token": token.group(1), "personal_code": code}) as r:
            assert r.status == 200, await r.text()
            return await r.text()


def test_start_serves_the_demo_portal(country: Country) -> None:
    """start(country) serves a demo-mode portal; a demo person logs in and sees their data;
    the handle it returns stops it."""
    code = country.patient()

    async def go() -> str:
        running = await start(country)
        try:
            return await _login_and_read(running.url, code)
        finally:
            await running()
    page = asyncio.run(go())
    assert html.escape(country.person(code)["surname"]) in page


def test_start_takes_the_demos_country(country: Country) -> None:
    """A DemoCountry-shaped object is adapted: registers, the portal's own gateway and
    subsystem, the admin tokens read from the instance folder, the e-services."""
    like = _like(country)
    adapted: Any = from_demo_country(like)
    assert adapted.portal_client == PORTAL
    assert adapted.consent_api == country.consent_api
    assert adapted.notify_api == country.notify_api
    assert adapted.eservices == [("company", "http://127.0.0.1:9/company")]
    p = like.persons[0]
    assert adapted.demo_persons == [(p.code, f"{p.given_name} {p.surname} — citizen")]
    code = like.persons[0].code

    async def go() -> str:
        running = await start(like)
        try:
            return await _login_and_read(running.url, code)
        finally:
            await running()
    assert html.escape(like.persons[0].surname) in asyncio.run(go())
