"""Test kit for anchoring (docs/spec/anchoring.md): a real ledger that can go down and
come back on the same port, distinct message-log records, a gateway folder for
``sild audit``."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import uvicorn

from sild.core.identifiers import ServerId
from sild.gateway.config import AnchoringSettings, GatewaySettings
from sild.gateway.messagelog.log import LogRecord
from sild.ledger.api import create_app
from sild.ledger.home import init_ledger, open_ledger
from sild.ledger.service import Ledger
from sild.testing.servers import free_port

__all__ = ["ORIGIN", "LedgerServer", "gateway_folder", "record"]

ORIGIN = "ledger.test/anchoring"


class LedgerServer:
    """A real ledger (SQLite, 100 ms rounds) served by uvicorn on one fixed port."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        init_ledger(folder, origin=ORIGIN, period_ms=100,
                    database_url=f"sqlite:///{folder.parent}/{folder.name}.db")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._ledger: Ledger | None = None

    @property
    def vkey(self) -> str:
        return (self.folder / "ledger.vkey").read_text().strip()

    def start(self) -> None:
        self._ledger = open_ledger(self.folder)
        server = uvicorn.Server(uvicorn.Config(create_app(self._ledger), host="127.0.0.1",
                                               port=self.port, log_level="warning",
                                               access_log=False, lifespan="on"))
        self._server, self._thread = server, threading.Thread(target=server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("ledger did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)
        if self._ledger is not None:
            self._ledger.engine.dispose()
        self._server = self._thread = self._ledger = None

    def __enter__(self) -> LedgerServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def record(i: int, *, side: str = "consumer", kind: str = "request") -> LogRecord:
    """A distinct, plausible log record."""
    return LogRecord(
        logged_at=T0 + timedelta(milliseconds=i), side=side, kind=kind,  # type: ignore[arg-type]
        message_id=f"EE-{i}", request_id=f"req-{i:06d}", client_id="EE/COM/10000001/his",
        service_id="EE/GOV/70000001/rr/echo", envelope=b'{"h":%d}' % i, signature=b"sig%d" % i,
        signer_cert_fingerprint="ab" * 32, body=b"body %d" % i, status=200 if kind ==
        "response" else None)


def gateway_folder(root: Path, database_url: str, ledger_url: str = "") -> GatewaySettings:
    """A gateway.toml that `sild audit --dir` can read (no keys needed for an audit)."""
    s = GatewaySettings(root=root.resolve(), server=ServerId.parse("EE/GOV/70000001/gw1"),
                        database_url=database_url,
                        anchoring=AnchoringSettings(ledger_url=ledger_url))
    s.write()
    return s
