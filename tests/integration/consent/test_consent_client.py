"""ConsentClient against the real service, a misbehaving one, a dead port, and through a
real gateway pair (docs/spec/consent.md §5.4): cached briefly, and closed when in doubt."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from sild.consent.app import create_consent_app
from sild.consent.client import ConsentClient, ConsentDecision
from sild.consent.service import ConsentService
from sild.embedded import free_port
from sild.errors import (
    ConsentAnswerInvalid,
    ConsentUnavailable,
    InvalidDataCategory,
    InvalidIdentifier,
    InvalidPersonalCode,
    RelayedError,
)
from sild.testing.clock import SettableClock
from sild.testing.consent import DOCTOR, PERSON, POLICE
from sild.testing.servers import serve_asgi

TOKEN = "test-admin-token-0123456789"


@pytest.fixture
def url(service: ConsentService) -> Iterator[str]:
    with serve_asgi(create_consent_app(service, admin_token=TOKEN)) as base:
        yield base


def decide(client: ConsentClient, *, who: str = DOCTOR, consent: str | None = None,
           cats: tuple[str, ...] = ("health",), subject: str = PERSON) -> ConsentDecision:
    return asyncio.run(_decide(client, who=who, consent=consent, cats=cats, subject=subject))


async def _decide(client: ConsentClient, **kw: Any) -> ConsentDecision:
    try:
        return await client.decide(kw["subject"], kw["cats"], kw["who"], "treatment",
                                   kw["consent"])
    finally:
        await client.close()  # a session belongs to one event loop


def test_allow_deny_and_consent(url: str, service: ConsentService,
                                clock: SettableClock) -> None:
    """The client reports the service's decisions: allow, deny (with locked), consent id."""
    client = ConsentClient(url, cache_ttl=0)
    assert decide(client) == ConsentDecision(True, (), None, "no lock on these categories")
    service.lock(PERSON, "health", actor="p")
    d = decide(client)
    assert (d.allowed, d.locked) == (False, ("health",))
    assert "person has locked their health data" in d.reason
    rec = service.grant(subject=PERSON, consumer=DOCTOR, purpose={"code": "treatment"},
                        categories=["health"], expiry=clock.now + timedelta(days=1),
                        actor="p")
    d = decide(client, consent=rec.signed)
    assert (d.allowed, d.consent_id) == (True, rec.artefact.consent_id)


def test_cache_then_expiry(url: str, service: ConsentService) -> None:
    """A decision is served from the cache until cache_ttl passes, then asked again."""
    async def run() -> list[bool]:
        client = ConsentClient(url, cache_ttl=0.5)
        try:
            first = await client.decide(PERSON, ("health",), DOCTOR, "treatment")
            service.lock(PERSON, "health", actor="p")
            cached = await client.decide(PERSON, ("health",), DOCTOR, "treatment")
            other = await client.decide(PERSON, ("health",), POLICE, "treatment")
            await asyncio.sleep(0.6)
            fresh = await client.decide(PERSON, ("health",), DOCTOR, "treatment")
            return [first.allowed, cached.allowed, other.allowed, fresh.allowed]
        finally:
            await client.close()

    assert asyncio.run(run()) == [True, True, False, False]


def test_unreachable_fails_closed(tmp_path: object) -> None:
    """Nothing listening: ConsentUnavailable, never an allow."""
    client = ConsentClient(f"http://127.0.0.1:{free_port()}", timeout=1)
    with pytest.raises(ConsentUnavailable):
        decide(client)


def test_down_past_the_cache_fails_closed(service: ConsentService) -> None:
    """Cached while fresh; after the service stops and the entry expires: ConsentUnavailable."""
    async def run(base: str, stop: Any) -> tuple[bool, bool]:
        client = ConsentClient(base, cache_ttl=0.3, timeout=1)
        try:
            first = await client.decide(PERSON, ("health",), DOCTOR, "treatment")
            stop()
            cached = await client.decide(PERSON, ("health",), DOCTOR, "treatment")
            await asyncio.sleep(0.4)
            with pytest.raises(ConsentUnavailable):
                await client.decide(PERSON, ("health",), DOCTOR, "treatment")
            return first.allowed, cached.allowed
        finally:
            await client.close()

    cm = serve_asgi(create_consent_app(service, admin_token=TOKEN))
    base = cm.__enter__()
    assert asyncio.run(run(base, lambda: cm.__exit__(None, None, None))) == (True, True)


