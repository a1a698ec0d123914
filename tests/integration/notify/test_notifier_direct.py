"""The gateway's notifier against a notification service reached directly by URL, on
SQLite and PostgreSQL (docs/spec/notify.md §4.1): first start, watermark only after an
acknowledgement, sealed records left out, id gaps held back; and its settings."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sild.core.identifiers import MemberId, ServerId
from sild.errors import ConfigurationError, TransportError
from sild.gateway.config import GatewaySettings, TrackerSettings
from sild.gateway.messagelog.usage import UsageRecord
from sild.gateway.tracker_notifier import NotifierLimits, TrackerNotifier, notify_url
from sild.notify.app import create_notify_app
from sild.notify.store import NotifyStore
from sild.store import make_engine, migrate
from sild.store.messagelog_tables import usage_log, usage_notify_marks
from sild.testing.notify import REGISTER, ServerThread, WebhookSink

ANN = "EE38001085718"
FAST = NotifierLimits(interval=0.05, retry_base=0.05, retry_cap=0.2, gap_wait=0.5)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    e = make_engine(db_url)
    migrate(e, "messagelog")
    migrate(e, "notify")  # the service's tables beside, in the same database
    yield e
    e.dispose()


def add_usage(engine: Engine, seq: int, *, flags: tuple[str, ...] = (),
              row_id: int | None = None) -> None:
    rec = UsageRecord(register=REGISTER, subject=ANN, logged_at=datetime.now(UTC),
                      action=f"use {seq}", receiver="EE/COM/10000001/his",
                      service=f"{REGISTER}/echo", categories=("health",), flags=flags)
    row = rec.to_row(seq, bytes([seq % 256]) * 32, bytes(32))
    if row_id is not None:
        row["id"] = row_id
    with engine.begin() as conn:
        conn.execute(usage_log.insert().values(row))


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _rounds(notifier: TrackerNotifier, n: int = 1) -> list[int]:
    await notifier.open()
    try:
        return [await notifier.send_once() for _ in range(n)]
    finally:
        await notifier.stop()


def mark(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(usage_notify_marks.c.last_id)).scalar_one())


def stored(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return sorted(int(s) for s in conn.execute(sa.text("SELECT seq FROM notify_events"))
                      .scalars())


@pytest.fixture
def service(engine: Engine) -> Iterator[ServerThread]:
    store = NotifyStore(engine)
    with ServerThread(create_notify_app(store, admin_token="t" * 20)) as server:
        yield server


def notifier(engine: Engine, url: str) -> TrackerNotifier:
    return TrackerNotifier(engine, url + "/v1/events", client="EE/GOV/70000001/tracker",
                           limits=FAST)


def test_first_start_begins_at_the_present_then_sends_new_records(
        engine: Engine, service: ServerThread) -> None:
    """History before the notifier's first start is not sent; later records are, and the
    watermark follows the acknowledgement."""
    add_usage(engine, 1)
    assert run(_rounds(notifier(engine, service.url))) == [0]
    assert mark(engine) == 1
    add_usage(engine, 2)
    add_usage(engine, 3, flags=("sealed",))
    add_usage(engine, 4, flags=("emergency",))
    assert run(_rounds(notifier(engine, service.url), 2)) == [3, 0]
    assert stored(engine) == [2, 4]  # the sealed one never left
    assert mark(engine) == 4  # past the sealed one too


def test_no_acknowledgement_no_progress(engine: Engine) -> None:
    """A service that answers without an acknowledgement (or is down): the watermark stays
    and the records go again next time."""
    sink = WebhookSink()  # answers 204 with no body
    with ServerThread(sink, lifespan="off") as fake:
        n = notifier(engine, fake.url + "/ok")
        run(_rounds(n))
        add_usage(engine, 1)
        with pytest.raises(TransportError, match="without an acknowledgement"):
            run(_rounds(notifier(engine, fake.url + "/ok")))
        assert mark(engine) == 0
        assert len(sink.at("/ok/v1/events")) == 1
    with pytest.raises(TransportError, match="unreachable"):
        run(_rounds(notifier(engine, fake.url)))  # nothing listens now
    assert mark(engine) == 0


def test_an_id_gap_is_held_back_then_passed(engine: Engine, service: ServerThread) -> None:
    """A missing id may be a slower transaction: wait gap_wait for it, then go on."""
    run(_rounds(notifier(engine, service.url)))
    add_usage(engine, 1, row_id=1)
    add_usage(engine, 2, row_id=3)  # id 2 not (yet) committed

    async def scenario() -> list[int]:
        n = notifier(engine, service.url)
        n.limits = dataclasses.replace(FAST, gap_wait=3.0)  # room for a loaded machine
        await n.open()
        try:
            first = [await n.send_once(), await n.send_once()]
            await asyncio.sleep(3.1)
            return [*first, await n.send_once()]
        finally:
            await n.stop()
    assert run(scenario()) == [1, 0, 1]
    assert stored(engine) == [1, 2]


def test_the_loop_retries_until_the_service_returns(engine: Engine, tmp_path: Path) -> None:
    """Started while the service is down: it retries with backoff and delivers once up."""
    store = NotifyStore(engine)
    server = ServerThread(create_notify_app(store, admin_token="t" * 20))

    async def scenario() -> int:
        n = notifier(engine, server.url)
        await n.start()
        try:
            await asyncio.sleep(0.2)
            add_usage(engine, 1)
            await asyncio.sleep(0.5)
            failures = n.failures
            await asyncio.to_thread(server.start)
            for _ in range(100):
                if stored(engine):
                    break
                await asyncio.sleep(0.05)
            return failures
        finally:
            await n.stop()
            server.stop()
    assert run(scenario()) >= 2
    assert stored(engine) == [1]


# -- settings --------------------------------------------------------------------------------


def _settings(**tracker: Any) -> GatewaySettings:
    return GatewaySettings(root=Path("/nonexistent"), server=ServerId(
        MemberId("EE", "GOV", "70000001"), "gw1"), database_url="sqlite://",
        is_listen="0.0.0.0:8080", tracker=TrackerSettings(**tracker))


def test_notify_url_goes_through_the_own_is_port() -> None:
    s = _settings(notify="EE/GOV/70000003/notify/notify", notify_client="EE/GOV/70000001/rr")
    s.tracker.validate()
    assert notify_url(s) == "http://127.0.0.1:8080/r1/EE/GOV/70000003/notify/notify/v1/events"
    assert notify_url(_settings(notify="http://n.example:8485/")) == \
        "http://n.example:8485/v1/events"
    with pytest.raises(ConfigurationError):
        notify_url(dataclasses.replace(s, is_tls=True))


@pytest.mark.parametrize("tracker", [
    {"notify": "EE/GOV/70000003/notify"},  # not a service id
    {"notify": "ftp://x/"},
    {"notify": "EE/GOV/70000003/notify/notify"},  # no client
    {"notify": "EE/GOV/70000003/notify/notify", "notify_client": "nobody"},
    {"notify_interval": 0.0},
    {"notify_interval": 120.0},
])
def test_bad_notify_settings_are_refused(tracker: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match="notify"):
        TrackerSettings(**tracker).validate()


def test_notify_settings_round_trip_through_toml() -> None:
    import tomllib

    t = TrackerSettings(notify="EE/GOV/70000003/notify/notify",
                        notify_client="EE/GOV/70000001/rr", notify_interval=0.5)
    assert TrackerSettings.from_toml(tomllib.loads(t.toml())["tracker"]) == t


def test_the_message_log_wakes_the_notifier_after_usage_commits(engine: Engine) -> None:
    """MessageLog.on_usage_committed: called after a commit that held usage records,
    and no more once removed (docs/spec/notify.md §4.1)."""
    from sild.gateway.messagelog.log import MessageLog

    calls: list[int] = []

    async def scenario() -> None:
        log = MessageLog(engine)
        await log.start()
        try:
            remove = log.on_usage_committed(lambda: calls.append(1))
            rec = UsageRecord(register=REGISTER, subject=ANN, logged_at=datetime.now(UTC),
                              action="use", receiver="EE/COM/10000001/his",
                              service=f"{REGISTER}/echo")
            await log.append(rec)
            assert calls == [1]
            remove()
            await log.append(dataclasses.replace(rec, action="again"))
            assert calls == [1]
        finally:
            await log.close()
    run(scenario())
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(usage_log)).scalar() == 2
