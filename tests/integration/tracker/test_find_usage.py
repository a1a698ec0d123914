"""findUsage v2 through the exchange, exactly as e-gov/AJ's protocol defines it
(Kasutusteabe_esitamise_protokoll v1.6 §6; dumonitor-openapi.yaml 2.1.0), and the
completeness proof (docs/spec/tracker.md §3), on SQLite and PostgreSQL.

Every findUsage, usagePeriod and heartbeat answer is validated with openapi-core, an
independent OpenAPI 3 validator, against the protocol's own OpenAPI file.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
import sqlalchemy as sa
import yaml
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from sild.core.access import parse_subject
from sild.core.identifiers import SubsystemId
from sild.core.usage_proof import verify_usage_proof
from sild.gateway.serverconf.store import PersonalData
from sild.localnet import LocalNet
from sild.store import make_engine
from sild.testing.exchange import CLIENT, CONSUMER, ECHO, PROVIDER, call
from sild.testing.netthread import NetThread
from sild.testing.servers import serve_asgi
from sild.tracker.app import create_tracker_app, openapi_text
from sild.tracker.store import UsageStore

TRACKER = CONSUMER.member.subsystem("other")  # the national tracker's subsystem
FIND = PROVIDER.member.subsystem("rr").service("findUsage")
ANN, BOB = "EE60001017869", "EE39901012239"
SPEC = OpenAPI.from_dict(yaml.safe_load(openapi_text()))


@pytest.fixture
def running(tmp_path: Path, database_factory: Callable[[str], str]
            ) -> Iterator[tuple[LocalNet, UsageStore]]:
    net = LocalNet.create(tmp_path / "net", [PROVIDER, CONSUMER], instance_id="EE",
                          database_url=database_factory)
    engine = make_engine(net.gateway_settings[PROVIDER.server].database_url)
    store = UsageStore(engine)
    with NetThread(net), serve_asgi(create_tracker_app(store, retention_days=365)) as url:
        sc = net.stores[PROVIDER.server].serverconf
        sc.add_service(ECHO.subsystem, "echo", net.is_url + "/echo", timeout=5)
        sc.grant(ECHO, parse_subject(str(CLIENT)))
        sc.declare_personal_data(ECHO, PersonalData(categories=("population",)))
        sc.add_service(FIND.subsystem, "findUsage", url, timeout=5,
                       openapi=openapi_text().encode())
        sc.grant(FIND, parse_subject(str(TRACKER)))
        yield net, store
    engine.dispose()


def _use(net: LocalNet, subject: str, purpose: str) -> None:
    status, _, body = call(f"{net.is_url_of(CONSUMER.server)}/r1/{ECHO.path()}/x",
                           headers={"X-Road-Client": str(CLIENT), "Sild-Data-Subject": subject,
                                    "Sild-Purpose": purpose, "X-Road-UserId": "EE38001085718"})
    assert status == 200, body


def _tracker(net: LocalNet, path: str, query: dict[str, Any] | None = None,
             user: str | None = "EE60001017869") -> tuple[int, Any]:
    url = f"{net.is_url_of(CONSUMER.server)}/r1/{FIND.path()}{path}"
    if query is not None:
        url += "?" + urlencode(query)
    headers = {"X-Road-Client": str(TRACKER)}
    if user is not None:
        headers["X-Road-UserId"] = user
    status, resp_headers, body = call(url, headers=headers)
    if status == 200 and path.startswith("/v2/"):  # the protocol's OpenAPI accepts it
        parts = urlsplit(url)
        request = MockRequest("http://127.0.0.1", "get", parts.path.split("/findUsage", 1)[1],
                              args=dict(query or {}),
                              headers={"X-Road-UserId": user or ""})
        SPEC.validate_response(request, MockResponse(
            body, status_code=status, content_type=resp_headers["content-type"].split(";")[0]))
    return status, json.loads(body)


def test_find_usage_answers_as_the_protocol_says(running: tuple[LocalNet, UsageStore]) -> None:
    net, _ = running
    for i in range(5):
        _use(net, ANN, f"Lookup {i}")
    _use(net, BOB, "Not Ann's")
    status, answer = _tracker(net, "/v2/findUsage", {"userCode": ANN})
    assert status == 200
    assert answer["totalUsages"] == 5
    assert [u["action"] for u in answer["usages"]] == [f"Lookup {i}" for i in (4, 3, 2, 1, 0)]
    first = answer["usages"][0]
    assert set(first) == {"logtime", "action", "receiverCode", "receiverName", "receiverSystem"}
    assert first["receiverCode"] == "10000001"
    assert first["receiverSystem"] == "his"
    assert first["receiverName"] == "Clinic"
    assert first["logtime"].endswith("Z")
    # paging (§1.2): totalUsages ignores offset and limit; repeat until fewer than limit
    status, page = _tracker(net, "/v2/findUsage", {"userCode": ANN, "offset": 3, "limit": 2})
    assert page["totalUsages"] == 5
    assert [u["action"] for u in page["usages"]] == ["Lookup 1", "Lookup 0"]
    status, none = _tracker(net, "/v2/findUsage", {"userCode": ANN, "offset": 10})
    assert none == {"totalUsages": 5, "usages": []}
    # a period in the future holds nothing; one covering now holds all
    status, later = _tracker(net, "/v2/findUsage", {"userCode": ANN,
                                                    "periodStart": "2999-01-01T00:00:00Z"})
    assert later["totalUsages"] == 0
    status, now = _tracker(net, "/v2/findUsage", {
        "userCode": ANN, "periodStart": "2020-01-01T00:00:00+02:00",
        "periodEnd": "2999-01-01T00:00:00Z"})
    assert now["totalUsages"] == 5


def test_usage_period_and_heartbeat(running: tuple[LocalNet, UsageStore]) -> None:
    net, _ = running
    status, period = _tracker(net, "/v2/usagePeriod")
    assert status == 200
    assert "periodStart" in period
    status, beat = _tracker(net, "/v2/heartbeat")
    assert status == 200
    assert beat["status"] == "OK"


@pytest.mark.parametrize(("query", "user"), [
    ({}, "EE60001017869"),  # userCode is mandatory
    ({"userCode": ANN}, None),  # X-Road-UserId is mandatory for findUsage
    ({"userCode": "EE60001017860"}, "EE60001017869"),  # check digit
    ({"userCode": ANN, "periodStart": "yesterday"}, "EE60001017869"),
    ({"userCode": ANN, "periodStart": "2021-01-31"}, "EE60001017869"),  # no time
    ({"userCode": ANN, "periodStart": "2021-01-31T10:20:30"}, "EE60001017869"),  # no zone
    ({"userCode": ANN, "periodStart": "2022-01-01T00:00:00Z",
      "periodEnd": "2021-01-01T00:00:00Z"}, "EE60001017869"),  # end before start
    ({"userCode": ANN, "offset": -1}, "EE60001017869"),
    ({"userCode": ANN, "limit": "ten"}, "EE60001017869"),
    ({"userCode": ANN, "limit": 10**12}, "EE60001017869"),
    ({"userCode": ANN, "limit": 10_001}, "EE60001017869"),
])
def test_bad_find_usage_requests_are_400(running: tuple[LocalNet, UsageStore],
                                         query: dict[str, Any], user: str | None) -> None:
    """Protocol §6.1.5: errors are HTTP status codes; 400 for a request that does not
    meet the requirements (dumonitor-openapi.yaml responses '400')."""
    net, _ = running
    status, body = _tracker(net, "/v2/findUsage", query, user=user)
    assert status == 400, body


def test_sealed_records_are_not_shown_until_released(
        running: tuple[LocalNet, UsageStore], tmp_path: Path) -> None:
    net, store = running
    _use(net, ANN, "Treatment")
    # mark the record sealed as a covert consumer's would be
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE usage_log SET sealed = :t"), {"t": True})
    assert _tracker(net, "/v2/findUsage", {"userCode": ANN})[1]["totalUsages"] == 0
    (sealed,) = store.sealed()
    store.unseal(sealed.id, "Tartu Maakohus 2-26-1234", at=sealed.logged_at)
    answer = _tracker(net, "/v2/findUsage", {"userCode": ANN})[1]
    # the released record and the release itself
    assert [u["action"] for u in answer["usages"]][1] == "Treatment"
    assert answer["usages"][0]["action"].startswith("Release of a sealed record")


def test_the_proof_covers_every_record_of_the_period(
        running: tuple[LocalNet, UsageStore]) -> None:
    net, store = running
    for i in range(3):
        _use(net, ANN, f"Lookup {i}")
        time.sleep(0.01)
    register = str(SubsystemId.parse(str(FIND.subsystem)))
    rows = store.chain(register, ANN)
    status, proof = _tracker(net, "/sild/v1/usageProof", {"userCode": ANN})
    assert status == 200
    result = verify_usage_proof(proof)
    assert result.ok, result.summary()
    assert result.records == 3
    # a period that starts at the second record shows the first as its predecessor
    start = rows[1].logged_at.isoformat()
    status, proof = _tracker(net, "/sild/v1/usageProof", {"userCode": ANN,
                                                          "periodStart": start})
    result = verify_usage_proof(proof)
    assert result.ok, result.summary()
    assert result.records == 2
    assert "content" not in proof["records"][0]  # the predecessor: digest only


def test_a_doctors_query_is_in_find_usage_within_a_second(
        running: tuple[LocalNet, UsageStore]) -> None:
    """Issue #8 "Done when": the record is written with the exchange's own log
    records, so it is there as soon as the doctor has the answer."""
    net, _ = running
    _use(net, BOB, "Treatment")
    done = time.monotonic()
    status, answer = _tracker(net, "/v2/findUsage", {"userCode": BOB})
    assert time.monotonic() - done < 1.0
    assert status == 200
    assert [u["action"] for u in answer["usages"]] == ["Treatment"]
