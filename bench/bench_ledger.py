"""Benchmark of the ledger service over real HTTP, with baselines in the same run.

Run:  python bench/bench_ledger.py                  (about two minutes)
      python bench/bench_ledger.py --seconds 5 --runs 3

The ledger runs as `sild ledger serve` in a subprocess pinned to CPU 0 (taskset), the
load generator (aiohttp, this process) on CPU 1, so the figures are one server core.
Measured:

* baseline: a raw ASGI "hello" app on uvicorn, same client, same pinning (requests/s);
* intake in batches of 1,000 imprints, with every receipt fetched (hashes/s);
* single-hash submissions (requests/s, 64 concurrent clients, no receipt fetch);
* receipt latency at 1 s rounds: submit one hash, long-poll its receipt (p50/p99);
* receipt size: measured, and for a ten-year calendar with three cosignatures;
* offline verification rate, hash path with the checkpoint cached (receipts/s, one
  core), next to hashlib SHA-256 over the same number of hashes.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sild.core.checkpoint import Checkpoint, sign_checkpoint
from sild.core.merkle import RootHash, inclusion_proof_length
from sild.core.note import CosignatureSigner, Ed25519Signer, parse_verifier_key
from sild.core.receipt import ReceiptExtra, format_receipt
from sild.core.tlogproof import RoundPath
from sild.core.verification import ReceiptVerifier, Status, TrustPolicy
from sild.ledger.client import LedgerClient
from sild.ledger.submitters import add_key
from sild.testing.servers import free_port

HELLO_APP = '''
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"message":"hello"}'})
'''


def _pin(cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu)] if os.cpu_count() and os.cpu_count() > 1 else []  # type: ignore[operator]


def _wait_up(url: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                r.read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


CREDENTIAL = [""]  # set by start_ledger


def _auth() -> dict[str, str]:
    return {"authorization": f"Bearer {CREDENTIAL[0]}"}


def start_ledger(folder: Path, period_ms: int) -> tuple[subprocess.Popen[bytes], str]:
    """`sild ledger init` + `sild ledger serve` pinned to CPU 0."""
    subprocess.run([sys.executable, "-m", "sild.cli", "ledger", "init", str(folder),
                    "--period-ms", str(period_ms)], check=True, capture_output=True)
    # The benchmark's own API key, its quota out of the way (docs/spec/ledger.md §8.1).
    CREDENTIAL[0] = add_key(folder, "bench", rate=10_000_000, share=1.0)
    port = free_port()
    proc = subprocess.Popen([*_pin(0), sys.executable, "-m", "sild.cli", "ledger", "serve",
                             "--dir", str(folder), "--listen", f"127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    _wait_up(url + "/healthz")
    return proc, url


async def hello_rate(url: str, seconds: float, conc: int = 64) -> float:
    """Baseline: GET / on the hello app."""
    n = 0
    end = time.monotonic() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conc)) as s:
        async def worker() -> None:
            nonlocal n
            while time.monotonic() < end:
                async with s.get(url + "/") as r:
                    await r.read()
                n += 1
        await asyncio.gather(*(worker() for _ in range(conc)))
    return n / seconds


def imprints(n: int) -> list[bytes]:
    return [b"\x01" + random.randbytes(32) for _ in range(n)]


def wrk(url: str, seconds: float, script: str | None = None) -> float:
    """requests/s from wrk -t1 -c64 pinned to CPU 1 (the load generator of limits.md §3)."""
    cmd = [*_pin(1), "wrk", "-t1", "-c64", f"-d{seconds:.0f}s"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("Requests/sec:"))
    return float(line.split()[1])


async def batch_rate(url: str, seconds: float, batch: int = 5000, conc: int = 32) -> float:
    """Hashes/s with receipts: POST a batch, then fetch all its receipts (long-poll)."""
    n = 0
    end = time.monotonic() + seconds
    t0 = time.monotonic()
    async with LedgerClient(url, credential=CREDENTIAL[0]) as c:
        async def worker() -> None:
            nonlocal n
            while time.monotonic() < end:
                got = await c.submit(imprints(batch))
                n += len(got)
        await asyncio.gather(*(worker() for _ in range(conc)))
    return n / (time.monotonic() - t0)


async def single_rate(url: str, seconds: float, conc: int = 64) -> float:
    """Single-hash submissions/s (POST /add with one imprint)."""
    n = 0
    end = time.monotonic() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conc)) as s:
        async def worker() -> None:
            nonlocal n
            while time.monotonic() < end:
                async with s.post(url + "/add", data=imprints(1)[0],
                                  headers={"content-type": "application/octet-stream",
                                           **_auth()}) as r:
                    await r.read()
                    assert r.status == 200
                n += 1
        await asyncio.gather(*(worker() for _ in range(conc)))
    return n / seconds


async def latencies(url: str, samples: int) -> tuple[list[float], int]:
    """Submit-to-receipt times of single hashes sent at random instants."""
    out: list[float] = []
    size = 0
    async with LedgerClient(url, credential=CREDENTIAL[0]) as c:
        async def one(delay: float) -> None:
            nonlocal size
            await asyncio.sleep(delay)
            t = time.monotonic()
            r = await c.submit(imprints(1))
            out.append(time.monotonic() - t)
            size = max(size, len(r[0]))
        await asyncio.gather(*(one(random.uniform(0, samples / 20)) for _ in range(samples)))
    return out, size


def synthetic_receipt(round_size: int, calendar_size: int) -> bytes:
    """A receipt as the ledger makes it, for a given round and calendar size, 3 cosigners."""
    log = Ed25519Signer("ledger.example.ee/calendar", Ed25519PrivateKey.generate())
    cos = [(CosignatureSigner(f"gw{i}.example.ee/witness", Ed25519PrivateKey.generate()),
            1_800_000_000) for i in range(3)]
    cp = sign_checkpoint(Checkpoint(log.name, calendar_size, RootHash(bytes(32))),
                         signer=log, cosigners=cos)
    i = round_size - 1
    path = tuple(random.randbytes(32) for _ in range(inclusion_proof_length(i, round_size)))
    rp = RoundPath(calendar_size - 2, round_size, i, path)
    extra = ReceiptExtra(b"\x01" + bytes(32), 1_800_000_000_000, rp)
    n = inclusion_proof_length(calendar_size - 2, calendar_size)
    return format_receipt(extra=extra, calendar_proof=[random.randbytes(32)] * n, checkpoint=cp)


def verify_rate(receipts: list[bytes], imps: list[bytes], policy: TrustPolicy) -> float:
    """Receipts/s verified by one ReceiptVerifier (checkpoint signatures cached)."""
    rv = ReceiptVerifier(policy)
    at = datetime.now(UTC)
    rv.verify(receipts[0], imprint=imps[0], at=at)  # warm the checkpoint cache
    t = time.perf_counter()
    for r, imp in zip(receipts, imps, strict=True):
        if rv.verify(r, imprint=imp, at=at).status is not Status.OK:
            raise AssertionError("a receipt failed")
    return len(receipts) / (time.perf_counter() - t)


def hashlib_rate(n: int) -> float:
    data = [random.randbytes(65) for _ in range(n)]
    sha = hashlib.sha256
    t = time.perf_counter()
    for d in data:
        sha(d).digest()
    return n / (time.perf_counter() - t)


def med(xs: list[float]) -> str:
    return f"{statistics.median(xs):,.0f} ({min(xs):,.0f}–{max(xs):,.0f})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--latency-samples", type=int, default=200)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-ledger-"))

    # Baseline: hello app on uvicorn, same pinning.
    (tmp / "hello.py").write_text(HELLO_APP)
    port = free_port()
    hello = subprocess.Popen([*_pin(0), sys.executable, "-m", "uvicorn", "hello:app", "--port",
                              str(port), "--log-level", "warning", "--no-access-log",
                              "--loop", "uvloop", "--http", "httptools"], cwd=tmp,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_up(f"http://127.0.0.1:{port}/")
        base = [wrk(f"http://127.0.0.1:{port}/", args.seconds) for _ in range(args.runs)]
    finally:
        hello.terminate()
        hello.wait()
    print(f"baseline raw ASGI hello on uvicorn, wrk: {med(base)} req/s")

    proc, url = start_ledger(tmp / "ledger", 1000)
    try:
        batch = [asyncio.run(batch_rate(url, args.seconds)) for _ in range(args.runs)]
        print(f"intake with receipts, 32 clients x batches of 5000: {med(batch)} hashes/s")
        lua = tmp / "post.lua"
        body = "".join(f"\\x{b:02x}" for b in imprints(1)[0])
        lua.write_text(f'wrk.method = "POST"\nwrk.body = "{body}"\n'
                       'wrk.headers["Content-Type"] = "application/octet-stream"\n'
                       f'wrk.headers["Authorization"] = "Bearer {CREDENTIAL[0]}"\n')
        single = [wrk(url + "/add", args.seconds, str(lua)) for _ in range(args.runs)]
        print(f"single-hash submissions, wrk: {med(single)} req/s")
        lat, size = asyncio.run(latencies(url, args.latency_samples))
        lat.sort()
        p50, p99 = lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        print(f"receipt latency at 1 s rounds ({len(lat)} samples): p50 {p50:.3f} s, "
              f"p99 {p99:.3f} s, max {lat[-1]:.3f} s")
        print(f"receipt size measured (no witnesses, small calendar): {size} B")
        # Verification: receipts of one big round, fetched from the running ledger.
        imps = imprints(20_000)

        async def fetch() -> list[bytes]:
            async with LedgerClient(url, credential=CREDENTIAL[0]) as c:
                return await c.submit(imps)

        receipts = asyncio.run(fetch())
        vkey = (tmp / "ledger" / "ledger.vkey").read_text().strip()
        policy = TrustPolicy(log_keys=(parse_verifier_key(vkey),))  # type: ignore[arg-type]
    finally:
        proc.terminate()
        proc.wait()
    rates = [verify_rate(receipts, imps, policy) for _ in range(args.runs)]
    hashes = [hashlib_rate(200_000) for _ in range(args.runs)]
    per = 2 + 2 * 15 + 2 + 20  # approx. hashes per receipt here: leaf, path, record, calendar
    print(f"verification, one core, checkpoint cached: {med(rates)} receipts/s "
          f"(hashlib SHA-256 of 65 B: {med(hashes)} hash/s ≈ {statistics.median(hashes) / per:,.0f}"
          f" receipts/s if hashing were all)")
    for rs, cs, label in ((100_000, 315_360_000, "100k-hash round, 10-year calendar"),
                          (1_000, 86_400, "1k-hash round, 1-day calendar")):
        print(f"receipt size, {label}, 3 cosignatures: {len(synthetic_receipt(rs, cs))} B")


if __name__ == "__main__":
    main()
