"""Test kit for notifications: a webhook receiver that records, fails or hangs; a server
thread that can go down and come back on the same port; sample usage events."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from sild.embedded import free_port
from sild.notify.model import event_id

__all__ = ["REGISTER", "Received", "ServerThread", "WebhookSink", "sample_event"]

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
