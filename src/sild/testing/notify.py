"""Test kit for notifications: a webhook receiver that records, fails or hangs; a server
thread that can go down and come back on the same port; sample usage events."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
import uvicorn

from sild.core.access import parse_subject
from sild.core.identifiers import GlobalGroupId, MemberId
from sild.embedded import free_port
from sild.gateway.serverconf.store import PersonalData
from sild.localnet import GatewaySpec, LocalNet
from sild.notify.app import create_notify_app
from sild.notify.delivery import DeliveryWorker
from sild.notify.model import NotifyLimits, event_id, parse_networks
from sild.notify.store import NotifyStore
from sild.registry.service import Registry
from sild.store import make_engine, migrate
from sild.store.messagelog_tables import usage_log, usage_notify_marks
from sild.testing.exchange import CLIENT, CONSUMER, ECHO, PROVIDER, call
from sild.testing.netthread import NetThread

__all__ = ["ANN", "COVERT", "NOTIFIER", "NOTIFY", "REGISTER", "RR", "NotifyWorld", "Received",
           "ServerThread", "WebhookSink", "notify_world", "sample_event"]

REGISTER = "EE/GOV/70000001/rr"


def sample_event(seq: int, *, subject: str = "EE38001085718", register: str = REGISTER,
                 categories: tuple[str, ...] = ("health",), flags: tuple[str, ...] = (),
                 action: str = "Treatment of the patient") -> dict[str, Any]:
    """A usage event as a provider gateway sends it (docs/spec/notify.md §2)."""
    return {"id": event_id(register, subject, seq), "register": register, "subject": subject,
            "seq": seq, "loggedAt": "2026-12-06T12:00:00.000000Z", "action": action,
            "purposeCode": "", "legalBasis": "TTKS §59¹", "receiver": "EE/COM/10000001/his",
            "receiverName": "Clinic", "service": f"{register}/echo", "consentId": "",
            "categories": list(categories), "flags": list(flags),
            "reason": "unconscious patient" if "emergency" in flags else "",
            "recordHash": f"{seq:064x}"}


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() on arrival


@dataclass
class WebhookSink:
    """An ASGI webhook receiver: ``/ok…`` answers 204, ``/fail…`` 500, ``/hang…`` never
    (until the server stops). Everything that arrives is recorded with its time."""

    received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        with self._lock:
            self.received.append(Received(path, headers, body, time.monotonic()))
        if path.startswith("/hang"):
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                return  # the server is stopping: hang up without a word
        status = 500 if path.startswith("/fail") else 204
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    def at(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def wait_for(self, path: str, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.at(path)
            if len(got) >= count:
                return got
            time.sleep(0.01)
        return self.at(path)


class ServerThread:
    """An ASGI app on a fixed loopback port in a thread; ``start()``/``stop()`` again and
    again (a service that goes down and comes back at the same address)."""

    def __init__(self, app: Any, *, port: int | None = None, lifespan: str = "on") -> None:
        self.app = app
        self.port = port or free_port()
        self.lifespan = lifespan
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerThread:
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port,
                                log_level="warning", access_log=False,
                                lifespan=self.lifespan,  # type: ignore[arg-type]
                                timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)
        self._server = self._thread = None

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- three real gateways: the register's, the clinic's, the notification service's ----------

NOTIFIER = GatewaySpec(MemberId("EE", "GOV", "70000003"), "Notifications", "gw3", ("notify",))
NOTIFY = NOTIFIER.member.subsystem("notify").service("notify")
RR = PROVIDER.member.subsystem("rr")  # the register; its gateway sends events as it
COVERT = CONSUMER.member.subsystem("other")  # in the registry's covert group
ANN = "EE60001017869"
HOOK = "/ok/ann"


@dataclass
class NotifyWorld:
    """gw1 (register, notifier on), gw2 (the clinic), gw3 (the notification service),
    the service with its worker, and Ann's webhook (docs/spec/notify.md §4.1)."""

    net: LocalNet
    thread: NetThread
    store: NotifyStore
    service: ServerThread
    sink: WebhookSink
    hooks: ServerThread
    database: str  # gw1's database

    def access(self, purpose: str, *, client: object = CLIENT,
               extra: dict[str, str] | None = None) -> None:
        """One personal-data request about Ann from ``client`` through gw2 → gw1."""
        url = f"{self.net.is_url_of(CONSUMER.server)}/r1/{ECHO.path()}/p"
        status, _, body = call(url, headers={
            "X-Road-Client": str(client), "Sild-Data-Subject": ANN, "Sild-Purpose": purpose,
            "X-Road-UserId": "EE38001085718", **(extra or {})})
        if status != 200:
            raise AssertionError(f"access failed: {status} {body[:200]!r}")

    def notices(self) -> list[dict[str, Any]]:
        return [orjson.loads(r.body)["usage"] for r in self.sink.at(HOOK)]

    def wait_action(self, action: str, timeout: float = 20) -> float:
        """When the notice of the access with this purpose arrived (monotonic)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for r in self.sink.at(HOOK):
                if orjson.loads(r.body)["usage"]["action"] == action:
                    return r.at
            time.sleep(0.002)
        raise AssertionError(f"no notice of {action!r}")

    def watermark(self) -> tuple[int, int]:
        """(the notifier's watermark, the newest usage_log id) in gw1's database."""
        engine = make_engine(self.database)
        try:
            with engine.connect() as conn:
                mark = conn.execute(sa.select(usage_notify_marks.c.last_id)).scalar_one()
                top = conn.execute(sa.select(sa.func.max(usage_log.c.id))).scalar_one()
                return int(mark), int(top or 0)
        finally:
            engine.dispose()


@contextlib.contextmanager
def notify_world(root: Path, database: Callable[[str], str], *,
                 limits: NotifyLimits | None = None, notify: bool = True,
                 ) -> Iterator[NotifyWorld]:
    """Build and run the three gateways, the service and the webhook; warm up once."""
    net = LocalNet.create(root, [PROVIDER, CONSUMER, NOTIFIER], instance_id="EE",
                          database_url=database)
    engine = make_engine(net.instance.database_url)
    registry = Registry(engine, "EE")
    for code, member in (("covert", COVERT), ("emergency", CLIENT)):
        registry.add_group(GlobalGroupId("EE", code))
        registry.group_add(GlobalGroupId("EE", code), member)
    engine.dispose()
    s = net.gateway_settings[PROVIDER.server]
    if notify:
        net.gateway_settings[PROVIDER.server] = dataclasses.replace(
            s, tracker=dataclasses.replace(s.tracker, notify=str(NOTIFY),
                                           notify_client=str(RR)))
    notify_engine = make_engine(database("notify"))
    migrate(notify_engine, "notify")
    store = NotifyStore(notify_engine, limits=limits or NotifyLimits(poll=0.1),
                        allowed=parse_networks(["127.0.0.0/8"]))
    sink = WebhookSink()
    service = ServerThread(create_notify_app(store, admin_token="n" * 24,
                                             worker=DeliveryWorker(store)))
    try:
        with ServerThread(sink, lifespan="off") as hooks, service, NetThread(net) as thread:
            gw1 = net.stores[PROVIDER.server].serverconf
            gw1.add_service(ECHO.subsystem, "echo", net.is_url + "/echo", timeout=5)
            for client in (CLIENT, COVERT):
                gw1.grant(ECHO, parse_subject(str(client)))
            gw1.declare_personal_data(ECHO, PersonalData(
                categories=("health",), max_subjects=2, legal_basis="TTKS §59¹"))
            gw3 = net.stores[NOTIFIER.server].serverconf
            gw3.add_service(NOTIFY.subsystem, "notify", service.url, timeout=10)
            gw3.grant(NOTIFY, parse_subject(str(RR)))
            store.subscribe(ANN, webhook=f"{hooks.url}{HOOK}")
            world = NotifyWorld(net, thread, store, service, sink, hooks, s.database_url)
            world.access("warm-up")  # the notifier may have backed off while gw3 had none
            if notify:
                world.wait_action("warm-up", timeout=30)
            yield world
    finally:
        notify_engine.dispose()
