"""A flooding submitter against `sild ledger serve` with submitter keys (issue 12).

Run:  python bench/bench_ledger_flood.py                 (about 40 s)
      python bench/bench_ledger_flood.py --seconds 10 --runs 3

The ledger (SQLite, 1 s rounds, ``max_round`` 1,000,000) runs in a subprocess pinned to
CPU 0, the clients in this process on CPU 1. Two keys with the default quotas (10,000
hashes/s, 0.25 of a round): *flood* posts batches of 10,000 hashes on 4 connections as
fast as it is answered (a second phase with a key whose rate is 10 M/s, so only its
round share holds it); *victim* submits one hash every 50 ms and long-polls its
receipt. Baseline, same run: the victim alone. Reported per phase: the victim's hashes
accepted (share of attempts) and its submit-to-receipt latency p50/p99, the flood's
accepted hashes/s and 429 answers, and the database's growth in MB/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).parent))
from bench_ledger import _pin, _wait_up

from sild.ledger.client import LedgerClient
from sild.ledger.submitters import add_key
from sild.testing.servers import free_port


def imprints(n: int) -> list[bytes]:
    return [b"\x01" + random.randbytes(32) for _ in range(n)]


async def victim(url: str, key: str, seconds: float) -> tuple[int, int, list[float]]:
    """One hash every 50 ms; (accepted, attempts, latencies of accepted ones)."""
    lat: list[float] = []
    attempts = accepted = 0
    async with LedgerClient(url, credential=key, timeout_s=30) as c:
        async def one() -> None:
            nonlocal accepted
            t = time.monotonic()
            try:
                await c.submit(imprints(1))
            except Exception:  # refused or timed out: counted as not accepted
                return
            accepted += 1
            lat.append(time.monotonic() - t)

        tasks = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            attempts += 1
            tasks.append(asyncio.create_task(one()))
            await asyncio.sleep(0.05)
        await asyncio.gather(*tasks)
    return accepted, attempts, lat


async def flood(url: str, key: str, seconds: float, conns: int = 4) -> tuple[int, int]:
    """Batches of 10,000 on ``conns`` connections; (hashes accepted, 429 answers)."""
    accepted = refused = 0
    end = time.monotonic() + seconds
    body = b"".join(imprints(10_000))
    headers = {"authorization": f"Bearer {key}", "content-type": "application/octet-stream"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conns)) as s:
        async def worker() -> None:
            nonlocal accepted, refused
            while time.monotonic() < end:
                async with s.post(url + "/add", data=body, headers=headers) as r:
                    await r.read()
                    if r.status == 200:
                        accepted += 10_000
                    elif r.status == 429:
                        refused += 1
                        await asyncio.sleep(min(float(r.headers.get("retry-after", "1")), 0.2))
        await asyncio.gather(*(worker() for _ in range(conns)))
    return accepted, refused


def db_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("ledger.db*"))


def p(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * q))] * 1000 if xs else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-flood-"))
    folder = tmp / "ledger"
    subprocess.run([sys.executable, "-m", "sild.cli", "ledger", "init", str(folder)],
                   check=True, capture_output=True)
    flood_key = add_key(folder, "flood")
    fast_key = add_key(folder, "flood-fast", rate=10_000_000)  # only the round share holds it
    victim_key = add_key(folder, "victim")
    port = free_port()
    proc = subprocess.Popen([*_pin(0), sys.executable, "-m", "sild.cli", "ledger", "serve",
                             "--dir", str(folder), "--listen", f"127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    os.sched_setaffinity(0, {1} if (os.cpu_count() or 1) > 1 else {0})
    try:
        _wait_up(url + "/healthz")
        print(f"command: python bench/bench_ledger_flood.py --seconds {args.seconds:g} "
              f"--runs {args.runs}")
        print("| phase | victim accepted | victim p50 / p99 ms | flood hashes/s | flood 429s "
              "| database MB/s |")
        print("|---|---:|---:|---:|---:|---:|")
        for run in range(args.runs):
            phases = {"victim alone (baseline)": None,
                      "victim + flood at the default quota, 4 connections": flood_key,
                      "victim + flood with rate 10 M/s (round share 0.25 only)": fast_key}
            for phase, fkey in phases.items():
                size0, t0 = db_size(folder), time.monotonic()

                async def go(fkey: str | None) -> tuple[object, ...]:
                    jobs = [victim(url, victim_key, args.seconds)]
                    if fkey is not None:
                        jobs.append(flood(url, fkey, args.seconds))  # type: ignore[arg-type]
                    return tuple(await asyncio.gather(*jobs))

                got = asyncio.run(go(fkey))
                time.sleep(1.5)  # the last round closes and commits
                mb_s = (db_size(folder) - size0) / 1e6 / (time.monotonic() - t0)
                acc, att, lat = got[0]  # type: ignore[misc]
                f_acc, f_429 = got[1] if len(got) > 1 else (0, 0)  # type: ignore[misc]
                print(f"| {phase} (run {run + 1}) | {acc}/{att} | {p(lat, 0.5):.0f} / "
                      f"{p(lat, 0.99):.0f} | {f_acc / args.seconds:,.0f} | {f_429} | "
                      f"{mb_s:.2f} |")
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
