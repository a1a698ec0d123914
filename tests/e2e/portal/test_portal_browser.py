"""The citizen portal end to end in Chromium (issue #10 "done when"): demo login, my
data, lock health data → the doctor is refused → break-glass → the notice appears
live (the page's own script, under the strict CSP), language switch, keyboard, a
document checked."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import requests

from sild.doc.report import Indication
from sild.doc.verify import verify_container
from sild.portal.app import create_portal_app
from sild.portal.config import OidcSettings
from sild.portal.demo import config_of
from sild.testing.documents import DocWorld
from sild.testing.portal_country import DOCTOR, Country, oidc_provider, serve_on_port
from sild.testing.servers import free_port


def _login(page: Any, url: str, code: str) -> None:
    page.goto(url + "/")
    page.select_option("#personal_code", code)
    page.click("#demo-login")
    page.wait_for_url(url + "/data")


def _doctor(country: Country, code: str, **extra: str) -> requests.Response:
    return requests.get(country.doctor_url("health", f"/visits/{code}"), headers={
        "X-Road-Client": str(DOCTOR), "Sild-Data-Subject": code,
        "Sild-Purpose": "Treatment of the patient", "X-Road-UserId": "EE38001085718",
        **extra}, timeout=30)


def test_log_in_and_see_my_data(page: Any, portal_url: str, country: Country) -> None:
    """The demo login lands on My data with the person's name from the register."""
    code = country.patient()
    _login(page, portal_url, code)
    p = country.person(code)
    assert page.text_content("#name").strip() == f"{p['given_name']} {p['surname']}"
    assert page.is_visible("#health")
    assert page.csp_errors == []


def test_lock_refuse_break_glass_and_live_notice(page: Any, portal_url: str,
                                                  country: Country) -> None:
    """Lock health in the portal; the doctor is refused; break-glass goes through; the
    notifications page shows the emergency without a reload."""
    code = country.patient()
    _login(page, portal_url, code)
    page.click("text=Notifications")
    page.wait_for_url(portal_url + "/notifications")
    page.goto(portal_url + "/locks")
    page.select_option("#lock-category", "health")
    page.click("#lock")
    page.wait_for_url(portal_url + "/locks")
    assert "health" in page.text_content("#locks")
    assert _doctor(country, code).status_code != 200
    page.goto(portal_url + "/notifications")
    glass = _doctor(country, code, **{"Sild-Emergency": "unconscious in the ER"})
    assert glass.status_code == 200, glass.text
    page.wait_for_selector("#inbox .emergency", timeout=20_000)  # polled, no reload
    assert "unconscious in the ER" in page.text_content("#inbox")
    assert page.csp_errors == []
    page.goto(portal_url + "/locks")
    page.select_option("#lock-category", "health")
    page.click("#unlock")


def test_switch_to_japanese_and_keyboard_skip_link(page: Any, portal_url: str) -> None:
    """Clicking 日本語 sets lang="ja"; the first Tab reaches the skip link."""
    page.goto(portal_url + "/")
    page.click("text=日本語")
    page.wait_for_function("document.documentElement.lang === 'ja'")
    assert "ログイン" in page.content()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"


def test_act_for_my_child(page: Any, portal_url: str, country: Country) -> None:
    """A parent picks their child on Representation and sees the child's data."""
    parent, child = country.parent_with_child()
    _login(page, portal_url, parent)
    page.goto(portal_url + "/represent")
    page.select_option("#act-code", child)
    page.click("#act")
    page.wait_for_url(portal_url + "/data")
    assert child in page.text_content("#acting")


def test_verify_a_document(page: Any, portal_url: str, country: Country) -> None:
    """Uploading a container without signatures shows its files and INDETERMINATE."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.etsi.asic-e+zip")
        z.writestr("letter.txt", "hello")
        z.writestr("META-INF/manifest.xml",
                   '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest='
                   '"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
                   '<manifest:file-entry manifest:full-path="/" manifest:media-type='
                   '"application/vnd.etsi.asic-e+zip"/><manifest:file-entry manifest:full-path='
                   '"letter.txt" manifest:media-type="text/plain"/></manifest:manifest>')
    _login(page, portal_url, country.patient())
    page.goto(portal_url + "/documents")
    page.set_input_files("#container", files=[{"name": "letter.asice",
                                               "mimeType": "application/vnd.etsi.asic-e+zip",
                                               "buffer": buf.getvalue()}])
    page.click("#verify")
    page.wait_for_selector("#indication")
    text = page.text_content("main")
    assert "letter.txt" in text or "not a signed container" in text


def test_sign_a_document(page: Any, portal_url: str, country: Country,
                         world: DocWorld) -> None:
    """Choose a file, type PIN2, Sign → the browser downloads an ASiC-E that verifies."""
    _login(page, portal_url, country.patient())
    page.goto(portal_url + "/documents")
    page.set_input_files("#sign-file", files=[{"name": "contract.txt",
                                               "mimeType": "text/plain",
                                               "buffer": b"I agree."}])
    page.fill("#pin2", "12345")
    with page.expect_download() as info:
        page.click("#sign")
    download = info.value
    assert download.suggested_filename == "contract.asice"
    report = verify_container(Path(download.path()).read_bytes(), trust=world.trust)
    assert report.indication is Indication.VALID


def test_log_in_through_the_oidc_provider(page: Any, country: Country,
                                          tmp_path: Path) -> None:
    """"Log in with Sild ID" → the provider's page (its demo login stands in for passkey
    and certificate) → back at the portal's My data as that person."""
    port = free_port()
    code = country.patient()
    with oidc_provider(tmp_path, f"http://127.0.0.1:{port}/login/callback") as (issuer,
                                                                                secret):
        config = config_of(country, listen=f"127.0.0.1:{port}",
                           oidc=OidcSettings(issuer, "portal", secret))
        with serve_on_port(create_portal_app(config), port) as url:
            page.goto(url + "/")
            page.click("#login-oidc")
            page.wait_for_url(issuer + "/authorize**")
            page.fill("input[name=personal_code]", code)
            page.fill("input[name=given_name]", "Browser")
            page.fill("input[name=family_name]", "Person")
            page.click("text=log in (demo)")
            page.wait_for_url(url + "/data")
            assert "Browser Person" in page.text_content("#who")
            p = country.person(code)
            assert page.text_content("#name").strip() == f"{p['given_name']} {p['surname']}"
