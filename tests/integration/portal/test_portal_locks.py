"""Locks, consents and notifications through the portal (docs/spec/portal.md §5): lock
health data → the doctor's next query is refused by the register's gateway →
break-glass goes through, flagged → the notice shows in the portal. Bad input and CSRF
on every form change nothing."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from sild.portal.app import create_portal_app
from sild.portal.demo import config_of
from sild.testing.portal_country import DOCTOR, Country, portal_country
from sild.testing.servers import serve_asgi

from .conftest import Browser, Portal


def _doctor_reads(country: Country, code: str, **extra: str) -> requests.Response:
    return requests.get(country.doctor_url("health", f"/visits/{code}"), headers={
        "X-Road-Client": str(DOCTOR), "Sild-Data-Subject": code,
        "Sild-Purpose": "Treatment of the patient", "X-Road-UserId": "EE38001085718",
        **extra}, timeout=30)


def _locks(country: Country, code: str) -> list[dict[str, object]]:
    url, token = country.consent_api
    r = requests.get(f"{url}/v1/persons/{code}/locks",
                     headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 200, r.text
    locks: list[dict[str, object]] = r.json()["locks"]
    return locks


def _logged_in(portal: Portal, code: str) -> Browser:
    b = portal.client()
    b.demo_login(code)
    return b


def test_lock_refuses_the_doctor_and_break_glass_is_notified(
        tmp_path: Path, database_factory: Callable[[str], str]) -> None:
    """The whole story, on SQLite and PostgreSQL: lock health in the portal → the doctor
    is refused → break-glass answers → the portal's live feed shows the emergency."""
    with portal_country(tmp_path, database_factory) as country, serve_asgi(
            create_portal_app(config_of(country, listen="127.0.0.1:8487")),
            lifespan="on") as url:
        code = country.patient()
        b = _logged_in(Portal(url, config_of(country, listen="127.0.0.1:8487")), code)
        assert b.get("/notifications").status_code == 200  # subscribes the inbox
        assert _doctor_reads(country, code).status_code == 200
        r = b.post("/locks", {"category": "health", "action": "lock", "except": ""})
        assert r.status_code == 303, r.text
        assert [lk["category"] for lk in _locks(country, code)] == ["health"]
        refused = _doctor_reads(country, code)
        assert refused.status_code != 200
        assert "health" in refused.text.lower() or "lock" in refused.text.lower()
        glass = _doctor_reads(country, code, **{"Sild-Emergency": "unconscious in the ER"})
        assert glass.status_code == 200, glass.text
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            feed = b.get("/notifications/feed").text
            if "Emergency access" in feed:
                break
            time.sleep(0.3)
        assert "unconscious in the ER" in feed


def test_my_own_health_data_stays_visible_after_i_lock_it(country: Country,
                                                         portal: Portal) -> None:
    """The portal excepts itself when it locks: the person still sees their visits."""
    code = country.patient()
    b = _logged_in(portal, code)
    assert b.post("/locks", {"category": "health", "action": "lock"}).status_code == 303
    try:
        page = b.get("/data").text
        assert "<caption>" in page  # the visits table, not a refusal
        assert "Refused by the exchange" not in page
    finally:
        b.post("/locks", {"category": "health", "action": "unlock"})


def test_unlock_from_the_portal(country: Country, portal: Portal) -> None:
    """Lock then unlock through the forms → no lock left."""
    parent, _ = country.parent_with_child()
    b = _logged_in(portal, parent)
    assert b.post("/locks", {"category": "vehicles", "action": "lock"}).status_code == 303
    assert [lk["category"] for lk in _locks(country, parent)] == ["vehicles"]
    assert b.post("/locks", {"category": "vehicles", "action": "unlock"}).status_code == 303
    assert _locks(country, parent) == []


def test_lock_with_the_named_doctor_excepted(country: Country, portal: Portal) -> None:
    """Lock health except the named doctor → the lock names the doctor's client."""
    _, child = country.parent_with_child()
    b = _logged_in(portal, child)
    r = b.post("/locks", {"category": "health", "action": "lock", "except": str(DOCTOR)})
    assert r.status_code == 303, r.text
    assert str(DOCTOR) in _locks(country, child)[0]["except"]
    b.post("/locks", {"category": "health", "action": "unlock"})


