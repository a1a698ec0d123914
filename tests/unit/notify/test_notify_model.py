"""The pure part of notifications (docs/spec/notify.md §2, §3, §5): events, webhook URLs,
rules, Standard Webhooks signatures (cross-checked with the ``standardwebhooks``
library), backoff, and the gateway notifier's gap rule."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from sild.errors import InvalidPersonalCode, InvalidRequest, InvalidWebhookUrl
from sild.gateway.tracker_notifier import contiguous
from sild.notify.model import (
    check_webhook_url,
    event_id,
    matches,
    new_secret,
    parse_event,
    parse_networks,
    retry_delay,
    sign,
)

REGISTER = "EE/GOV/70000562/rr"
PERSON = "EE38001085718"


def good_event(**change: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "id": event_id(REGISTER, PERSON, 7), "register": REGISTER, "subject": PERSON, "seq": 7,
        "loggedAt": "2026-12-06T12:00:00.123456Z", "action": "Treatment",
        "purposeCode": "", "legalBasis": "TTKS §59¹", "receiver": "EE/COM/10000001/his",
        "receiverName": "Clinic", "service": f"{REGISTER}/echo", "consentId": "",
        "categories": ["health"], "flags": [], "reason": "", "recordHash": "ab" * 32}
    ev.update(change)
    return ev


def test_a_good_event_parses_with_its_id() -> None:
    """An event as a gateway sends it: its id is register/subject/seq, its time aware."""
    ev = parse_event(good_event())
    assert ev.id == f"{REGISTER}/{PERSON}/7"
    assert ev.logged_at == datetime(2026, 12, 6, 12, 0, 0, 123456, tzinfo=UTC)
    assert (ev.categories, ev.flags, ev.emergency) == (("health",), (), False)
    assert ev.body == good_event()


@pytest.mark.parametrize("flag", ["emergency", "lock-overridden"])
def test_break_glass_flags_make_an_emergency_event(flag: str) -> None:
    """emergency and lock-overridden are break-glass (docs/spec/tracker.md §6)."""
    assert parse_event(good_event(flags=[flag, "consent-presented"])).emergency


@pytest.mark.parametrize("field", ["id", "register", "subject", "seq", "loggedAt", "action",
                                   "categories", "flags", "recordHash", "reason"])
def test_a_missing_field_is_named(field: str) -> None:
    """Every field is required; the error names the missing one."""
    ev = good_event()
    del ev[field]
    with pytest.raises(InvalidRequest, match=field):
        parse_event(ev)


@pytest.mark.parametrize(("change", "error"), [
    ({"subject": "EE38001085710"}, InvalidPersonalCode),  # check digit
    ({"subject": "38001085718"}, InvalidPersonalCode),  # no country
    ({"subject": 38001085718}, InvalidPersonalCode),
    ({"subject": "PNOEE-38001085718", "id": f"{REGISTER}/PNOEE-38001085718/7"},
     InvalidRequest),  # valid, but not written CC<code>
    ({"seq": 0}, InvalidRequest), ({"seq": -1}, InvalidRequest), ({"seq": True}, InvalidRequest),
    ({"seq": "7"}, InvalidRequest), ({"seq": 2**63}, InvalidRequest),
    ({"id": f"{REGISTER}/{PERSON}/8"}, InvalidRequest),
    ({"register": "EE/GOV/70000562", "id": f"EE/GOV/70000562/{PERSON}/7"}, InvalidRequest),
    ({"register": "not an id"}, InvalidRequest),
    ({"loggedAt": "2026-12-06T12:00:00"}, InvalidRequest),  # no zone
    ({"loggedAt": "yesterday"}, InvalidRequest), ({"loggedAt": 1}, InvalidRequest),
    ({"flags": ["sealed"]}, InvalidRequest),  # never notified
    ({"flags": ["Bad Flag"]}, InvalidRequest), ({"flags": "emergency"}, InvalidRequest),
    ({"categories": ["Health"]}, InvalidRequest), ({"categories": "health"}, InvalidRequest),
    ({"categories": [f"c{i}" for i in range(40)]}, InvalidRequest),
    ({"recordHash": "AB" * 32}, InvalidRequest), ({"recordHash": "ab" * 31}, InvalidRequest),
    ({"action": "x" * 5000}, InvalidRequest), ({"action": "nul\x00"}, InvalidRequest),
    ({"action": None}, InvalidRequest), ({"extra": 1}, InvalidRequest),
])
def test_bad_events_are_refused(change: dict[str, Any], error: type[Exception]) -> None:
    """Each malformed field is a clear Client.* error, never a crash."""
    with pytest.raises(error):
        parse_event(good_event(**change))


@pytest.mark.parametrize("value", [None, [], "event", 3])
def test_an_event_is_an_object(value: object) -> None:
    with pytest.raises(InvalidRequest):
        parse_event(value)


# -- §3.1 webhook URLs --------------------------------------------------------------------


@pytest.mark.parametrize("url", ["https://hooks.example.com/sild", "http://93.184.215.14:8080/x",
                                 "https://[2606:4700::1111]/n?x=1"])
def test_public_http_urls_are_accepted(url: str) -> None:
    assert check_webhook_url(url) == url


@pytest.mark.parametrize("url", [
    "ftp://example.com/x", "file:///etc/passwd", "javascript:alert(1)", "gopher://x/",
    "//example.com/x", "example.com/x", "https://", "https://user:pw@example.com/",
    "https://user@example.com/", "https://example.com:99999/", "https://example.com:x/",
    "https://example.com/#frag", "https://exa mple.com/", "https://example.com/\n",
    "https://ex\u00e4mple.com/", "https://example.com/" + "a" * 2100, "",
    "http://127.0.0.1/", "http://127.1.2.3:8485/", "http://10.0.0.5/", "http://192.168.1.1/",
    "http://172.16.0.1/", "http://169.254.169.254/latest/meta-data/", "http://0.0.0.0/",
    "http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://[fd00::1]/", "http://[fe80::1]/",
    "http://100.64.0.1/", "http://224.0.0.1/", "http://localhost/", "http://db.localhost/",
    "http://printer.local/",
])
def test_urls_that_are_not_plain_public_http_are_refused(url: str) -> None:
    """Other schemes, user info, bad ports and non-public addresses: InvalidWebhookUrl."""
    with pytest.raises(InvalidWebhookUrl):
        check_webhook_url(url)


@pytest.mark.parametrize("value", [None, 42, b"https://example.com/"])
def test_a_url_is_text(value: object) -> None:
    with pytest.raises(InvalidWebhookUrl):
        check_webhook_url(value)


def test_an_allowed_network_lets_its_addresses_in() -> None:
    """The operator's allow list (a demo on loopback) admits exactly its networks."""
    allowed = parse_networks(["127.0.0.0/8"])
    assert check_webhook_url("http://127.0.0.1:9000/hook", allowed)
    assert check_webhook_url("http://[::ffff:127.0.0.1]/", allowed)
    with pytest.raises(InvalidWebhookUrl):
        check_webhook_url("http://10.0.0.1/", allowed)


