"""A notification service on a real store (SQLite and PostgreSQL), served over real HTTP on
loopback with its delivery worker, and a webhook receiver."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from sild.notify.app import create_notify_app
from sild.notify.delivery import DeliveryWorker
from sild.notify.model import NotifyLimits, parse_networks
from sild.notify.store import NotifyStore
from sild.store import make_engine, migrate
from sild.testing.notify import ServerThread, WebhookSink

TOKEN = "t" * 24
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FAST = NotifyLimits(webhook_timeout=3.0, retry_base=0.1, retry_cap=0.3, max_attempts=3,
                    poll=0.1, lease=30)


@dataclass
class Running:
    store: NotifyStore
    worker: DeliveryWorker
    server: ServerThread
    sink: WebhookSink
    hooks: ServerThread

    @property
    def url(self) -> str:
        return self.server.url


def make_service(store: NotifyStore) -> tuple[DeliveryWorker, ServerThread]:
    worker = DeliveryWorker(store)
    return worker, ServerThread(create_notify_app(store, admin_token=TOKEN, worker=worker))


@pytest.fixture
def running(db_url: str) -> Iterator[Running]:
    engine = make_engine(db_url)
    migrate(engine, "notify")
    store = NotifyStore(engine, limits=FAST, allowed=parse_networks(["127.0.0.0/8"]))
    sink = WebhookSink()
    worker, server = make_service(store)
    with ServerThread(sink, lifespan="off") as hooks, server:
        yield Running(store, worker, server, sink, hooks)
    engine.dispose()
