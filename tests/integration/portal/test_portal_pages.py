"""The portal's pages against a real country: demo login, my data live through the
portal's own gateway, representation, sessions, security headers, languages
(docs/spec/portal.md §3–§6)."""

from __future__ import annotations

import html

from sild.store import make_engine
from sild.testing.portal_country import PORTAL, REGISTER, STATE, Country
from sild.tracker.store import UsageStore

from .conftest import Portal


def test_demo_login_shows_my_data_from_the_population_register(
        country: Country, portal: Portal) -> None:
    """After the demo login /data shows the person's name and address as the register has them."""
    code = country.patient()
    b = portal.client()
    b.demo_login(code)
    page = b.get("/data")
    assert page.status_code == 200
    p = country.person(code)
    assert html.escape(f"{p['given_name']} {p['surname']}") in page.text
    assert html.escape(p["address"]) in page.text
    assert 'id="health"' in page.text


def test_my_data_is_fetched_through_the_exchange_and_recorded(
        country: Country, portal: Portal) -> None:
    """The register's gateway records the portal (its member subsystem) as the receiver,
    the logged-in person as the acting user: the portal is one more X-Road client."""
    code = country.data["pop_persons"][5]["code"]
    b = portal.client()
    b.demo_login(country.patient())  # a demo person…
    engine = make_engine(country.net.gateway_settings[STATE.server].database_url)
    try:
        before, _ = UsageStore(engine).find(str(REGISTER), country.patient())
        assert b.get("/data").status_code == 200
        after, usages = UsageStore(engine).find(str(REGISTER), country.patient())
    finally:
        engine.dispose()
    assert after > before
    assert {u.receiver for u in usages} == {str(PORTAL)}
    assert code != country.patient()


def test_data_needs_a_login(portal: Portal) -> None:
    """/data without a session → 303 to the login page."""
    r = portal.client().get("/data")
    assert r.status_code == 303
    assert r.headers["location"] == "/"


def test_a_forged_session_cookie_is_not_a_session(portal: Portal) -> None:
    """A cookie value the portal did not issue → treated as logged out."""
    b = portal.client()
    b.http.cookies.set("sild_portal", "x" * 43)
    assert b.get("/data").status_code == 303


def test_each_session_shows_its_own_person(country: Country, portal: Portal) -> None:
    """Two persons logged in at once each see their own name, not the other's."""
    parent, _ = country.parent_with_child()
    patient = country.patient()
    a, b = portal.client(), portal.client()
    a.demo_login(parent)
    b.demo_login(patient)
    pa, pb = country.person(parent), country.person(patient)
    page_a, page_b = a.get("/data").text, b.get("/data").text
    assert html.escape(pa["surname"]) in page_a
    assert f'id="who">{html.escape(pb["given_name"])}' not in page_a
    assert f'id="who">{html.escape(pb["given_name"])}' in page_b


def test_logout_ends_the_session(country: Country, portal: Portal) -> None:
    """After POST /logout the old cookie no longer opens /data."""
    b = portal.client()
    b.demo_login(country.patient())
    old = b.http.cookies.get("sild_portal")
    r = b.post("/logout", {}, token=b.csrf("/data"))
    assert r.status_code == 303
    b.http.cookies.set("sild_portal", old)
    assert b.get("/data").status_code == 303


def test_demo_login_refuses_a_person_not_offered(country: Country, portal: Portal) -> None:
    """A valid code that is not one of the demo persons → 403."""
    b = portal.client()
    other = country.data["pop_persons"][-1]["code"]
    r = b.post("/login/demo", {"personal_code": other}, token=b.csrf("/"))
    assert r.status_code == 403
    assert b.get("/data").status_code == 303


def test_demo_login_refuses_a_malformed_code(portal: Portal) -> None:
    """A code with a wrong check digit → 400 with a message, no session."""
    b = portal.client()
    r = b.post("/login/demo", {"personal_code": "EE38001085719"}, token=b.csrf("/"))
    assert r.status_code == 400
    assert "personal code" in r.text


def test_demo_login_refuses_an_oversize_code(portal: Portal) -> None:
    """A 10 000-character code → 400."""
    b = portal.client()
    r = b.post("/login/demo", {"personal_code": "EE" + "1" * 10_000}, token=b.csrf("/"))
    assert r.status_code == 400
    assert "longer than" in r.text


def test_script_in_a_code_is_escaped(portal: Portal) -> None:
    """A code with <script> comes back escaped in the error page, never as markup."""
    b = portal.client()
    r = b.post("/login/demo", {"personal_code": "EE<script>alert(1)</script>"},
               token=b.csrf("/"))
    assert r.status_code == 400
    assert "<script>alert" not in r.text


