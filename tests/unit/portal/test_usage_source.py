"""HttpUsageSource against a stand-in gateway on loopback (docs/spec/portal-usage.md §1):
the requests it sends, paging, and every way a register can fail to answer usefully."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sild.errors import ConfigurationError, InvalidPersonalCode
from sild.portal.usage_source import FIND_LIMIT, HttpUsageSource, TrackerRef, user_code
from sild.testing.servers import serve_asgi

GOOD = "EE/GOV/70000001/population/findUsage"
BAD = "EE/GOV/70000001/health/findUsage"
ANN = "EE60001017869"


def _usage(i: int) -> dict[str, Any]:
    return {"logtime": f"2026-12-01T10:{i // 60 % 60:02d}:{i % 60:02d}Z", "action": "Lookup",
            "receiverCode": "1", "receiverSystem": "his"}


@pytest.fixture(scope="module")
def gateway() -> Iterator[tuple[str, list[Request], dict[str, Any]]]:
    """population answers (TOTAL usages, paged); health answers with whatever is set."""
    seen: list[Request] = []
    health: dict[str, Any] = {}
    total = FIND_LIMIT + 3

    async def r1(request: Request) -> Response:
        seen.append(request)
        path = request.url.path
        if path.startswith("/r1/" + BAD):
            if "delay" in health:
                await asyncio.sleep(health["delay"])
            return Response(health.get("body", b"{}"), status_code=health.get("status", 200),
                            media_type="application/json")
        if path.endswith("/sild/v1/usageProof"):
            return Response(orjson.dumps({"type": "sild.tracker.proof/1"}),
                            media_type="application/json")
        offset = int(request.query_params["offset"])
        limit = int(request.query_params["limit"])
        usages = [_usage(i) for i in range(offset, min(total, offset + limit))]
        return Response(orjson.dumps({"totalUsages": total, "usages": usages}),
                        media_type="application/json")

    app = Starlette(routes=[Route("/r1/{rest:path}", r1)])
    with serve_asgi(app) as url:
        yield url, seen, health


def _answers(url: str, **kw: Any) -> dict[str, Any]:
    source = HttpUsageSource(url, "EE/GOV/70000002/portal",
                             [TrackerRef("population", GOOD), ("health", BAD)], **kw)

    async def go() -> dict[str, Any]:
        try:
            got = await source.answers(subject=ANN[2:], user="38001085718")
            return {a.label: a for a in got}
        finally:
            await source.aclose()
    return asyncio.run(go())


def test_requests_carry_client_user_and_user_code(gateway: Any) -> None:
    """X-Road-Client is the portal, X-Road-UserId the asker, userCode the person."""
    url, seen, health = gateway
    health.clear()
    seen.clear()
    _answers(url)
    finds = [r for r in seen if r.url.path.endswith("/v2/findUsage")]
    assert {r.headers["x-road-client"] for r in finds} == {"EE/GOV/70000002/portal"}
    assert {r.headers["x-road-userid"] for r in finds} == {"EE38001085718"}
    assert {r.query_params["userCode"] for r in finds} == {ANN}
    proofs = [r for r in seen if r.url.path.endswith("/sild/v1/usageProof")]
    assert {r.query_params["anchor"] for r in proofs} == {"1"}


def test_every_find_usage_page_is_read(gateway: Any) -> None:
    """totalUsages beyond one page: the further pages are fetched too."""
    url, _, health = gateway
    health.clear()
    population = _answers(url)["population"]
    assert population.total == FIND_LIMIT + 3
    assert len(population.entries) == FIND_LIMIT + 3


@pytest.mark.parametrize(("health", "timeout", "says"), [
    ({"status": 502, "body": b'{"type": "Server.ServerProxy.NetworkError", "message": "x"}'},
     10.0, "HTTP 502 (Server.ServerProxy.NetworkError: x)"),
    ({"status": 500, "body": b"<html>"}, 10.0, "HTTP 500"),
    ({"body": b"not json"}, 10.0, "malformed findUsage answer"),
    ({"body": b'{"totalUsages": "many", "usages": []}'}, 10.0, "malformed findUsage answer"),
    ({"delay": 6.0}, 2.0, "no answer within 2 s"),
])
def test_a_register_that_does_not_answer_usefully(gateway: Any, health: dict[str, Any],
                                                  timeout: float, says: str) -> None:
    """Each failure becomes that register's error; the other register still answers.

    Only the slow register's case uses a short timeout, and not a tiny one: under a
    loaded CI machine a 0.5 s budget for an answering stand-in was missed once."""
    url, _, state = gateway
    state.clear()
    state.update(health)
    got = _answers(url, timeout=timeout)
    assert got["health"].error is not None
    assert says in got["health"].error
    assert got["population"].error is None


def test_an_unreachable_gateway_is_named() -> None:
    """Nothing listening: every register says it cannot reach the gateway."""
    got = _answers("http://127.0.0.1:9")
    assert all("cannot reach the gateway" in (a.error or "") for a in got.values())


@pytest.mark.parametrize(("client", "trackers", "says"), [
    ("EE/GOV", [("population", GOOD)], "usage trackers"),
    ("EE/GOV/70000002/portal", [("population", "EE/GOV/x")], "usage trackers"),
    ("EE/GOV/70000002/portal", [("a", GOOD), ("a", BAD)], "same label"),
    ("EE/GOV/70000002/portal", [("", GOOD)], "printable"),
])
def test_bad_configuration_is_refused(client: str, trackers: list[tuple[str, str]],
                                      says: str) -> None:
    """A malformed client or service id, a repeated or empty label: ConfigurationError."""
    with pytest.raises(ConfigurationError, match=says):
        HttpUsageSource("http://127.0.0.1:9", client, trackers)


def test_user_code_takes_bare_and_prefixed_codes() -> None:
    """38001085718 and EE38001085718 are the same person; a bad check digit is refused."""
    assert user_code("38001085718") == user_code("EE38001085718") == "EE38001085718"
    with pytest.raises(InvalidPersonalCode):
        user_code("38001085719")
