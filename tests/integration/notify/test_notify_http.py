"""The notification service over real HTTP with its delivery worker and real webhook
receivers on loopback, on SQLite and PostgreSQL (docs/spec/notify.md §4, §5).

Issue #8 "Notifications": deduplication by id, retry, a webhook that hangs or answers
500 affects no one else, bad input answers clear errors."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from standardwebhooks.webhooks import Webhook
from tests.integration.notify.conftest import AUTH, Running, make_service

from sild.notify.model import NotifyLimits
from sild.testing.notify import ServerThread, WebhookSink, sample_event

ANN, BOB, CAROL = "EE38001085718", "EE49002124277", "EE60001017869"
SENDER = {"X-Road-Client": "EE/GOV/70000001/tracker"}


def subscribe(r: Running, person: str, **body: Any) -> dict[str, Any]:
    resp = requests.post(f"{r.url}/v1/persons/{person}/subscriptions", json=body,
                         headers=AUTH, timeout=10)
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


def post_events(r: Running, events: list[dict[str, Any]],
                headers: dict[str, str] = SENDER) -> requests.Response:
    return requests.post(f"{r.url}/v1/events", json={"events": events}, headers=headers,
                         timeout=10)


def test_an_event_reaches_the_webhook_signed(running: Running) -> None:
    """Subscribe, send one event: the webhook gets it, signed by the Standard Webhooks rule."""
    r = running
    sub = subscribe(r, ANN, webhook=f"{r.hooks.url}/ok/ann")
    assert sub["secret"].startswith("whsec_")
    t0 = time.monotonic()
    answer = post_events(r, [sample_event(1)])
    assert answer.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    (got,) = r.sink.wait_for("/ok/ann", 1, timeout=5)
    assert got.at - t0 < 2.0
    body = Webhook(sub["secret"]).verify(got.body, got.headers)
    assert body["type"] == "sild.usage"
    assert body["id"] == f"EE/GOV/70000001/rr/{ANN}/1"
    assert body["subscription"] == sub["id"]
    assert body["usage"] == sample_event(1)
    assert got.headers["webhook-id"].startswith("ntf_")
    deliveries = _wait_state(r, ANN, "delivered")
    assert deliveries[0]["attempts"] == 1


def _wait_state(r: Running, person: str, state: str, timeout: float = 10) -> list[Any]:
    deadline = time.monotonic() + timeout
    found: list[Any] = []
    while time.monotonic() < deadline:
        found = requests.get(f"{r.url}/v1/persons/{person}/deliveries?state={state}",
                             headers=AUTH, timeout=10).json()["deliveries"]
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"no {state} delivery for {person}")


def test_an_event_delivered_twice_is_stored_and_notified_once(running: Running) -> None:
    """At least once from the gateway, once to the person: dedupe by event id."""
    r = running
    subscribe(r, ANN, webhook=f"{r.hooks.url}/ok/once")
    assert post_events(r, [sample_event(5)]).json()["accepted"] == 1
    again = post_events(r, [sample_event(5), sample_event(5)]).json()
    assert again == {"accepted": 0, "duplicates": 2, "rejected": []}
    r.sink.wait_for("/ok/once", 1)
    time.sleep(0.5)  # a second delivery would have come by now
    assert len(r.sink.at("/ok/once")) == 1


def test_a_hanging_or_failing_webhook_delays_no_one_else(running: Running) -> None:
    """Ann's webhook hangs, Bob's answers 500: Carol's notice comes at once, /v1/events
    answers at once, the 500 is retried and dead-lettered, the hang is timed out."""
    r = running
    subscribe(r, ANN, webhook=f"{r.hooks.url}/hang")
    subscribe(r, BOB, webhook=f"{r.hooks.url}/fail")
    subscribe(r, CAROL, webhook=f"{r.hooks.url}/ok/carol")
    hangs = [sample_event(i, subject=ANN) for i in range(1, 11)]  # more than its slots
    post_events(r, [*hangs, sample_event(1, subject=BOB)])
    r.sink.wait_for("/hang", 2)  # both of Ann's slots are hanging now
    t0 = time.monotonic()
    answer = post_events(r, [sample_event(1, subject=CAROL)])
    assert answer.status_code == 200
    assert time.monotonic() - t0 < 1.5  # not behind Ann's 3 s timeouts
    (carol,) = r.sink.wait_for("/ok/carol", 1, timeout=5)
    assert carol.at - t0 < 1.5
    assert len(r.sink.wait_for("/fail", 3)) == 3  # max_attempts
    (dead,) = _wait_state(r, BOB, "dead")
    assert (dead["attempts"], dead["lastStatus"]) == (3, 500)
    assert dead["lastError"].startswith("HTTP 500")
    time.sleep(3.5)  # past the 3 s webhook timeout
    pending = requests.get(f"{r.url}/v1/persons/{ANN}/deliveries?state=pending",
                           headers=AUTH, timeout=10).json()["deliveries"]
    assert any(d["lastError"] == "no answer within 3 s" for d in pending)
    # never more than its two slots hanging at a time
    starts = sorted(x.at for x in r.sink.at("/hang"))
    assert all(sum(t <= u < t + 2.9 for u in starts) <= 2 for t in starts)


def test_state_survives_a_restart(running: Running) -> None:
    """A delivery that failed while the receiver was down is delivered by a new service
    process on the same store once the receiver is back: all state is in the database."""
    r = running
    later = WebhookSink()
    hooks = ServerThread(later, lifespan="off")  # reserved port, not listening yet
    subscribe(r, ANN, webhook=f"{hooks.url}/ok/later")
    post_events(r, [sample_event(1)])
    _wait_attempted(r, ANN)
    r.server.stop()
    with hooks:
        _, server = make_service(r.store)
        with server:
            assert len(later.wait_for("/ok/later", 1, timeout=5)) == 1


def _wait_attempted(r: Running, person: str) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        found = r.store.deliveries(person, state="pending")
        if found and found[0].last_error:
            return
        time.sleep(0.05)
    raise AssertionError("no failed attempt")


def test_the_inbox_through_the_api(running: Running) -> None:
    r = running
    subscribe(r, ANN, inbox=True, categories=["health"])
    post_events(r, [sample_event(1), sample_event(2, categories=("tax",)),
                    sample_event(3, categories=("tax",), flags=("emergency",))])
    box = requests.get(f"{r.url}/v1/persons/{ANN}/inbox", headers=AUTH, timeout=10).json()
    assert (box["total"], box["unread"]) == (2, 2)
    assert [n["event"]["seq"] for n in box["notices"]] == [3, 1]
    assert box["notices"][0]["event"]["reason"] == "unconscious patient"
    marked = requests.post(f"{r.url}/v1/persons/{ANN}/inbox/read", headers=AUTH, timeout=10)
    assert marked.json() == {"marked": 2}
    subs = requests.get(f"{r.url}/v1/persons/{ANN}/subscriptions", headers=AUTH,
                        timeout=10).json()["subscriptions"]
    assert subs[0]["deliveries"]["inbox"] == 2
    assert "secret" not in subs[0]
    gone = requests.delete(f"{r.url}/v1/persons/{ANN}/subscriptions/{subs[0]['id']}",
                           headers=AUTH, timeout=10)
    assert gone.status_code == 204


# -- bad input ------------------------------------------------------------------------------


def _error(resp: requests.Response) -> str:
    return str(resp.json()["type"])


@pytest.mark.parametrize(("body", "headers", "status", "code"), [
    (b"{not json", {**SENDER, "Content-Type": "application/json"}, 400,
     "Client.InvalidRequest"),
    (b"[]", {**SENDER, "Content-Type": "application/json"}, 400, "Client.InvalidRequest"),
    (b'{"events": {}}', {**SENDER, "Content-Type": "application/json"}, 400,
     "Client.InvalidRequest"),
    (b'{"events": [], "more": 1}', {**SENDER, "Content-Type": "application/json"}, 400,
     "Client.InvalidRequest"),
    (b'{"events": []}', {**SENDER, "Content-Type": "text/plain"}, 400,
     "Client.InvalidRequest"),
    (b'{"events": []}', {"Content-Type": "application/json"}, 400, "Client.MissingHeader"),
    (b'{"events": []}', {"Content-Type": "application/json", "X-Road-Client": "nobody"}, 400,
     "Client.InvalidRequest"),
    (b"\xff\xfe", {**SENDER, "Content-Type": "application/json"}, 400,
     "Client.InvalidRequest"),
])
def test_malformed_batches_are_refused(running: Running, body: bytes, headers: dict[str, str],
                                       status: int, code: str) -> None:
    """Garbage, wrong shapes, a missing or malformed sender: one clear error each."""
    resp = requests.post(f"{running.url}/v1/events", data=body, headers=headers, timeout=10)
    assert resp.status_code == status
    assert _error(resp) == code
    assert running.store.counts() == {}


def test_an_oversize_batch_is_refused(running: Running) -> None:
    """More events than max_batch → 413 BatchTooLarge; a body over max_body → 413."""
    limit = NotifyLimits().max_batch
    resp = post_events(running, [sample_event(i) for i in range(1, limit + 2)])
    assert (resp.status_code, _error(resp)) == (413, "Client.BatchTooLarge")
    big = b'{"events": [' + b" " * (NotifyLimits().max_body + 1) + b"]}"
    resp = requests.post(f"{running.url}/v1/events", data=big, timeout=10,
                         headers={**SENDER, "Content-Type": "application/json"})
    assert (resp.status_code, _error(resp)) == (413, "Client.PayloadTooLarge")


def test_bad_events_are_rejected_one_by_one(running: Running) -> None:
    """An invalid personal code, a foreign register, a sealed record: listed as rejected,
    the good event beside them stored."""
    r = running
    bad_code = {**sample_event(2), "subject": "EE38001085710",
                "id": "EE/GOV/70000001/rr/EE38001085710/2"}
    foreign = sample_event(3, register="EE/GOV/70000002/rr")
    sealed = sample_event(4, flags=("sealed",))
    answer = post_events(r, [sample_event(1), bad_code, foreign, sealed, "x"]).json()  # type: ignore[list-item]
    assert answer["accepted"] == 1
    assert [(x["id"], x["type"]) for x in answer["rejected"]] == [
        (bad_code["id"], "Client.InvalidPersonalCode"), (foreign["id"], "Client.InvalidRequest"),
        (sealed["id"], "Client.InvalidRequest"), (None, "Client.InvalidRequest")]
    assert "may not report events of EE/GOV/70000002/rr" in answer["rejected"][1]["message"]


@pytest.mark.parametrize(("method", "path", "body", "status", "code"), [
    ("POST", "/v1/persons/EE38001085710/subscriptions", {"inbox": True}, 400,
     "Client.InvalidPersonalCode"),
    ("GET", "/v1/persons/garbage/inbox", None, 400, "Client.InvalidPersonalCode"),
    ("POST", f"/v1/persons/{ANN}/subscriptions", {"webhook": "ftp://example.com/"}, 400,
     "Client.InvalidWebhookUrl"),
    ("POST", f"/v1/persons/{ANN}/subscriptions", {"webhook": "http://169.254.169.254/"}, 400,
     "Client.InvalidWebhookUrl"),
    ("POST", f"/v1/persons/{ANN}/subscriptions", {"webhook": "https://u:p@example.com/"},
     400, "Client.InvalidWebhookUrl"),
    ("POST", f"/v1/persons/{ANN}/subscriptions", {"webhook": 5}, 400,
     "Client.InvalidWebhookUrl"),
    ("POST", f"/v1/persons/{ANN}/subscriptions", {"inbox": "yes"}, 400,
     "Client.InvalidRequest"),
    ("POST", f"/v1/persons/{ANN}/subscriptions", {"inbox": True, "evil": 1}, 400,
     "Client.InvalidRequest"),
    ("POST", f"/v1/persons/{ANN}/subscriptions", [], 400, "Client.InvalidRequest"),
    ("DELETE", f"/v1/persons/{ANN}/subscriptions/sub_nothere", None, 404, "Client.NotFound"),
    ("GET", f"/v1/persons/{ANN}/inbox?limit=abc", None, 400, "Client.InvalidRequest"),
    ("GET", f"/v1/persons/{ANN}/inbox?limit=5000", None, 400, "Client.InvalidRequest"),
    ("GET", f"/v1/persons/{ANN}/inbox?unread=maybe", None, 400, "Client.InvalidRequest"),
    ("GET", f"/v1/persons/{ANN}/deliveries?state=lost", None, 400, "Client.InvalidRequest"),
    ("POST", f"/v1/persons/{ANN}/inbox/read", {"ids": "all"}, 400, "Client.InvalidRequest"),
    ("GET", "/v1/nothing", None, 404, "Client.NotFound"),
])
def test_person_api_bad_input(running: Running, method: str, path: str, body: Any,
                              status: int, code: str) -> None:
    resp = requests.request(method, f"{running.url}{path}", json=body, headers=AUTH,
                            timeout=10)
    assert (resp.status_code, _error(resp)) == (status, code)


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token-here"},
                                     {"Authorization": "Basic dDp0"}])
def test_person_api_needs_the_token(running: Running, headers: dict[str, str]) -> None:
    resp = requests.get(f"{running.url}/v1/persons/{ANN}/inbox", headers=headers, timeout=10)
    assert (resp.status_code, _error(resp)) == (401, "Client.Unauthorized")
