"""findUsage v2 latency for a person with 1,000 entries among many usage rows.

    python bench/bench_find_usage.py [--db sqlite|postgres] [--rows 10000000]
                                     [--requests 300]

Issue #8's target: p99 ≤ 20 ms for a person with 1,000 entries among 10 M usage rows,
on SQLite and PostgreSQL. Fills a fresh database (migrated like a gateway's) with
``--rows`` usage rows over a year for 500,000 other people, 1,000 of them the target
person's, spread evenly; then asks the real tracker app (uvicorn on loopback, one
keep-alive HTTP connection) for the person's records (``limit=1000``: the whole
list, ~150 KB of JSON) ``--requests`` times. Baseline in the same run: the same query
through the store in-process, without HTTP and JSON. Reports p50, p99 and spread.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from sild.store import make_engine, migrate
from sild.store.messagelog_tables import usage_log
from sild.testing.servers import serve_asgi
from sild.tracker.app import create_tracker_app
from sild.tracker.store import UsageStore

REG = "EE/GOV/70008440/rr"
TARGET = "EE60001017869"
COLS = ["register", "subject", "seq", "logged_at", "action", "purpose_code", "legal_basis",
        "receiver", "receiver_name", "user_id", "service", "message_id", "request_id",
        "consent_id", "categories", "flags", "sealed", "reason", "record_hash", "chain"]


def rows(n: int, target_entries: int, rng: random.Random):  # type: ignore[no-untyped-def]
    """Usage rows in time order; every n/target_entries-th one is the target's."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    step = timedelta(days=365) / n
    others = [f"EE{rng.randrange(10**10, 10**11)}" for _ in range(500_000)]
    seqs: dict[str, int] = {}
    every = max(n // target_entries, 1)
    receivers = ["EE/GOV/70008747/polis", "EE/COM/10000001/his", "EE/GOV/70000349/tor"]
    for i in range(n):
        subject = TARGET if i % every == 0 and seqs.get(TARGET, 0) < target_entries \
            else others[rng.randrange(len(others))]
        seq = seqs[subject] = seqs.get(subject, 0) + 1
        h = secrets.token_bytes(32)
        yield (REG, subject, seq, start + step * i, "Isiku andmete päring", "", "RRS §27",
               receivers[i % 3], "Asutus", "EE38001085718", f"{REG}/isik", f"m{i}",
               f"r{i}", "", "population", "", False, "", h, h)


def fill(url: str, n: int, target_entries: int) -> None:
    engine = make_engine(url)
    migrate(engine, "messagelog")
    rng = random.Random(8)
    t0 = time.monotonic()
    with engine.begin() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        if engine.dialect.name == "sqlite":
            raw.execute("PRAGMA synchronous=OFF")  # setup only: the rows, not durability
            cur = raw.cursor()
            marks = ", ".join("?" * len(COLS))
            batch: list[tuple[object, ...]] = []
            for r in rows(n, target_entries, rng):
                batch.append((*r[:3], r[3].isoformat(sep=" ")[:26], *r[4:]))
                if len(batch) == 50_000:
                    cur.executemany(f"INSERT INTO usage_log ({', '.join(COLS)}) "  # noqa: S608
                                    f"VALUES ({marks})", batch)
                    batch.clear()
            if batch:
                cur.executemany(f"INSERT INTO usage_log ({', '.join(COLS)}) "  # noqa: S608
                                f"VALUES ({marks})", batch)
        else:
            with raw.cursor() as cur, cur.copy(  # type: ignore[attr-defined]
                    f"COPY usage_log ({', '.join(COLS)}) FROM STDIN") as copy:
                for r in rows(n, target_entries, rng):
                    copy.write_row(r)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE usage_log"))
    else:
        with engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))
    with engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(usage_log)).scalar()
    engine.dispose()
    print(f"filled {total:,} usage rows in {time.monotonic() - t0:.0f} s", flush=True)


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--pg-url", default=os.environ.get(
        "SILD_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--entries", type=int, default=1000)
    ap.add_argument("--requests", type=int, default=300)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="sild-bench-find-"))
    admin = None
    name = ""
    if args.db == "sqlite":
        url = f"sqlite:///{root}/gateway.db"
    else:
        admin = sa.create_engine(args.pg_url.replace("postgresql://", "postgresql+psycopg://"),
                                 isolation_level="AUTOCOMMIT")
        name = f"sild_bench_find_{secrets.token_hex(4)}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = args.pg_url.rsplit("/", 1)[0] + "/" + name
    try:
        fill(url, args.rows, args.entries)
        engine = make_engine(url)
        store = UsageStore(engine)
        direct: list[float] = []
        for _ in range(args.requests):
            t = time.perf_counter()
            total, page = store.page(REG, TARGET, limit=1000)
            direct.append((time.perf_counter() - t) * 1000)
        assert total == args.entries, total
        assert len(page) == min(args.entries, 1000)
        app = create_tracker_app(store, retention_days=365)
        timings: list[float] = []
        with serve_asgi(app) as base:
            host, port = base.removeprefix("http://").split(":")
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
            path = f"/v2/findUsage?userCode={TARGET}&limit=1000"
            headers = {"X-Road-UserId": "EE38001085718", "X-Road-Service": f"{REG}/findUsage"}
            for i in range(args.requests + 20):
                t = time.perf_counter()
                conn.request("GET", path, headers=headers)
                resp = conn.getresponse()
                body = resp.read()
                if i >= 20:  # the first 20: warm-up
                    timings.append((time.perf_counter() - t) * 1000)
                assert resp.status == 200, body[:200]
            conn.close()
        engine.dispose()
    finally:
        if admin is not None:
            with admin.connect() as c:
                c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
        shutil.rmtree(root, ignore_errors=True)
    print(f"findUsage ({args.db}, {args.rows:,} rows, person with {args.entries} entries, "
          f"limit=1000, {len(body):,} bytes): p50 {statistics.median(timings):.1f} ms, "
          f"p99 {pct(timings, 99):.1f} ms (min {min(timings):.1f}, max {max(timings):.1f}); "
          f"target p99 ≤ 20 ms")
    print(f"baseline, the store's query in-process: p50 {statistics.median(direct):.1f} ms, "
          f"p99 {pct(direct, 99):.1f} ms")


if __name__ == "__main__":
    sys.exit(main())
