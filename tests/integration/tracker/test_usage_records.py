"""Usage records written by the provider gateway (docs/spec/tracker.md §1–§4), on real
gateways with the real message log, on SQLite and PostgreSQL.

Issue #8 "Usage records, written by the exchange": subjects, purpose and acting person
are required on a personal-data service; one usage record per subject commits in the
same transaction as the message-log records; covert consumers produce sealed records;
break-glass is only for the registry's emergency group.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from sild.core.access import parse_subject
from sild.core.identifiers import GlobalGroupId
from sild.core.usage import CHAIN_START, chain_next
from sild.gateway.serverconf.store import PersonalData
from sild.localnet import LocalNet
from sild.registry.service import Registry
from sild.store import make_engine
from sild.testing.exchange import CLIENT, CONSUMER, ECHO, PROVIDER, call, error_type
from sild.testing.netthread import NetThread
from sild.testing.rawhttp import Canned, RawHttpServer

COVERT = CONSUMER.member.subsystem("other")  # the registry's covert group holds it
NAMED = PROVIDER.member.subsystem("rr").service("named")  # the IS names more subjects
ANN, BOB, CAROL = "EE60001017869", "EE39901012239", "EE38001085718"


@pytest.fixture
def running(tmp_path: Path, database_factory: Callable[[str], str]
            ) -> Iterator[tuple[NetThread, LocalNet, RawHttpServer]]:
    net = LocalNet.create(tmp_path / "net", [PROVIDER, CONSUMER], instance_id="EE",
                          database_url=database_factory)
    engine = make_engine(net.instance.database_url)
    registry = Registry(engine, "EE")
    for code, member in (("covert", COVERT), ("emergency", CLIENT)):
        registry.add_group(GlobalGroupId("EE", code))
        registry.group_add(GlobalGroupId("EE", code), member)
    registry.add_purpose("tx-101", "Treatment of the patient (registered)")
    engine.dispose()
    with RawHttpServer() as raw, NetThread(net) as thread:
        raw.route("/named/p", Canned(headers=(("Content-Length", "2"),
                                            ("Sild-Data-Subject", CAROL)), body=b"{}"))
        sc = net.stores[PROVIDER.server].serverconf
        sc.add_service(ECHO.subsystem, "echo", net.is_url + "/echo", timeout=5)
        sc.add_service(NAMED.subsystem, "named", raw.url + "/named", timeout=5)
        for service in (ECHO, NAMED):
            sc.grant(service, parse_subject(str(CLIENT)))
            sc.grant(service, parse_subject(str(COVERT)))
            sc.declare_personal_data(service, PersonalData(
                categories=("health",), max_subjects=2, legal_basis="TTKS §59¹"))
        yield thread, net, raw


def _rows(net: LocalNet, table: str) -> list[sa.Row]:  # type: ignore[type-arg]
    engine = make_engine(net.gateway_settings[PROVIDER.server].database_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY id")))  # noqa: S608
    finally:
        engine.dispose()


def _call(net: LocalNet, headers: dict[str, str], *, client: object = CLIENT,
          service: object = ECHO) -> tuple[int, dict[str, str], bytes]:
    url = f"{net.is_url_of(CONSUMER.server)}/r1/{service.path()}/p"  # type: ignore[attr-defined]
    return call(url, headers={"X-Road-Client": str(client), **headers})


GOOD = {"Sild-Data-Subject": f"{ANN}, {BOB}", "Sild-Purpose": "Treatment of the patient",
        "X-Road-UserId": "EE38001085718"}


def test_one_record_per_subject_in_the_message_logs_transaction(
        running: tuple[NetThread, LocalNet, RawHttpServer]) -> None:
    _, net, _ = running
    status, headers, _ = _call(net, GOOD)
    assert status == 200
    rid = headers["x-road-request-id"]
    usage = _rows(net, "usage_log")
    assert [(u.subject, u.seq) for u in usage] == [(ANN, 1), (BOB, 1)]
    logged = {r.message_id for r in _rows(net, "message_log")
              if r.request_id == rid and r.side == "provider"}
    for u in usage:
        assert u.request_id == rid
        assert u.message_id in logged
        assert u.action == "Treatment of the patient"
        assert u.user_id == "EE38001085718"
        assert u.receiver == str(CLIENT)
        assert u.receiver_name == "Clinic"
        assert u.categories == "health"
        assert u.legal_basis == "TTKS §59¹"
        assert u.flags == ""
        assert bytes(u.chain) == chain_next(CHAIN_START, bytes(u.record_hash))
    # the next record of the same subject extends its chain (§3.2)
    assert _call(net, {**GOOD, "Sild-Data-Subject": ANN})[0] == 200
    ann = [u for u in _rows(net, "usage_log") if u.subject == ANN]
    assert [u.seq for u in ann] == [1, 2]
    assert bytes(ann[1].chain) == chain_next(bytes(ann[0].chain), bytes(ann[1].record_hash))
    heads = {(h.subject, h.seq) for h in _rows_heads(net)}
    assert heads == {(ANN, 2), (BOB, 1)}


def _rows_heads(net: LocalNet) -> list[sa.Row]:  # type: ignore[type-arg]
    engine = make_engine(net.gateway_settings[PROVIDER.server].database_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text("SELECT * FROM usage_heads")))
    finally:
        engine.dispose()


@pytest.mark.parametrize(("change", "expected"), [
    ({"Sild-Data-Subject": None}, "Client.MissingHeader"),
    ({"Sild-Purpose": None}, "Client.MissingHeader"),
    ({"Sild-Purpose": "  "}, "Client.MissingHeader"),
    ({"Sild-Data-Subject": "EE60001017860"}, "Client.InvalidPersonalCode"),  # check digit
    ({"Sild-Data-Subject": "60001017869"}, "Client.InvalidPersonalCode"),  # no country
    ({"Sild-Data-Subject": "XX60001017869"}, "Client.InvalidPersonalCode"),
    ({"Sild-Data-Subject": f"{ANN},{BOB},{CAROL}"}, "Client.InvalidRequest"),  # > max 2
    ({"Sild-Emergency": "unconscious patient"}, None),  # CLIENT holds the role: allowed
])
def test_bad_tracker_headers_are_refused_and_nothing_is_forwarded(
        running: tuple[NetThread, LocalNet, RawHttpServer], change: dict[str, str | None],
        expected: str | None) -> None:
    _, net, _ = running
    headers = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    status, _, body = _call(net, headers)  # type: ignore[arg-type]
    if expected is None:
        assert status == 200
        (u, _b) = _rows(net, "usage_log")
        assert u.flags == "emergency"
        assert u.reason == "unconscious patient"
        return
    assert status >= 400
    assert error_type(body) == expected, body
    assert _rows(net, "usage_log") == []
    responses = [r for r in _rows(net, "message_log") if r.kind == "response"]
    assert responses == []  # the provider IS was never called


def test_emergency_header_from_a_client_without_the_role(
        running: tuple[NetThread, LocalNet, RawHttpServer]) -> None:
    _, net, _ = running
    status, _, body = _call(net, {**GOOD, "Sild-Emergency": "curious"}, client=COVERT)
    assert status == 400
    assert error_type(body) == "Client.EmergencyNotPermitted"
    assert _rows(net, "usage_log") == []


def test_covert_consumers_produce_sealed_records(
        running: tuple[NetThread, LocalNet, RawHttpServer]) -> None:
    _, net, _ = running
    assert _call(net, {**GOOD, "Sild-Data-Subject": BOB}, client=COVERT)[0] == 200
    (u,) = _rows(net, "usage_log")
    assert u.flags == "sealed"
    assert u.receiver == str(COVERT)


def test_the_provider_is_may_name_further_subjects(
        running: tuple[NetThread, LocalNet, RawHttpServer]) -> None:
    _, net, raw = running
    status, _, _ = _call(net, {**GOOD, "Sild-Data-Subject": ANN}, service=NAMED)
    assert status == 200
    rows = _rows(net, "usage_log")
    assert [(u.subject, u.flags) for u in rows] == [(ANN, ""), (CAROL, "named-by-provider")]
    # The tracker headers reach the provider IS, signed through the exchange.
    (got,) = raw.received
    assert ("sild-purpose", "Treatment of the patient") in [
        (k.lower(), v) for k, v in got.headers]


def test_an_invalid_subject_named_by_the_is_withholds_the_response(
        running: tuple[NetThread, LocalNet, RawHttpServer]) -> None:
    _, net, raw = running
    raw.route("/named/p", Canned(headers=(("Content-Length", "2"),
                                        ("Sild-Data-Subject", "EE1")), body=b"{}"))
    status, _, body = _call(net, GOOD, service=NAMED)
    assert status >= 400
    assert "invalid data subject" in json.loads(body)["message"]
    assert _rows(net, "usage_log") == []


def test_a_service_without_personal_data_needs_no_tracker_headers(
        running: tuple[NetThread, LocalNet, RawHttpServer]) -> None:
    _, net, _ = running
    net.stores[PROVIDER.server].serverconf.declare_personal_data(ECHO, None)
    assert _call(net, {})[0] == 200
    assert _rows(net, "usage_log") == []


def test_a_registered_purpose_code_is_shown_as_its_text(
        running: tuple[NetThread, LocalNet, RawHttpServer]) -> None:
    """Sild-Purpose may name a purpose the registry publishes (docs/spec/tracker.md §1)."""
    _, net, _ = running
    assert _call(net, {**GOOD, "Sild-Data-Subject": ANN, "Sild-Purpose": "tx-101"})[0] == 200
    (u,) = _rows(net, "usage_log")
    assert u.purpose_code == "tx-101"
    assert u.action == "Treatment of the patient (registered)"


def test_a_bulk_service_needs_a_purpose_but_records_no_person(
        running: tuple[NetThread, LocalNet, RawHttpServer]) -> None:
    """Estonia's logging guide: mass transfers need no per-person logging (§1)."""
    _, net, _ = running
    net.stores[PROVIDER.server].serverconf.declare_personal_data(
        ECHO, PersonalData(categories=("statistics",), bulk=True))
    many = ",".join([ANN, BOB, CAROL] * 50)
    assert _call(net, {"Sild-Purpose": "Census", "Sild-Data-Subject": many})[0] == 200
    assert _call(net, {"Sild-Purpose": "Census"})[0] == 200
    status, _, body = _call(net, {})
    assert status == 400
    assert error_type(body) == "Client.MissingHeader"
    assert _rows(net, "usage_log") == []