@pytest.mark.parametrize("form", [
    {"category": "health", "action": "explode"},
    {"category": "Health!", "action": "lock"},
    {"category": "h" * 500, "action": "lock"},
    {"category": "health", "action": "lock", "except": "EE/COM/99999999/evil"},
    {"category": "<script>x</script>", "action": "lock"},
])
def test_bad_lock_forms_are_400_and_change_nothing(country: Country, portal: Portal,
                                                   form: dict[str, str]) -> None:
    """An unknown action, a malformed or oversize category, a doctor not in the list,
    script in a field → 400, no lock written, nothing echoed as markup."""
    parent, _ = country.parent_with_child()
    b = _logged_in(portal, parent)
    r = b.post("/locks", form)
    assert r.status_code == 400, r.text
    assert "<script>x" not in r.text
    assert _locks(country, parent) == []


@pytest.mark.parametrize("token", [None, "", "forged-token-" + "x" * 30])
def test_lock_without_or_with_a_wrong_csrf_token_is_403(country: Country, portal: Portal,
                                                        token: str | None) -> None:
    """POST /locks without the token, empty or wrong → 403, nothing locked."""
    parent, _ = country.parent_with_child()
    b = _logged_in(portal, parent)
    r = b.post("/locks", {"category": "health", "action": "lock"}, token=token)
    assert r.status_code == 403
    assert "CSRF" in r.text
    assert _locks(country, parent) == []


def test_another_sessions_csrf_token_is_refused(country: Country, portal: Portal) -> None:
    """A token from another person's session does not work in mine → 403."""
    parent, child = country.parent_with_child()
    mine, theirs = _logged_in(portal, parent), _logged_in(portal, child)
    r = mine.post("/locks", {"category": "health", "action": "lock"},
                  token=theirs.csrf("/locks"))
    assert r.status_code == 403
    assert _locks(country, parent) == []


def test_grant_and_revoke_a_consent(country: Country, portal: Portal) -> None:
    """Grant the named doctor 30 days of health data, see it ACTIVE, revoke it."""
    parent, _ = country.parent_with_child()
    b = _logged_in(portal, parent)
    r = b.post("/consents", {"doctor": str(DOCTOR), "category": "health", "days": "30"})
    assert r.status_code == 303, r.text
    page = b.get("/locks").text
    assert "ACTIVE" in page
    action = page.split('action="/consents/')[1].split('"')[0]
    r = b.post(f"/consents/{action}", {})
    assert r.status_code == 303, r.text
    assert "REVOKED" in b.get("/locks").text


@pytest.mark.parametrize("form", [
    {"doctor": str(DOCTOR), "category": "health", "days": "0"},
    {"doctor": str(DOCTOR), "category": "health", "days": "366"},
    {"doctor": str(DOCTOR), "category": "health", "days": "ten"},
    {"doctor": "EE/COM/10000001/other", "category": "health", "days": "5"},
    {"doctor": str(DOCTOR), "category": "", "days": "5"},
])
def test_bad_consent_forms_are_400(country: Country, portal: Portal,
                                   form: dict[str, str]) -> None:
    """Days out of 1–365 or not a number, a doctor not offered, no category → 400."""
    b = _logged_in(portal, country.patient())
    assert b.post("/consents", form).status_code == 400


def test_revoke_a_malformed_or_foreign_consent_id(country: Country, portal: Portal) -> None:
    """A consent id with odd characters → 400; a well-formed unknown one → an error
    page, not a change."""
    b = _logged_in(portal, country.patient())
    r = b.post("/consents/<x>/revoke", {})
    assert r.status_code == 400
    assert "not a consent id" in r.text
    r = b.post("/consents/00000000-0000-4000-8000-000000000000/revoke", {})
    assert r.status_code == 400
    assert "NotFound" in r.text or "InvalidRequest" in r.text
