"""Resident memory of a running `sild ledger serve` with millions of leaves in its logs.

Run:  python bench/bench_ledger_memory.py                       (10 M hashes, ~4 min)
      python bench/bench_ledger_memory.py --hashes 1000000 --calendar-leaves 1000000

Issue 4's target: under 200 MB resident with 10 M leaves in the ledger's logs (tiles and
proofs come from storage, not from a tree held in RAM). The ledger runs as `sild ledger
serve` (SQLite, 1 s rounds) in a subprocess pinned to CPU 0; this process (pinned to
CPU 1) submits ``--hashes`` imprints in batches of 10,000 over HTTP with 16 concurrent
clients and samples the server's VmRSS from /proc every 0.2 s. Reported: RSS after
start-up (the baseline, same run), the peak during intake (VmHWM), and RSS once intake
has stopped and the last rounds have closed. ``--calendar-leaves N`` also makes the
calendar itself N leaves long: genesis is put N rounds (100 ms each) in the past, so
the ledger appends N empty rounds at start-up (the catch-up path) before intake.
A receipt for the last hash is fetched and verified at the end, as a sanity check.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from tempfile import mkdtemp

from sild.core.note import parse_verifier_key
from sild.core.verification import Status, TrustPolicy, verify_receipt
from sild.ledger.client import LedgerClient
from sild.ledger.service import Submission
from sild.ledger.submitters import add_key
from sild.testing.servers import free_port

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from bench_ledger import _pin, _wait_up
from bench_merkle import machine


def status_kb(pid: int, field: str) -> int:
    """A ``VmRSS``/``VmHWM`` line of /proc/<pid>/status, in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def du_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


CREDENTIAL = [""]  # set in main, before the ledger starts


async def ingest(url: str, total: int, *, receipts: bool, batch: int = 10_000,
                 conc: int = 16) -> bytes:
    """Submit ``total`` random SHA-256 imprints (fetching every receipt, as clients do,
    or only adding); return the last imprint and its receipt."""
    sent = 0
    last: list[bytes] = []
    async with LedgerClient(url, timeout_s=120, credential=CREDENTIAL[0]) as c:
        async def worker() -> None:
            nonlocal sent
            while sent < total:
                n = min(batch, total - sent)
                sent += n
                is_last = sent >= total
                body = [b"\x01" + random.randbytes(32) for _ in range(n)]
                sub = await c.add(body)
                if receipts:
                    await c.receipts(sub)
                if is_last:
                    last.extend(body[-1:])
                    last.extend(await c.receipts(Submission(sub.round, sub.first + n - 1, 1)))
        await asyncio.gather(*(worker() for _ in range(conc)))
    return b"".join(last)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hashes", type=int, default=10_000_000)
    ap.add_argument("--calendar-leaves", type=int, default=0)
    ap.add_argument("--no-receipts", action="store_true",
                    help="only POST /add (a flood: rounds as large as the server accepts)")
    args = ap.parse_args()
    tmp = Path(mkdtemp(prefix="bench-ledger-mem-"))
    folder = tmp / "ledger"
    period = 100 if args.calendar_leaves else 1000
    genesis = time.time_ns() // 1_000_000 - args.calendar_leaves * period
    subprocess.run([sys.executable, "-m", "sild.cli", "ledger", "init", str(folder),
                    "--period-ms", str(period)], check=True, capture_output=True)
    settings = json.loads((folder / "ledger.json").read_text())
    settings["genesis_ms"] = genesis - genesis % period
    (folder / "ledger.json").write_text(json.dumps(settings))
    # The benchmark's own API key, its quota out of the way (docs/spec/ledger.md §8.1).
    CREDENTIAL[0] = add_key(folder, "bench", rate=10_000_000, share=1.0)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    print(f"machine: {machine()}")
    print(f"command: python bench/bench_ledger_memory.py --hashes {args.hashes} "
          f"--calendar-leaves {args.calendar_leaves}"
          + (" --no-receipts" if args.no_receipts else ""))
    t0 = time.monotonic()
    proc = subprocess.Popen([*_pin(0), sys.executable, "-m", "sild.cli", "ledger", "serve",
                             "--dir", str(folder), "--listen", f"127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.sched_setaffinity(0, {1} if (os.cpu_count() or 1) > 1 else {0})
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], status_kb(proc.pid, "VmRSS"))
            time.sleep(0.2)

    try:
        _wait_up(url + "/healthz")
        if args.calendar_leaves:  # wait for the catch-up to reach the present
            while True:
                with urllib.request.urlopen(url + "/healthz", timeout=5) as r:
                    size = json.loads(r.read())["size"]
                if size >= args.calendar_leaves:
                    break
                time.sleep(1)
            print(f"calendar caught up to {size:,} leaves in {time.monotonic() - t0:.0f} s; "
                  f"peak RSS so far {status_kb(proc.pid, 'VmHWM') / 1024:.1f} MB")
        time.sleep(2)
        start_rss = status_kb(proc.pid, "VmRSS")
        print(f"RSS after start-up (baseline): {start_rss / 1024:.1f} MB")
        threading.Thread(target=sample, daemon=True).start()
        t = time.monotonic()
        last = asyncio.run(ingest(url, args.hashes, receipts=not args.no_receipts))
        took = time.monotonic() - t
        time.sleep(3)  # the last rounds close
        end_rss = status_kb(proc.pid, "VmRSS")
        hwm = status_kb(proc.pid, "VmHWM")
        stop.set()
    finally:
        proc.terminate()
        proc.wait(30)
    imprint, receipt = last[:33], last[33:]
    vkey = parse_verifier_key((folder / "ledger.vkey").read_text().strip())
    v = verify_receipt(receipt, imprint=imprint, policy=TrustPolicy(log_keys=(vkey,)),  # type: ignore[arg-type]
                       at=datetime.now(UTC))
    mode = "adding only" if args.no_receipts else "every receipt fetched"
    print(f"ingested {args.hashes:,} hashes ({mode}) in {took:.0f} s "
          f"({args.hashes / took:,.0f}/s); "
          f"last receipt {v.status.value}")
    print(f"RSS sampled every 0.2 s during intake: max {peak[0] / 1024:.1f} MB; "
          f"VmHWM (peak) {hwm / 1024:.1f} MB")
    print(f"RSS after intake, rounds closed: {end_rss / 1024:.1f} MB")
    print(f"on disk: database {du_mb(folder) - du_mb(folder / 'tiles'):.0f} MB, "
          f"tiles {du_mb(folder / 'tiles'):.0f} MB")
    return 0 if v.status is Status.OK else 1


if __name__ == "__main__":
    sys.exit(main())
