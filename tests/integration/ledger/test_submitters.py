"""Submitter API keys and quotas on a served ledger (docs/spec/ledger.md §8.1), and the
public read side's caching (C2SP tlog-tiles): issue 12, "Nobody anonymous can exhaust a
service"."""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sild.cli import main
from sild.core.imprint import Imprint
from sild.errors import QuotaExceeded, Unauthorized
from sild.ledger.api import create_app
from sild.ledger.client import LedgerClient
from sild.ledger.home import init_ledger, open_ledger
from sild.ledger.service import Ledger
from sild.ledger.settings import LedgerLimits, LedgerSettings
from sild.ledger.submitters import SUBMITTERS_FILE, Submitters, add_key, revoke_key
from sild.ledger.testing import serve_ledger
from sild.testing.servers import free_port, serve_asgi


def _imprint(data: bytes) -> bytes:
    return Imprint.of(data, at=datetime.now(UTC)).to_bytes()


def _ledger(tmp_path: Path, *, period_ms: int = 2000, **limits: int) -> tuple[Path, Ledger]:
    folder = tmp_path / "ledger"
    init_ledger(folder, origin="ledger.test/quota", period_ms=period_ms)
    s = LedgerSettings.load(folder / "ledger.json")
    s = dataclasses.replace(s, limits=LedgerLimits(**limits))  # type: ignore[arg-type]
    return folder, open_ledger(folder, settings=s)


def _app(folder: Path, ledger: Ledger) -> object:
    lim = ledger.limits
    subs = Submitters.of_folder(folder, max_batch=lim.max_batch, max_round=lim.max_round)
    return create_app(ledger, submitters=subs)


async def _add(url: str, imprints: list[bytes], credential: str | None) -> object:
    async with LedgerClient(url, credential=credential) as c:
        return await c.add(imprints)


def test_anonymous_submitter_is_refused(tmp_path: Path) -> None:
    """Without a key (or with a wrong or revoked one) POST /add is 401; reads stay public."""
    folder, ledger = _ledger(tmp_path)
    good = add_key(folder, "gw1")
    with serve_asgi(_app(folder, ledger)) as url:
        with pytest.raises(Unauthorized, match="401"):
            asyncio.run(_add(url, [_imprint(b"a")], None))
        with pytest.raises(Unauthorized, match="unknown or revoked"):
            asyncio.run(_add(url, [_imprint(b"a")], good + "x"))
        with pytest.raises(Unauthorized):
            asyncio.run(_add(url, [_imprint(b"a")], "gw2." + good.partition(".")[2]))
        assert asyncio.run(_add(url, [_imprint(b"a")], good)).count == 1  # type: ignore[attr-defined]
        with urllib.request.urlopen(url + "/checkpoint") as r:
            assert r.status == 200
        revoke_key(folder, "gw1")
        time.sleep(1.1)  # the running ledger re-reads its keys at most once a second
        with pytest.raises(Unauthorized, match="unknown or revoked"):
            asyncio.run(_add(url, [_imprint(b"b")], good))


def test_credential_is_checked_before_the_body_is_read(tmp_path: Path) -> None:
    """A stranger announcing a body it never sends gets 401 at once: nothing is buffered."""
    folder, ledger = _ledger(tmp_path)
    with serve_asgi(_app(folder, ledger)) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(b"POST /add HTTP/1.1\r\nHost: x\r\nContent-Length: 600000\r\n"
                      b"Content-Type: application/octet-stream\r\n\r\n" + b"\x01" * 100)
            head = s.recv(4096)
    assert head.startswith(b"HTTP/1.1 401"), head[:100]


def test_flooding_submitter_cannot_push_others_out_of_a_round(tmp_path: Path) -> None:
    """A key past its share of the round gets 429 + Retry-After; another key still gets in."""
    folder, ledger = _ledger(tmp_path, period_ms=5000, max_round=1000, max_batch=100)
    flood = add_key(folder, "flood", share=0.25)
    other = add_key(folder, "other", share=0.25)

    async def go(url: str) -> tuple[int, QuotaExceeded, int]:
        accepted = 0
        async with LedgerClient(url, credential=flood) as c:
            try:
                # 4 connections' worth of batches, far past the round's 1,000 hashes
                for i in range(40):
                    sub = await c.add([_imprint(b"f%d-%d" % (i, j)) for j in range(25)])
                    accepted += sub.count
                raise AssertionError("the flood was never refused")
            except QuotaExceeded as e:
                refused = e
        async with LedgerClient(url, credential=other) as c:
            sub = await c.add([_imprint(b"o%d" % j) for j in range(100)])
        return accepted, refused, sub.count

    with serve_asgi(_app(folder, ledger)) as url:
        accepted, refused, other_count = asyncio.run(go(url))
    assert accepted == 250  # 0.25 × 1,000: the flood's own share, no more
    assert other_count == 100
    assert "share of round" in refused.message
    assert 1 <= refused.fields["retry_after"] <= 5


