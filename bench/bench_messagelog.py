"""Benchmark of the message log's group commit against one commit per record, same run.

Run:  python bench/bench_messagelog.py                    (SQLite; about a minute)
      SILD_PG_URL=postgresql://postgres@127.0.0.1:5432/test python bench/bench_messagelog.py
      python bench/bench_messagelog.py --runs 5 --records 40000 --concurrency 64

N concurrent appenders (asyncio tasks, like request handlers) each await
``MessageLog.append(record)`` in a loop; every append returns only when its record is
durable (SQLite WAL + synchronous=FULL; PostgreSQL with synchronous_commit=on).
Modes, each on a fresh table, measured in the same run:

* group   — ``MessageLog(engine)``: up to 512 records or 2 ms per transaction
* per-row — ``MessageLog(engine, max_batch=1, max_delay=0, max_queue=2048)``: one
            commit per record
            (the baseline; the same writer, so the difference is the batching)

Prints rows/s median and min–max over the runs, the ratio group/per-row, and the
wait of one append (p50/p99, in ms) as a request handler would see it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from sild.gateway.messagelog.log import LogRecord, MessageLog
from sild.store import make_engine, migrate
from sild.store.engine import normalise_url
from sild.testing.messagelog import make_record

T0 = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)


def machine() -> str:
    model = platform.processor() or platform.machine()
    if shutil.which("lscpu"):
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    return f"{model}, {os.cpu_count()} vCPU (nproc), CPython {platform.python_version()}"


@contextmanager
def sqlite_db() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        yield f"sqlite:///{tmp}/bench.db"


@contextmanager
def pg_db(url: str) -> Iterator[str]:
    admin = sa.create_engine(normalise_url(url), isolation_level="AUTOCOMMIT")
    name = f"sild_bench_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.engine.make_url(normalise_url(url)).set(database=name).render_as_string(
            hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def records(n: int, body: int) -> list[LogRecord]:
    payload = os.urandom(body // 2).hex().encode()
    return [make_record(i, at=T0 + timedelta(microseconds=i), body=payload) for i in range(n)]


async def one_run(engine: sa.Engine, recs: list[LogRecord], concurrency: int,
                  **options: float) -> tuple[float, list[float], int]:
    """rows/s, per-append waits (s), transactions; on an emptied table."""
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM message_log"))
    commits = 0

    def count(_conn: object) -> None:
        nonlocal commits
        commits += 1

    mlog = MessageLog(engine, **options)  # type: ignore[arg-type]
    await mlog.start()
    waits: list[float] = []
    it = iter(recs)

    async def appender() -> None:
        for rec in it:  # the tasks share one iterator: each record is appended once
            t = time.perf_counter()
            await mlog.append(rec)
            waits.append(time.perf_counter() - t)

    sa.event.listen(engine, "commit", count)
    t0 = time.perf_counter()
    await asyncio.gather(*(appender() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    sa.event.remove(engine, "commit", count)
    await mlog.close()
    return len(recs) / elapsed, waits, commits


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def bench(label: str, url: str, args: argparse.Namespace) -> None:
    engine = make_engine(url)
    migrate(engine, "messagelog")
    modes = {
        "group": ({}, args.records),
        # same queue room as group mode, so the baseline is not slowed by back-pressure
        "per-row": ({"max_batch": 1, "max_delay": 0, "max_queue": 2048},
                    args.per_row_records),
    }
    rates: dict[str, list[float]] = {}
    for mode, (options, n) in modes.items():
        recs = records(n, args.body)
        rates[mode] = []
        all_waits: list[float] = []
        txs = 0
        for _ in range(args.runs):
            rate, waits, commits = asyncio.run(one_run(engine, recs, args.concurrency,
                                                       **options))
            rates[mode].append(rate)
            all_waits.extend(waits)
            txs += commits
        r = rates[mode]
        print(f"{label:10} {mode:8} {n:>7} rec  {statistics.median(r):>10,.0f} rows/s "
              f"({min(r):,.0f}–{max(r):,.0f})  rows/tx {n * args.runs / max(txs, 1):6.1f}  "
              f"wait p50 {pct(all_waits, 0.5) * 1e3:6.2f} ms  p99 "
              f"{pct(all_waits, 0.99) * 1e3:7.2f} ms", flush=True)
    ratio = statistics.median(rates["group"]) / statistics.median(rates["per-row"])
    print(f"{label:10} ratio group/per-row: {ratio:.1f}x", flush=True)
    engine.dispose()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--records", type=int, default=30000, help="per group-commit run")
    p.add_argument("--per-row-records", type=int, default=5000, help="per per-row run")
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--body", type=int, default=1024, help="body bytes per record")
    args = p.parse_args()
    print(machine())
    print(f"{args.runs} runs, {args.concurrency} concurrent appenders, {args.body} B bodies")
    with sqlite_db() as url:
        bench("sqlite", url, args)
    pg = os.environ.get("SILD_PG_URL")
    if pg:
        with pg_db(pg) as url:
            bench("postgresql", url, args)
    else:
        print("postgresql skipped: set SILD_PG_URL=postgresql://postgres@127.0.0.1:5432/test")


if __name__ == "__main__":
    main()