def test_slow_service_times_out(tmp_path: object) -> None:
    """A service that never answers: ConsentUnavailable after the timeout, not a hang."""
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await asyncio.sleep(30)

    with serve_asgi(app) as base:
        client = ConsentClient(base, timeout=0.5)
        started = time.monotonic()
        with pytest.raises(ConsentUnavailable):
            decide(client)
        assert time.monotonic() - started < 5


GARBAGE: list[tuple[int, str, bytes]] = [
    (200, "application/json", b"not json"),
    (200, "text/plain", b'{"decision": "allow"}'),
    (200, "application/json", b"[]"),
    (200, "application/json", b'{"decision": "allow"}'),
    (200, "application/json", json.dumps({"decision": "maybe", "locked": [], "consentId": None,
                                          "reason": "", "maxAge": 1}).encode()),
    (200, "application/json", json.dumps({"decision": "allow", "locked": ["BAD"],
                                          "consentId": None, "reason": "", "maxAge": 1}).encode()),
    (200, "application/json", json.dumps({"decision": "allow", "locked": [], "consentId": 7,
                                          "reason": "", "maxAge": 1}).encode()),
    (200, "application/json", json.dumps({"decision": "allow", "locked": [], "consentId": None,
                                          "reason": "", "maxAge": -1}).encode()),
    (200, "application/json", json.dumps({"decision": "allow", "locked": [], "consentId": None,
                                          "reason": "", "maxAge": True}).encode()),
    (200, "application/json", b'{"decision": "allow", "pad": "' + b"x" * 70_000 + b'"}'),
]


@pytest.mark.parametrize(("status", "ctype", "body"), GARBAGE)
def test_garbage_answers_fail_closed(status: int, ctype: str, body: bytes) -> None:
    """Anything that is not a decision: ConsentAnswerInvalid (a ConsentUnavailable)."""
    with serve_asgi(_fixed(status, ctype, body)) as base, pytest.raises(ConsentAnswerInvalid):
        decide(ConsentClient(base))


@pytest.mark.parametrize(("status", "body"), [
    (500, b'{"type": "Server.DatabaseError", "message": "x", "detail": "d"}'),
    (503, b"<html>busy</html>"),
    (302, b""),
    (404, b"no"),
    (400, b'{"type": "Server.ServerProxy.AccessDenied"}'),
])
def test_failures_fail_closed(status: int, body: bytes) -> None:
    """5xx, redirects, non-X-Road errors: ConsentUnavailable."""
    with serve_asgi(_fixed(status, "application/json", body)) as base, \
            pytest.raises(ConsentUnavailable):
        decide(ConsentClient(base))


def test_client_error_is_relayed(url: str) -> None:
    """A Client.* refusal (a forged artefact) comes back with its code, not as an allow."""
    with pytest.raises(RelayedError) as e:
        decide(ConsentClient(url), consent="eyJhbGciOiJFUzI1NiJ9.e30.AAAA")
    assert e.value.xroad_code == "Client.InvalidSignatureValue"


@pytest.mark.parametrize(("kw", "error"), [
    ({"subject": "EE38001085719"}, InvalidPersonalCode),
    ({"cats": ("Health",)}, InvalidDataCategory),
    ({"cats": ()}, InvalidDataCategory),
    ({"who": "EE/GOV"}, InvalidIdentifier),
])
def test_bad_input_never_sent(kw: dict[str, Any], error: type[Exception]) -> None:
    """Malformed inputs are refused locally (nothing listens on the URL)."""
    with pytest.raises(error):
        decide(ConsentClient(f"http://127.0.0.1:{free_port()}"), **kw)


def _fixed(status: int, ctype: str, body: bytes) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = [(b"content-type", ctype.encode()), (b"content-length", str(len(body)).encode())]
        if status == 302:
            headers.append((b"location", b"http://127.0.0.1:9/"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
    return app


def test_concurrent_callers_share_one_question(url: str) -> None:
    """Twenty concurrent identical questions, no cache: one HTTP request to the service."""
    seen: list[str] = []

    async def counting(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope.get("query_string", b"").decode())
        await asyncio.sleep(0.2)  # keep the first question in flight
        await _fixed(200, "application/json", json.dumps({
            "decision": "allow", "locked": [], "consentId": None, "reason": "ok",
            "maxAge": 30}).encode())(scope, receive, send)

    async def run(base: str) -> list[bool]:
        client = ConsentClient(base, cache_ttl=0)
        try:
            answers = await asyncio.gather(*(client.decide(PERSON, ("health",), DOCTOR,
                                                           "treatment") for _ in range(20)))
            return [a.allowed for a in answers]
        finally:
            await client.close()

    with serve_asgi(counting) as base:
        assert asyncio.run(run(base)) == [True] * 20
    assert len(seen) == 1
