"""The configuration client and `sild conf` against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sild.cli import main
from sild.clock import utc_now
from sild.confclient import ConfClient, FetchLimits, HttpFetcher
from sild.core.anchor import encode_anchor
from sild.core.globalconf import sign_globalconf
from sild.errors import GlobalConfError, GlobalConfExpired, TransportError
from sild.testing.confdouble import make_anchor, make_conf

KEY = Ed25519PrivateKey.from_private_bytes(b"k" * 32)
STRANGER = Ed25519PrivateKey.from_private_bytes(b"s" * 32)


@dataclass
class Registry:
    """A real aiohttp server in a thread, serving whatever ``body``/``status`` say."""

    body: bytes = b""
    status: int = 200
    url: str = ""
    hits: int = 0
    _stop: asyncio.Event | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = field(default=None, repr=False)

    async def _handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        return web.Response(
            body=self.body, status=self.status,
            content_type="application/vnd.sild.globalconf+dsse+json",
        )  # fmt: skip

    async def _serve(self, ready: threading.Event) -> None:
        app = web.Application()
        app.router.add_get("/globalconf", self._handle)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/globalconf"
        self._stop = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        ready.set()
        await self._stop.wait()
        await runner.cleanup()

    def start(self) -> None:
        ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve(ready)))
        self._thread.start()
        assert ready.wait(5)

    def stop(self) -> None:
        if self._thread is not None and self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(5)
            self._thread = None


@pytest.fixture
def registry() -> Iterator[Registry]:
    r = Registry()
    r.start()
    yield r
    r.stop()


@pytest.fixture
def dead_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/globalconf"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def signed(
    version: int = 1, *, issued: datetime | None = None, key: Ed25519PrivateKey = KEY
) -> bytes:
    return sign_globalconf(make_conf([KEY], version=version, issued_at=issued or utc_now()), [key])


def test_refresh_over_http(tmp_path: Path, registry: Registry) -> None:
    """The client downloads, verifies and caches the document from a real server."""
    registry.body = signed(5)
    c = ConfClient(make_anchor([KEY], [registry.url]), tmp_path)
    assert asyncio.run(c.refresh()).conf.version == 5
    assert c.current().conf.version == 5
    assert registry.hits == 1


def test_falls_back_when_first_source_is_down(
    tmp_path: Path, registry: Registry, dead_url: str
) -> None:
    """With the first source refusing connections, the second source's document is used."""
    registry.body = signed(2)
    c = ConfClient(make_anchor([KEY], [dead_url, registry.url]), tmp_path)
    assert asyncio.run(c.refresh()).conf.version == 2


def test_serves_last_copy_while_down_until_expiry(tmp_path: Path, registry: Registry) -> None:
    """After the server goes away the last copy serves until it expires, then fails closed."""
    issued = utc_now()
    clock = Clock(issued)
    registry.body = signed(1, issued=issued)
    c = ConfClient(make_anchor([KEY], [registry.url]), tmp_path, clock=clock)
    asyncio.run(c.refresh())
    registry.stop()
    clock.now = issued + timedelta(seconds=300)
    with pytest.raises(TransportError, match=registry.url):
        asyncio.run(c.refresh())
    assert c.current().conf.version == 1
    clock.now = issued + timedelta(seconds=600)
    with pytest.raises(GlobalConfExpired):
        c.current()


def test_http_error_status_names_url_and_status(tmp_path: Path, registry: Registry) -> None:
    """A non-200 answer is a transport error naming the URL and the status."""
    registry.status = 503
    with pytest.raises(TransportError, match=rf"GET {registry.url} returned HTTP 503"):
        asyncio.run(HttpFetcher().fetch(registry.url))


def test_oversized_answer_is_refused(registry: Registry) -> None:
    """A body larger than the fetch limit is refused."""
    registry.body = b"x" * 2048
    fetcher = HttpFetcher(limits=FetchLimits(max_bytes=1024))
    with pytest.raises(GlobalConfError, match="larger than 1024 bytes"):
        asyncio.run(fetcher.fetch(registry.url))


# --- the CLI ---------------------------------------------------------------------------------


def _anchor_file(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "anchor.json"
    path.write_bytes(encode_anchor(make_anchor([KEY], [url])))
    return path


def verify(tmp_path: Path, doc: Path) -> int:
    return main(["conf", "verify", "--anchor", str(_anchor_file(tmp_path, "http://x/")), str(doc)])


def test_cli_verify_good_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`sild conf verify` exits 0 and prints the summary for a valid document."""
    doc = tmp_path / "gc.json"
    doc.write_bytes(signed(9))
    assert (
        main(["conf", "verify", "--anchor", str(_anchor_file(tmp_path, "http://x/")), str(doc)])
        == 0
    )
    out = capsys.readouterr().out
    assert "EE" in out
    assert "9" in out


def test_cli_verify_forged_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`sild conf verify` exits 2 with one error line for a document signed by a stranger."""
    doc = tmp_path / "gc.json"
    doc.write_bytes(signed(key=STRANGER))
    assert (
        main(["conf", "verify", "--anchor", str(_anchor_file(tmp_path, "http://x/")), str(doc)])
        == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("sild: error: globalconf: signed by unknown key")
    assert err.count("\n") == 1


def test_cli_verify_expired_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`sild conf verify` exits 2 for an expired document."""
    doc = tmp_path / "gc.json"
    doc.write_bytes(signed(issued=utc_now() - timedelta(hours=1)))
    assert (
        main(["conf", "verify", "--anchor", str(_anchor_file(tmp_path, "http://x/")), str(doc)])
        == 2
    )
    assert "expired" in capsys.readouterr().err


def test_cli_verify_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file that does not exist is our side's error: exit 1, one line."""
    anchor = _anchor_file(tmp_path, "http://x/")
    assert main(["conf", "verify", "--anchor", str(anchor), str(tmp_path / "nope")]) == 1
    assert "cannot read global configuration" in capsys.readouterr().err


def test_cli_fetch_then_show(
    tmp_path: Path, registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    """`sild conf fetch` caches the document from the server and `sild conf show` lists it."""
    registry.body = signed(3)
    cache = tmp_path / "cache"
    assert main(["conf", "fetch", "--anchor", str(_anchor_file(tmp_path, registry.url)),
                 "--cache", str(cache)]) == 0  # fmt: skip
    assert main(["conf", "show", "--cache", str(cache)]) == 0
    out = capsys.readouterr().out
    assert "EE/GOV/70000562/gw1" in out
    assert "Ministry" in out
    assert "version 3" in out
