"""Provider gateways enforce a person's locks (docs/spec/tracker.md §6, issue #8
"Consent and locks"): real gateways, a real consent service on loopback, SQLite and
PostgreSQL.

A lock refuses the request with Server.ServerProxy.AccessDenied saying the person
locked it; a named consumer passes; a legal exception (registry group) passes and is
recorded as such; break-glass passes, flagged; the consent service unreachable → the
request is refused (fail closed); the IS is not called for a refused request.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from sild.consent.app import create_consent_app
from sild.consent.service import ConsentService
from sild.core.access import parse_subject
from sild.core.identifiers import GlobalGroupId
from sild.gateway.config import TrackerSettings
from sild.gateway.serverconf.store import PersonalData
from sild.localnet import LocalNet
from sild.registry.service import Registry
from sild.store import make_engine, migrate
from sild.testing.consent import signing_key
from sild.testing.exchange import CLIENT, CONSUMER, ECHO, PROVIDER, call, error_type
from sild.testing.netthread import NetThread
from sild.testing.rawhttp import Canned, RawHttpServer
from sild.testing.servers import serve_asgi

COURT = CONSUMER.member.subsystem("other")  # in the registry's lock-exempt group
NAMED = PROVIDER.member.subsystem("rr").service("named")
ANN, BOB = "EE60001017869", "EE39901012239"
HEADERS = {"Sild-Purpose": "Treatment", "X-Road-UserId": "EE38001085718"}


@dataclasses.dataclass
class World:
    net: LocalNet
    consent: ConsentService
    raw: RawHttpServer


@pytest.fixture
def world(tmp_path: Path, database_factory: Callable[[str], str]) -> Iterator[World]:
    consent_engine = make_engine(database_factory("consent"))
    migrate(consent_engine, "consent")
    service = ConsentService(consent_engine, key=signing_key())
    net = LocalNet.create(tmp_path / "net", [PROVIDER, CONSUMER], instance_id="EE",
                          database_url=database_factory)
    engine = make_engine(net.instance.database_url)
    registry = Registry(engine, "EE")
    for code, member in (("lock-exempt", COURT), ("emergency", CLIENT)):
        registry.add_group(GlobalGroupId("EE", code))
        registry.group_add(GlobalGroupId("EE", code), member)
    engine.dispose()
    with serve_asgi(create_consent_app(service, admin_token="t" * 32)) as url, \
            RawHttpServer() as raw:
        s = net.gateway_settings[PROVIDER.server]
        net.gateway_settings[PROVIDER.server] = dataclasses.replace(
            s, tracker=TrackerSettings(consent_url=url, consent_cache=0))
        raw.route("/named/p", Canned(headers=(("Content-Length", "2"),
                                              ("Sild-Data-Subject", BOB)), body=b"{}"))
        with NetThread(net):
            sc = net.stores[PROVIDER.server].serverconf
            sc.add_service(ECHO.subsystem, "echo", net.is_url + "/echo", timeout=5)
            sc.add_service(NAMED.subsystem, "named", raw.url + "/named", timeout=5)
            for svc in (ECHO, NAMED):
                for client in (CLIENT, COURT):
                    sc.grant(svc, parse_subject(str(client)))
                sc.declare_personal_data(svc, PersonalData(categories=("health",)))
            yield World(net, service, raw)
    consent_engine.dispose()


def _call(w: World, subject: str, *, client: object = CLIENT, service: object = ECHO,
          **extra: str) -> tuple[int, bytes]:
    url = f"{w.net.is_url_of(CONSUMER.server)}/r1/{service.path()}/p"  # type: ignore[attr-defined]
    status, _, body = call(url, headers={"X-Road-Client": str(client),
                                         "Sild-Data-Subject": subject, **HEADERS, **extra})
    return status, body


def _usage(w: World) -> list[sa.Row]:  # type: ignore[type-arg]
    engine = make_engine(w.net.gateway_settings[PROVIDER.server].database_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text("SELECT * FROM usage_log ORDER BY id")))
    finally:
        engine.dispose()


def test_a_lock_refuses_the_next_request_and_says_the_person_locked_it(w: World) -> None:
    assert _call(w, ANN)[0] == 200
    w.consent.lock(ANN, "health", actor=ANN)
    status, body = _call(w, ANN)
    assert status == 500  # X-Road sends AccessDenied as a Server fault
    assert error_type(body) == "Server.ServerProxy.AccessDenied"
    message = json.loads(body)["message"]
    assert f"the person {ANN} has locked their health data" in message
    assert len(_usage(w)) == 1  # the refused request used nothing
    # another person's data still flows
    assert _call(w, BOB)[0] == 200
    w.consent.unlock(ANN, "health", actor=ANN)
    assert _call(w, ANN)[0] == 200


def test_a_named_consumer_passes_the_lock(w: World) -> None:
    w.consent.lock(ANN, "health", exceptions=[str(CLIENT)], actor=ANN)
    assert _call(w, ANN)[0] == 200
    (u,) = _usage(w)
    assert u.flags == ""


def test_a_legal_exception_passes_and_is_recorded(w: World) -> None:
    w.consent.lock(ANN, "health", actor=ANN)
    assert _call(w, ANN, client=COURT)[0] == 200
    (u,) = _usage(w)
    assert u.flags == "exception"


def test_break_glass_passes_flagged(w: World) -> None:
    w.consent.lock(ANN, "health", actor=ANN)
    status, _ = _call(w, ANN, **{"Sild-Emergency": "unconscious in the ER"})
    assert status == 200
    (u,) = _usage(w)
    assert u.flags == "emergency,lock-overridden"
    assert u.reason == "unconscious in the ER"


def test_a_locked_subject_named_by_the_provider_withholds_the_response(w: World) -> None:
    w.consent.lock(BOB, "health", actor=BOB)
    status, body = _call(w, ANN, service=NAMED)
    assert error_type(body) == "Server.ServerProxy.AccessDenied"
    assert status == 500
    assert _usage(w) == []


def test_the_consent_service_unreachable_fails_closed(
        tmp_path: Path, database_factory: Callable[[str], str]) -> None:
    net = LocalNet.create(tmp_path / "net", [PROVIDER, CONSUMER], instance_id="EE",
                          database_url=database_factory)
    s = net.gateway_settings[PROVIDER.server]
    net.gateway_settings[PROVIDER.server] = dataclasses.replace(
        s, tracker=TrackerSettings(consent_url="http://127.0.0.1:9"))  # nothing listens
    with NetThread(net):
        sc = net.stores[PROVIDER.server].serverconf
        sc.add_service(ECHO.subsystem, "echo", net.is_url + "/echo", timeout=5)
        sc.grant(ECHO, parse_subject(str(CLIENT)))
        sc.declare_personal_data(ECHO, PersonalData(categories=("health",)))
        url = f"{net.is_url_of(CONSUMER.server)}/r1/{ECHO.path()}/p"
        status, _, body = call(url, headers={"X-Road-Client": str(CLIENT),
                                             "Sild-Data-Subject": ANN, **HEADERS})
        assert status >= 500
        assert "consent" in json.loads(body)["message"].lower()
        # a service without personal data is not affected
        sc.declare_personal_data(ECHO, None)
        assert call(url, headers={"X-Road-Client": str(CLIENT)})[0] == 200


w = pytest.fixture(lambda world: world, name="w")


def test_a_consent_artefact_passes_the_lock_and_is_named_in_the_record(w: World) -> None:
    """AA-style consent (docs/spec/consent.md): the consumer presents the signed artefact
    in Sild-Consent; the usage record names the consent that allowed it."""
    from datetime import UTC, datetime, timedelta

    w.consent.lock(ANN, "health", actor=ANN)
    granted = w.consent.grant(subject=ANN, consumer=str(CLIENT),
                              purpose={"code": "Treatment", "text": "hospital care"},
                              categories=["health"], actor=ANN,
                              expiry=datetime.now(UTC).replace(microsecond=0) + timedelta(days=1))
    assert granted.signed is not None
    status, body = _call(w, ANN, **{"Sild-Consent": granted.signed})
    assert status == 200, body
    (u,) = _usage(w)
    assert u.consent_id == granted.artefact.consent_id
    assert u.flags == "consent-presented"
    # a forged artefact is the consumer's error, and nothing is released
    forged = granted.signed[:-4] + ("AAAA" if not granted.signed.endswith("AAAA") else "BBBB")
    status, body = _call(w, ANN, **{"Sild-Consent": forged})
    assert status == 400, body
    assert len(_usage(w)) == 1
