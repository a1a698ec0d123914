"""Where webhooks may point, checked again when delivering (docs/spec/notify.md §3.1): a
name that resolves to a non-public address is refused at connect time, not only a
literal address at subscribe time (DNS rebinding)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine

from sild.notify.delivery import DeliveryWorker, GuardedResolver, RefusedAddress
from sild.notify.model import NotifyLimits, parse_event, parse_networks
from sild.notify.store import NotifyStore
from sild.store import make_engine, migrate
from sild.store.notify_tables import notify_subscriptions
from sild.testing.notify import ServerThread, WebhookSink, sample_event

PERSON = "EE38001085718"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    e = make_engine(db_url)
    migrate(e, "notify")
    yield e
    e.dispose()


def test_the_resolver_keeps_only_allowed_addresses() -> None:
    async def resolve(allowed: tuple[str, ...]) -> list[str]:
        r = GuardedResolver(parse_networks(allowed))
        try:
            return [x["host"] for x in await r.resolve("localhost", 80, socket.AF_INET)]
        finally:
            await r.close()
    with pytest.raises(RefusedAddress):
        asyncio.run(resolve(()))
    assert asyncio.run(resolve(("127.0.0.0/8",))) == ["127.0.0.1"]


def test_a_name_resolving_to_loopback_gets_nothing(engine: Engine) -> None:
    """A subscription whose name resolves to 127.0.0.1 (written past the URL check, as a
    rebinding name would pass it): the attempt fails without connecting."""
    sink = WebhookSink()
    limits = NotifyLimits(max_attempts=1, poll=0.05)
    store = NotifyStore(engine, limits=limits)  # no network allowed
    with ServerThread(sink, lifespan="off") as hooks, engine.begin() as conn:
        conn.execute(notify_subscriptions.insert().values(
            id="sub_rebind", subject=PERSON, kind="webhook",
            url=hooks.url.replace("127.0.0.1", "localhost") + "/ok/x",
            secret="whsec_" + "A" * 32, categories="", emergency_only=False,
            created_at=datetime.now(UTC)))
    with ServerThread(sink, lifespan="off", port=hooks.port):

        async def scenario() -> None:
            worker = DeliveryWorker(store)
            await worker.start()
            try:
                await asyncio.to_thread(store.add_events, [parse_event(sample_event(1))])
                worker.wake()
                deadline = time.monotonic() + 10
                while not store.deliveries(PERSON, state="dead"):
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.05)
            finally:
                await worker.stop()
        asyncio.run(scenario())
    (dead,) = store.deliveries(PERSON, state="dead")
    assert dead.last_error == "localhost resolves to no public address"
    assert sink.received == []
