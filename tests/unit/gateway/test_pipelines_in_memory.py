"""Both gateway pipelines joined in memory (sild.testing.exchange_memory): the whole
exchange, refusals, tampering and replay, without a socket (STYLE.md rule 5)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from sild.gateway.exchange.record import IsReply
from sild.gateway.messagelog.log import LogRecord
from sild.gateway.messagelog.opmon import OpMonRecord
from sild.testing.clock import FIXED_NOW
from sild.testing.exchange_memory import MemoryExchange, memory_exchange


def _echo(method: str, url: str, headers: list[tuple[str, str]], body: bytes) -> IsReply:
    return IsReply(200, (("content-type", "application/json"),),
                   json.dumps({"method": method, "url": url, "body": body.decode()}).encode())


@pytest.fixture
def ex(tmp_path: Path) -> MemoryExchange:
    return memory_exchange(tmp_path / "pki", at=FIXED_NOW, answer=_echo)


def _path(ex: MemoryExchange, rest: str = "") -> str:
    return f"/r1/{ex.service.path()}{rest}"


def _headers(answer_headers: tuple[tuple[str, str], ...]) -> dict[str, str]:
    return {k.lower(): v for k, v in answer_headers}


def test_a_call_goes_through_both_pipelines(ex: MemoryExchange) -> None:
    """The IS gets the request as sent; the client gets the IS's answer and X-Road headers."""
    answer = asyncio.run(ex.call("POST", _path(ex, "/a%2Fb?x=%41"),
                                 {"X-Road-Client": str(ex.client)}, b'{"q": 1}'))
    assert answer.status == 200
    assert json.loads(answer.body) == {"method": "POST", "body": '{"q": 1}',
                                       "url": "http://is.example/echo/a%2Fb?x=%41"}
    headers = _headers(answer.headers)
    assert headers["x-road-service"] == str(ex.service)
    assert headers["x-road-request-hash"]


def test_both_sides_log_request_response_and_monitoring(ex: MemoryExchange) -> None:
    """Each side commits its request, response and one monitoring record together."""
    asyncio.run(ex.call("GET", _path(ex), {"X-Road-Client": str(ex.client)}))
    for log in (ex.consumer_log, ex.provider_log):
        kinds = sorted(r.kind for r in log.records if isinstance(r, LogRecord))
        assert kinds == ["request", "response"]
        assert [r.succeeded for r in log.records if isinstance(r, OpMonRecord)] == [True]


def test_access_denied_is_relayed_in_the_callers_form(ex: MemoryExchange) -> None:
    """A provider refusal reaches the IS as XML when asked, and both sides log it."""
    ex.access.allowed.clear()
    answer = asyncio.run(ex.call("GET", _path(ex), {"X-Road-Client": str(ex.client),
                                                    "Accept": "text/xml"}))
    assert (answer.status, _headers(answer.headers)["x-road-error"]) == (
        500, "Server.ServerProxy.AccessDenied")
    assert answer.body.startswith(b"<error><type>Server.ServerProxy.AccessDenied</type>")
    assert ex.information_system.calls == []
    for log in (ex.consumer_log, ex.provider_log):
        assert [r.fault_code for r in log.records if isinstance(r, OpMonRecord)] == [
            "Server.ServerProxy.AccessDenied"]


@pytest.mark.parametrize("where", [-1, -40, 200])
def test_tampering_in_transit_is_refused(ex: MemoryExchange, where: int) -> None:
    """A byte changed between the gateways (body, signature, header) never reaches the IS."""
    def flip(frame: bytes) -> bytes:
        b = bytearray(frame)
        b[where] ^= 0x01
        return bytes(b)

    ex.peer.tamper = flip
    answer = asyncio.run(ex.call("POST", _path(ex), {"X-Road-Client": str(ex.client)},
                                 b"payload"))
    assert answer.status in (400, 500)
    assert "x-road-error" in _headers(answer.headers)
    assert ex.information_system.calls == []


def test_replayed_frame_is_refused(ex: MemoryExchange) -> None:
    """The same signed frame a second time is a replay (Client.InvalidMessage)."""
    asyncio.run(ex.call("GET", _path(ex), {"X-Road-Client": str(ex.client)}))
    first = ex.peer.sent[0]
    ex.peer.tamper = lambda _frame: first
    answer = asyncio.run(ex.call("GET", _path(ex), {"X-Road-Client": str(ex.client)}))
    assert _headers(answer.headers)["x-road-error"] == "Client.InvalidMessage"
    assert len(ex.information_system.calls) == 1


def test_a_crashing_stage_is_answered_and_logged(ex: MemoryExchange) -> None:
    """A bug in the IS transport is Server.ServerProxy.InternalError, and still logged."""
    def boom(*_args: object) -> IsReply:
        raise RuntimeError("bug")

    ex.information_system.answer = boom
    answer = asyncio.run(ex.call("GET", _path(ex), {"X-Road-Client": str(ex.client)}))
    assert _headers(answer.headers)["x-road-error"] == "Server.ServerProxy.InternalError"
    assert [r.fault_code for r in ex.provider_log.records if isinstance(r, OpMonRecord)] == [
        "Server.ServerProxy.InternalError"]