def test_a_bad_network_is_refused() -> None:
    with pytest.raises(InvalidRequest):
        parse_networks(["10.0.0.300/8"])


# -- §3.2 rules ----------------------------------------------------------------------------


def test_rules() -> None:
    """Every use; only some categories; only break-glass; break-glass always matches."""
    health = parse_event(good_event())
    tax = parse_event(good_event(categories=["tax"]))
    glass = parse_event(good_event(categories=["tax"], flags=["emergency"]))
    assert matches((), False, health)
    assert matches((), False, tax)
    assert matches(("health",), False, health)
    assert not matches(("health",), False, tax)
    assert not matches((), True, health)
    assert matches((), True, glass)
    assert matches(("health",), False, glass)


# -- §5.2 signatures: Standard Webhooks, checked by its own library -------------------------


def test_signature_verifies_with_the_standard_webhooks_library() -> None:
    """Our v1 signature is what the standardwebhooks reference library accepts."""
    secret = new_secret()
    body = b'{"type":"sild.usage","id":"x"}'
    ts = int(time.time())
    headers = {"webhook-id": "ntf_1", "webhook-timestamp": str(ts),
               "webhook-signature": sign(secret, msg_id="ntf_1", timestamp=ts, body=body)}
    assert Webhook(secret).verify(body, headers) == {"type": "sild.usage", "id": "x"}


@given(st.binary(min_size=1, max_size=200), st.integers(0, 199), st.integers(1, 255))
def test_any_changed_byte_fails_verification(body: bytes, at: int, flip: int) -> None:
    """Flip any byte of the body: the reference library refuses the signature."""
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    ts = int(time.time())
    text = body.hex().encode()  # the library wants text
    sig = sign(secret, msg_id="ntf_2", timestamp=ts, body=text)
    changed = bytearray(text)
    i = at % len(changed)
    changed[i] = (changed[i] + flip) % 128 or 1
    if bytes(changed) == text:
        return
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(bytes(changed), {"webhook-id": "ntf_2",
                                                "webhook-timestamp": str(ts),
                                                "webhook-signature": sig}, json_parse=False)


def test_secrets_are_fresh() -> None:
    assert new_secret() != new_secret()
    assert new_secret().startswith("whsec_")


# -- §5.3 backoff ----------------------------------------------------------------------------


@given(st.integers(1, 200), st.floats(0, 0.999))
def test_backoff_doubles_to_its_cap(attempts: int, jitter: float) -> None:
    """base·2^(n-1), capped, scaled into [½, 1) of that — never more than the cap."""
    d = retry_delay(attempts, base=1.0, cap=300.0, jitter=jitter)
    full = min(300.0, 2.0 ** (attempts - 1))
    assert full / 2 <= d <= full
    assert retry_delay(attempts + 1, base=1.0, cap=300.0, jitter=jitter) >= d


# -- the gateway notifier's gap rule (§4.1 step 1) ------------------------------------------


def test_contiguous_stops_at_a_fresh_gap_and_passes_an_old_one() -> None:
    gaps: dict[int, float] = {}
    assert contiguous([11, 12, 14, 15], 10, gaps, monotonic=100.0, wait=5.0) == 2
    assert gaps == {13: 100.0}
    assert contiguous([14, 15], 12, gaps, monotonic=103.0, wait=5.0) == 0  # still young
    assert contiguous([14, 15], 12, gaps, monotonic=105.5, wait=5.0) == 2  # given up on
    assert gaps == {}
    assert contiguous([], 12, gaps, monotonic=0.0, wait=5.0) == 0
