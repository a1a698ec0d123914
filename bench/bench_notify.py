"""Access → notice latency (issue #8: p95 ≤ 5 s; docs/spec/notify.md §4–§5).

    python bench/bench_notify.py [--pg postgresql://postgres@127.0.0.1:5432/test]
                                 [--accesses 200] [--rate 20]

Three real gateways on loopback (sild.testing.notify.notify_world): the clinic's gw2
sends a personal-data request about Ann to the register's gw1; gw1 writes the usage
record in its message log's transaction; gw1's notifier (200 ms poll) POSTs it through
its own IS port → gw1 → gw3 (mutual TLS) → the notification service, which stores it and
wakes its worker; the worker POSTs the signed notice to Ann's webhook. Measured, per
access, from just before the request is sent to the webhook's arrival:

* **access → notice** over the exchange (the issue's figure);
* baseline, same run: **the access alone** (request → answer at the clinic);
* baseline, same run: **event → notice** inside the service (``POST /v1/events``
  straight to the service → webhook arrival), i.e. without the gateway notifier and the
  exchange hop;
* baseline, same run: **the access alone with the notifier off** (a second set of
  gateways without ``[tracker] notify``): what the notifier costs the exchange.

Accesses are sent one at a time at ``--rate`` per second. Prints p50, p95, p99 and max.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from sild.store.engine import normalise_url
from sild.testing.notify import ANN, notify_world, sample_event


def stats(samples: list[float]) -> str:
    s = sorted(x * 1000 for x in samples)

    def pct(p: float) -> float:
        return s[min(len(s) - 1, int(len(s) * p))]
    return (f"p50 {statistics.median(s):7.1f} ms  p95 {pct(0.95):7.1f} ms  "
            f"p99 {pct(0.99):7.1f} ms  max {s[-1]:7.1f} ms  (n={len(s)})")


@contextmanager
def databases(tmp: Path, pg: str | None) -> Iterator[Callable[[str], str]]:
    if pg is None:
        yield lambda name: f"sqlite:///{tmp}/{name}.db"
        return
    admin = sa.create_engine(normalise_url(pg), isolation_level="AUTOCOMMIT")
    made: dict[str, str] = {}
    base = sa.engine.make_url(normalise_url(pg))

    def make(name: str) -> str:
        if name not in made:
            made[name] = f"sild_bench_{secrets.token_hex(5)}"
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{made[name]}"'))
        return base.set(database=made[name]).render_as_string(hide_password=False)
    try:
        yield make
    finally:
        with admin.connect() as conn:
            for db in made.values():
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg", help="PostgreSQL admin URL (default: SQLite files)")
    ap.add_argument("--accesses", type=int, default=200)
    ap.add_argument("--rate", type=float, default=20.0, help="accesses per second")
    args = ap.parse_args()
    gap = 1.0 / args.rate
    with tempfile.TemporaryDirectory() as tmp, databases(Path(tmp), args.pg) as db, \
            notify_world(Path(tmp) / "net", db) as w:
        # the access alone, and access → notice, interleaved in one run
        access, notice = [], []
        for i in range(args.accesses):
            t0 = time.monotonic()
            w.access(f"bench-{i}")
            access.append(time.monotonic() - t0)
            notice.append(w.wait_action(f"bench-{i}", timeout=60) - t0)
            time.sleep(max(0.0, gap - (time.monotonic() - t0)))
        # event → notice inside the service, no gateway in between
        inside = []
        for i in range(args.accesses):
            ev = sample_event(10_000 + i, subject=ANN, action=f"direct-{i}")
            body = json.dumps({"events": [ev]}).encode()
            req = urllib.request.Request(f"{w.service.url}/v1/events", data=body, headers={
                "Content-Type": "application/json", "X-Road-Client": "EE/GOV/70000001/rr"})
            t0 = time.monotonic()
            with urllib.request.urlopen(req, timeout=10) as r:
                r.read()
            inside.append(w.wait_action(f"direct-{i}", timeout=60) - t0)
            time.sleep(max(0.0, gap - (time.monotonic() - t0)))
    with tempfile.TemporaryDirectory() as tmp, databases(Path(tmp), args.pg) as db, \
            notify_world(Path(tmp) / "net", db, notify=False) as w:
        plain = []
        for i in range(args.accesses):
            t0 = time.monotonic()
            w.access(f"plain-{i}")
            plain.append(time.monotonic() - t0)
            time.sleep(max(0.0, gap - (time.monotonic() - t0)))
        store = "PostgreSQL" if args.pg else "SQLite"
        print(f"store: {store}; {args.accesses} accesses at {args.rate:g}/s")
        print(f"access → notice (exchange)   {stats(notice)}")
        print(f"baseline: access alone       {stats(access)}")
        print(f"baseline: event → notice     {stats(inside)}")
        print(f"baseline: access, notify off {stats(plain)}")


if __name__ == "__main__":
    main()