def test_demo_login_without_csrf_token_is_403(country: Country, portal: Portal) -> None:
    """POST /login/demo without the token → 403 and no session."""
    b = portal.client()
    b.csrf("/")
    r = b.post("/login/demo", {"personal_code": country.patient()}, token=None)
    assert r.status_code == 403
    assert b.get("/data").status_code == 303


def test_demo_login_is_absent_outside_demo_mode(country: Country,
                                                plain_portal: Portal) -> None:
    """Not in demo mode: no demo form on the page and POST /login/demo → 403."""
    b = plain_portal.client()
    page = b.get("/")
    assert "demo-login" not in page.text
    r = b.post("/login/demo", {"personal_code": country.patient()}, token="any")
    assert r.status_code == 403
    assert "only offered when the portal runs in demo mode" in r.text


def test_security_headers_and_cookie_flags(portal: Portal) -> None:
    """Every page has a strict CSP and nosniff; the session cookie is HttpOnly, SameSite=Lax."""
    r = portal.client().get("/")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert "'unsafe-inline'" not in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # served over http here; https → Secure (unit-tested)


def test_pages_have_no_inline_script(country: Country, portal: Portal) -> None:
    """No <script> without src and no on…= handlers in the pages (the CSP would block them)."""
    b = portal.client()
    b.demo_login(country.patient())
    for path in ("/data", "/locks", "/notifications", "/documents", "/represent",
                 "/eservices"):
        text = b.get(path).text
        assert "<script>" not in text, path
        assert " onclick=" not in text, path
        assert " onload=" not in text, path


def test_accept_language_japanese(portal: Portal) -> None:
    """Accept-Language: ja → the page in Japanese with lang="ja"."""
    r = portal.client().get("/", headers={"Accept-Language": "ja,en;q=0.5"})
    assert '<html lang="ja">' in r.text
    assert "ログイン" in r.text


def test_language_switch_is_kept_in_a_cookie(portal: Portal) -> None:
    """?lang=et answers in Estonian and later pages stay Estonian."""
    b = portal.client()
    assert '<html lang="et">' in b.get("/?lang=et").text
    assert "Logi sisse" in b.get("/").text


def test_an_unknown_language_falls_back_to_english(portal: Portal) -> None:
    """?lang=<script> is ignored: English, nothing echoed."""
    r = portal.client().get("/?lang=%3Cscript%3E", headers={"Accept-Language": "xx"})
    assert '<html lang="en">' in r.text
    assert "<script>" not in r.text


def test_act_for_my_child(country: Country, portal: Portal) -> None:
    """A parent switches to their child (the population register lists them): /data
    shows the child, marked as acting for."""
    parent, child = country.parent_with_child()
    b = portal.client()
    b.demo_login(parent)
    assert child in b.get("/represent").text
    r = b.post("/represent", {"personal_code": child}, token=b.csrf("/represent"))
    assert r.status_code == 303
    page = b.get("/data").text
    assert 'id="acting"' in page
    assert html.escape(country.person(child)["surname"]) in page


def test_act_for_someone_not_my_child_is_403(country: Country, portal: Portal) -> None:
    """A valid code of a person who is not the user's child → 403 with a clear message."""
    parent, _ = country.parent_with_child()
    stranger = country.patient()
    b = portal.client()
    b.demo_login(parent)
    r = b.post("/represent", {"personal_code": stranger}, token=b.csrf("/represent"))
    assert r.status_code == 403
    assert "no right to represent" in r.text
    assert 'id="acting"' not in b.get("/data").text


def test_act_for_a_malformed_code_is_400(country: Country, portal: Portal) -> None:
    """A malformed code in the representation form → 400."""
    parent, _ = country.parent_with_child()
    b = portal.client()
    b.demo_login(parent)
    r = b.post("/represent", {"personal_code": "EE123"}, token=b.csrf("/represent"))
    assert r.status_code == 400


def test_act_for_without_csrf_is_403(country: Country, portal: Portal) -> None:
    """POST /represent without the token → 403, still acting for oneself."""
    parent, child = country.parent_with_child()
    b = portal.client()
    b.demo_login(parent)
    r = b.post("/represent", {"personal_code": child}, token=None)
    assert r.status_code == 403
    assert 'id="acting"' not in b.get("/data").text


def test_eservices_page_lists_them(country: Country, portal: Portal) -> None:
    """/eservices renders (no e-services configured → says so)."""
    b = portal.client()
    b.demo_login(country.patient())
    r = b.get("/eservices")
    assert r.status_code == 200
    assert 'id="eservices"' in r.text
