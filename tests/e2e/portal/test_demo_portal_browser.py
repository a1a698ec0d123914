"""The demo's own portal in Chromium (issue #10): "Log in with Sild ID" with a certificate
challenge and then a passkey (CDP virtual authenticator, as in
tests/integration/identity/test_passkey_browser.py), and an e-service used from the
portal (the prefilled tax return, confirmed). One ``sild demo --size small`` for both.

The provider is browsed as ``http://localhost:PORT`` (WebAuthn: a secure context and
an RP ID that is a domain); the portal at ``http://127.0.0.1:PORT``.
"""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from sild.crypto.keys import verify
from sild.identity.oidc.webeid import challenge_data
from sild.identity.token import SoftToken
from sild.testing.demo_run import RunningDemo, running_demo

sync_api = pytest.importorskip("playwright.sync_api")  # the conftest checked Chromium


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDemo]:
    with running_demo(tmp_path_factory.mktemp("demo-browser") / "demo") as d:
        yield d


def _authenticator(page: Any) -> tuple[Any, str]:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True,
        "automaticPresenceSimulation": True}})
    return cdp, added["authenticatorId"]


def _printed_signature(demo: RunningDemo, code: str, nonce: str) -> str:
    """The signature as the demo tells a person to make it: its two printed lines, as
    printed, in a fresh bash, the nonce typed at the prompt."""
    printed = [line.strip() for line in demo.printed]
    ask = printed.index("read -r -p 'nonce shown on the page: ' NONCE")
    sign = printed[ask + 1]
    assert f"{code}.token" in sign, sign
    run = subprocess.run(["bash", "-c", f"{printed[ask]}\n{sign}"], input=nonce + "\n",
                         capture_output=True, text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/")})
    assert run.returncode == 0, run.stderr
    signature = run.stdout.strip()
    assert signature, run.stderr
    return signature


def _certificate_login(page: Any, demo: RunningDemo, code: str) -> None:
    """On the provider's page: sign its challenge with the person's demo token (PIN1)."""
    folder = demo.country.root / "sild-id"
    nonce = page.locator("#nonce").inner_text()
    token = SoftToken.open(folder / f"{code}.token")
    der = token.certificate("auth").public_bytes(serialization.Encoding.DER)
    assert (folder / f"{code}.cert.b64").read_text().strip() == base64.b64encode(der).decode()
    signature = _printed_signature(demo, code, nonce)
    page.fill("textarea[name=certificate]", base64.b64encode(der).decode())
    page.fill("textarea[name=signature]", signature)
    page.click("#certificate-submit")


def test_sild_id_certificate_then_passkey_login_arrives_at_my_data(
        page: Any, demo: RunningDemo) -> None:
    """Log in with Sild ID (certificate) → register a passkey at the provider → log out
    of both → Log in with Sild ID with the passkey alone → My data of that person."""
    person = demo.country.person("citizen")
    issuer, portal = demo.country.oidc_url, demo.portal_url
    cdp, authenticator = _authenticator(page)

    page.goto(portal + "/")
    page.click("#login-oidc")
    page.wait_for_url(issuer + "/authorize**")
    _certificate_login(page, demo, person.code)
    page.wait_for_url(portal + "/data")
    assert person.code in page.text_content("#who")

    page.goto(issuer + "/passkeys")
    page.click("#passkey-register")
    sync_api.expect(page.locator("#passkey-status")).to_have_text("Passkey registered.")
    creds = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    assert [c["rpId"] for c in creds["credentials"]] == ["localhost"]
    page.click("#logout")
    page.wait_for_selector("#no-session")

    page.goto(portal + "/data")
    page.click("header form button[type=submit]")  # the portal's Log out
    page.wait_for_url(portal + "/")
    page.click("#login-oidc")
    page.wait_for_url(issuer + "/authorize**")
    page.click("#passkey-login")
    page.wait_for_url(portal + "/data")
    who = page.text_content("#who")
    assert person.code in who
    assert person.surname.upper() in who.upper()
    assert not [e for e in page.csp_errors if "Content Security Policy" in e]


def test_confirm_the_prefilled_tax_return_in_the_portal(page: Any, demo: RunningDemo) -> None:
    """Demo login → E-services → the prefilled tax return → Confirm → filed."""
    person = demo.country.person("parent")
    page.goto(demo.portal_url + "/")
    page.select_option("#personal_code", person.code)
    page.click("#demo-login")
    page.wait_for_url(demo.portal_url + "/data")
    page.click("nav.main-nav >> text=E-services")
    page.click("#eservice-pages a[href='/eservices/tax-return']")
    page.wait_for_selector("#income")
    assert float(page.text_content("#gross")) > 0
    page.click("#confirm-return")
    sync_api.expect(page.locator("#filed")).to_contain_text("Confirmed and filed at")
    assert page.locator("#confirm-return").count() == 0
    assert not [e for e in page.csp_errors if "Content Security Policy" in e]


def test_the_printed_signing_lines_sign_a_nonce_that_starts_with_a_dash(
        demo: RunningDemo) -> None:
    """A base64url nonce starts with "-" one time in 64. The demo's printed line passes it
    as ``--nonce="$NONCE"`` (argparse would take ``--nonce -…`` for an option, the
    challenge would come out empty and the login fail: a CI failure of this test file)."""
    code = demo.country.person("citizen").code
    nonce = "-" + "x" * 42
    signature = _printed_signature(demo, code, nonce)
    token = SoftToken.open(demo.country.root / "sild-id" / f"{code}.token")
    verify(public_key=token.certificate("auth").public_key(),  # type: ignore[arg-type]
           signature=base64.b64decode(signature),
           data=challenge_data(demo.country.oidc_url, nonce))
