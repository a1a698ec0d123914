"""The consent service over real HTTP: the decision API, the person-facing API behind the
admin token, and every malformed input answered as an X-Road error
(docs/spec/consent.md §4, §5)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest

from sild.consent.app import create_consent_app
from sild.consent.artefact import keys_from_jwks, verify_artefact
from sild.consent.service import ConsentService
from sild.testing.clock import SettableClock
from sild.testing.consent import DOCTOR, OTHER_PERSON, PERSON, POLICE
from sild.testing.exchange import call
from sild.testing.servers import serve_asgi

TOKEN = "test-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


@pytest.fixture
def url(service: ConsentService) -> Iterator[str]:
    with serve_asgi(create_consent_app(service, admin_token=TOKEN)) as base:
        yield base


def decision(url: str, **params: object) -> tuple[int, dict[str, str], dict[str, object]]:
    q: list[tuple[str, object]] = []
    for k, v in params.items():
        q += [(k, x) for x in v] if isinstance(v, list) else [(k, v)]
    status, headers, body = call(f"{url}/v1/decision?{urlencode(q)}")
    return status, headers, json.loads(body)


def ask(url: str, *, client: str = DOCTOR, consent: str | None = None) -> dict[str, object]:
    extra = {"consent": consent} if consent else {}
    status, _, body = decision(url, subject=PERSON, category=["health"], client=client,
                               purpose="treatment", **extra)
    assert status == 200, body
    return body


def admin(url: str, method: str, path: str, body: object = None,
          headers: dict[str, str] | None = None) -> tuple[int, dict[str, object]]:
    data = json.dumps(body).encode() if body is not None else None
    status, _, raw = call(f"{url}/v1/persons/{path}", method=method, body=data,
                          headers=ADMIN if headers is None else headers)
    return status, (json.loads(raw) if raw else {})


def test_decision_answer_shape(url: str) -> None:
    """§4: the documented fields, nothing locked → allow."""
    assert ask(url) == {"decision": "allow", "locked": [], "consentId": None,
                        "reason": "no lock on these categories", "maxAge": 30}


def test_lock_through_api_then_deny_then_consent(url: str, clock: SettableClock) -> None:
    """Person locks health → deny with the reason; grants the doctor → allow with its id."""
    status, lock = admin(url, "PUT", f"{PERSON}/locks/health", {"except": [POLICE]})
    assert status == 200
    assert lock["mode"] == "except"
    d = ask(url)
    assert d["decision"] == "deny"
    assert d["locked"] == ["health"]
    assert "person has locked their health data" in str(d["reason"])
    assert ask(url, client=POLICE)["decision"] == "allow"
    status, rec = admin(url, "POST", f"{PERSON}/consents", {
        "consumer": DOCTOR, "purpose": {"code": "treatment", "text": "care"},
        "categories": ["health"], "dataLife": {"unit": "DAY", "value": 0},
        "consentExpiry": "2026-12-31T00:00:00Z"})
    assert status == 201
    assert rec["status"] == "ACTIVE"
    d = ask(url, consent=str(rec["signedConsent"]))
    assert d["decision"] == "allow"
    assert d["consentId"] == rec["consentId"]
    status, listed = admin(url, "GET", f"{PERSON}/consents")
    assert listed["consents"][0]["consentUse"]["count"] == 1  # type: ignore[index]
    clock.advance(1)
    status, _ = admin(url, "POST", f"{PERSON}/consents/{rec['consentId']}/revoke")
    assert status == 200
    assert ask(url, consent=str(rec["signedConsent"]))["decision"] == "deny"
    status, body = admin(url, "POST", f"{PERSON}/consents/{rec['consentId']}/resume")
    assert status == 409
    assert body["type"] == "Client.InvalidState"
    clock.advance(1)
    status, _ = admin(url, "DELETE", f"{PERSON}/locks/health")
    assert status == 204
    assert ask(url)["decision"] == "allow"
    status, hist = admin(url, "GET", f"{PERSON}/history")
    events: list[dict[str, object]] = hist["events"]  # type: ignore[assignment]
    assert [e["action"] for e in events] == ["lock", "grant", "revoke", "unlock"]


def test_jwks_verifies_artefacts(url: str, service: ConsentService,
                                 clock: SettableClock) -> None:
    """The published JWK Set verifies what the service signed; the status is online."""
    from datetime import timedelta

    rec = service.grant(subject=PERSON, consumer=DOCTOR, purpose={"code": "t"},
                        categories=["health"], expiry=clock.now + timedelta(days=1), actor="p")
    _, _, raw = call(f"{url}/v1/jwks")
    keys = keys_from_jwks(json.loads(raw))
    assert rec.signed is not None
    assert verify_artefact(rec.signed, keys=keys, now=clock.now).consent_id == \
        rec.artefact.consent_id
    _, _, raw = call(f"{url}/v1/consents/{rec.artefact.consent_id}/status")
    assert json.loads(raw) == {"consentId": rec.artefact.consent_id, "status": "ACTIVE"}


def test_consumer_requests_consent(url: str) -> None:
    """POST /v1/consents with X-Road-Client → PENDING; the person approves it."""
    body = json.dumps({"subject": PERSON, "purpose": {"code": "treatment"},
                       "categories": ["health"],
                       "consentExpiry": "2026-12-31T00:00:00Z"}).encode()
    status, _, raw = call(f"{url}/v1/consents", method="POST", body=body, headers={
        "X-Road-Client": DOCTOR, "Content-Type": "application/json"})
    assert status == 201
    cid = json.loads(raw)["consentId"]
    assert json.loads(raw)["status"] == "PENDING"
    status, rec = admin(url, "POST", f"{PERSON}/consents/{cid}/approve")
    assert rec["status"] == "ACTIVE"
    assert rec["signedConsent"]
    status, _, raw = call(f"{url}/v1/consents", method="POST", body=body, headers={
        "Content-Type": "application/json"})
    assert status == 400
    assert json.loads(raw)["type"] == "Client.MissingHeader"


@pytest.mark.parametrize(("params", "code"), [
    ({"subject": "EE38001085719", "category": ["health"]}, "Client.InvalidPersonalCode"),
    ({"subject": "38001085718", "category": ["health"]}, "Client.InvalidPersonalCode"),
    ({"subject": PERSON, "category": ["Health"]}, "Client.InvalidDataCategory"),
    ({"subject": PERSON, "category": []}, "Client.InvalidDataCategory"),
    ({"subject": PERSON, "category": ["health"], "client": "EE/GOV"},
     "Client.InvalidClientIdentifier"),
    ({"subject": PERSON, "category": ["health"], "purpose": ""}, "Client.InvalidRequest"),
    ({"subject": PERSON, "category": ["health"], "extra": "1"}, "Client.InvalidRequest"),
    ({"subject": PERSON, "category": ["health"], "consent": "a.b.c"},
     "Client.InvalidSignatureValue"),
    ({"subject": PERSON, "category": ["health"], "consent": "bad id"},
     "Client.InvalidRequest"),
    ({"category": ["health"]}, "Client.InvalidRequest"),
])
def test_bad_decision_input(url: str, params: dict[str, object], code: str) -> None:
    """Each malformed parameter: 400 with its X-Road code, never a traceback."""
    full: dict[str, object] = {"client": DOCTOR, "purpose": "treatment"} | params
    status, headers, body = decision(url, **full)
    assert (status, body["type"], headers["x-road-error"]) == (400, code, code)


def test_repeated_parameter_refused(url: str) -> None:
    """subject given twice is ambiguous: refused."""
    status, _, body = call(f"{url}/v1/decision?subject={PERSON}&subject={OTHER_PERSON}"
                           f"&category=health&client={DOCTOR}&purpose=x")
    assert status == 400
    assert b"more than once" in body


def test_person_api_needs_the_token(url: str) -> None:
    """No or wrong bearer token: 401 before anything is read or written."""
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        status, body = admin(url, "PUT", f"{PERSON}/locks/health", {}, headers=headers)
        assert (status, body["type"]) == (401, "Client.Unauthorized")
    assert ask(url)["decision"] == "allow"


@pytest.mark.parametrize(("method", "path", "body", "code"), [
    ("PUT", f"{PERSON}/locks/HEALTH", {}, "Client.InvalidDataCategory"),
    ("PUT", "EE38001085719/locks/health", {}, "Client.InvalidPersonalCode"),
    ("PUT", f"{PERSON}/locks/health", {"except": ["nope"]}, "Client.InvalidClientIdentifier"),
    ("PUT", f"{PERSON}/locks/health", {"except": "EE/GOV/1"}, "Client.InvalidRequest"),
    ("PUT", f"{PERSON}/locks/health", {"expires": "tomorrow"}, "Client.InvalidRequest"),
    ("PUT", f"{PERSON}/locks/health", {"colour": 1}, "Client.InvalidRequest"),
    ("PUT", f"{PERSON}/locks/health", [1], "Client.InvalidRequest"),
    ("DELETE", f"{PERSON}/locks/health", None, "Client.NotFound"),
    ("POST", f"{PERSON}/consents", {"consumer": DOCTOR, "categories": ["health"]},
     "Client.InvalidRequest"),
    ("POST", f"{PERSON}/consents/x/fly", None, "Client.InvalidRequest"),
    ("POST", f"{PERSON}/consents/nope/revoke", None, "Client.NotFound"),
    ("GET", f"{PERSON}/nothing", None, "Client.NotFound"),
])
def test_bad_person_api_input(url: str, method: str, path: str, body: object,
                              code: str) -> None:
    """Malformed person-facing calls: their X-Road code, and no lock written."""
    status, answer = admin(url, method, path, body)
    assert answer["type"] == code, answer
    assert status in (400, 404)
    assert admin(url, "GET", f"{PERSON}/locks")[1] == {"locks": []}


def test_body_must_be_json(url: str) -> None:
    """A non-JSON body: InvalidRequest."""
    status, _, raw = call(f"{url}/v1/persons/{PERSON}/locks/health", method="PUT",
                          body=b"{not json", headers=ADMIN)
    assert status == 400
    assert json.loads(raw)["type"] == "Client.InvalidRequest"


def test_a_bug_answers_in_protocol(service: ConsentService,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """An unexpected exception: 500 Server.InternalError in the X-Road form, no traceback."""
    def broken(**_: object) -> None:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(service, "decide", broken)
    with serve_asgi(create_consent_app(service, admin_token=TOKEN)) as base:
        status, headers, body = call(f"{base}/v1/decision?subject={PERSON}&category=health"
                                     f"&client={DOCTOR}&purpose=t")
    assert (status, headers["x-road-error"]) == (500, "Server.InternalError")
    assert b"secret detail" not in body
    assert b"Traceback" not in body


def test_expired_lock_listed_inactive(url: str, clock: SettableClock) -> None:
    """A lock past its expiry is still listed, marked inactive, and no longer denies."""
    status, _ = admin(url, "PUT", f"{PERSON}/locks/health",
                      {"expires": "2026-11-22T13:00:00Z"})
    assert status == 200
    assert ask(url)["decision"] == "deny"
    clock.advance(3600)
    _, listed = admin(url, "GET", f"{PERSON}/locks")
    locks: list[dict[str, object]] = listed["locks"]  # type: ignore[assignment]
    assert [(lk["category"], lk["active"]) for lk in locks] == [("health", False)]
    assert ask(url)["decision"] == "allow"