def test_rate_quota_answers_429_with_retry_after(tmp_path: Path) -> None:
    """Past its hashes-per-second rate a key gets 429 and a Retry-After header."""
    folder, ledger = _ledger(tmp_path, max_batch=10)
    key = add_key(folder, "slow", rate=2, share=1.0)

    async def go(url: str) -> tuple[int, str, Any]:
        async with LedgerClient(url, credential=key) as c:
            await c.add([_imprint(b"r%d" % i) for i in range(10)])  # the whole bucket
        async with aiohttp.ClientSession() as s, s.post(
                url + "/add", data=_imprint(b"more"),
                headers={"authorization": f"Bearer {key}",
                         "content-type": "application/octet-stream"}) as resp:
            return resp.status, await resp.text(), resp.headers.copy()

    with serve_asgi(_app(folder, ledger)) as url:
        status, body, headers = asyncio.run(go(url))
    assert status == 429
    assert json.loads(body)["type"] == "Server.QuotaExceeded"
    assert int(headers["Retry-After"]) >= 1


def test_tiles_are_cacheable_and_entry_bundles_gzipped(tmp_path: Path) -> None:
    """Full tiles immutable, partial tiles briefly, the checkpoint revalidated; entry
    bundles gzip-encoded for clients that accept it (C2SP tlog-tiles)."""
    folder = tmp_path / "ledger"
    now = int(time.time() * 1000)  # genesis 300 rounds ago: the catch-up fills tile 0
    init_ledger(folder, origin="ledger.test/tiles", period_ms=1000, genesis_ms=now - 300_000)
    with serve_ledger(create_app(open_ledger(folder))) as url:
        deadline = time.monotonic() + 10
        while (size := int(urllib.request.urlopen(url + "/checkpoint").read()
                           .split(b"\n")[1])) < 300:
            assert time.monotonic() < deadline
            time.sleep(0.1)

        def get(path: str, **headers: str) -> tuple[bytes, Message]:
            req = urllib.request.Request(url + path, headers=headers)
            with urllib.request.urlopen(req) as r:
                return r.read(), r.headers

        _, h = get("/checkpoint")
        assert h["Cache-Control"] == "no-cache"
        _, h = get("/tile/0/000")
        assert h["Cache-Control"] == "public, max-age=31536000, immutable"
        _, h = get(f"/tile/0/001.p/{size - 256}")
        assert h["Cache-Control"] == "public, max-age=60"
        plain, h = get("/tile/entries/000")
        assert h["Content-Encoding"] is None
        assert h["Cache-Control"] == "public, max-age=31536000, immutable"
        zipped, h = get("/tile/entries/000", **{"Accept-Encoding": "gzip, br"})
        assert h["Content-Encoding"] == "gzip"
        assert h["Vary"] == "accept-encoding"
        assert gzip.decompress(zipped) == plain
        again, _ = get("/tile/entries/000", **{"Accept-Encoding": "gzip"})
        assert again == zipped  # the cached compression


def test_key_cli_stores_only_hashes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`ledger key add` shows the credential once; the folder keeps only its SHA-256."""
    folder = tmp_path / "ledger"
    assert main(["ledger", "init", str(folder)]) == 0
    capsys.readouterr()
    assert main(["ledger", "key", "add", "gw1", "--dir", str(folder), "--rate", "50"]) == 0
    credential = capsys.readouterr().out.strip()
    assert credential.startswith("gw1.")
    stored = (folder / SUBMITTERS_FILE).read_text()
    assert credential.partition(".")[2] not in stored
    assert os.stat(folder / SUBMITTERS_FILE).st_mode & 0o077 == 0
    assert main(["ledger", "key", "add", "gw1", "--dir", str(folder)]) == 2  # duplicate
    assert main(["ledger", "key", "add", "Bad Name", "--dir", str(folder)]) == 1
    assert main(["ledger", "key", "list", "--dir", str(folder)]) == 0
    listed = capsys.readouterr().out
    assert "gw1" in listed
    assert "50" in listed
    assert main(["ledger", "key", "revoke", "gw1", "--dir", str(folder)]) == 0
    assert main(["ledger", "key", "revoke", "gw1", "--dir", str(folder)]) == 1
    assert "no key named" in capsys.readouterr().err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_stops_gracefully_on_sigterm_and_ctrl_c(tmp_path: Path, sig: int) -> None:
    """`sild ledger serve` runs its shutdown on SIGTERM as on Ctrl-C and exits 0
    (it used to die with -15, its round loop and writer lock left as they were)."""
    folder = tmp_path / "ledger"
    assert main(["ledger", "init", str(folder), "--period-ms", "200"]) == 0
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "sild.cli", "ledger", "serve", "--dir",
                             str(folder), "--listen", f"127.0.0.1:{port}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None, "did not start"
            assert time.monotonic() < deadline, "did not start"
            time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, (proc.returncode, err)
    assert "Traceback" not in err
    # the shutdown ran: the folder lock is free and the ledger reopens at once
    open_ledger(folder, require_writer=True).close()
