"""Benchmark: what one unstorable append costs the message log's writer, same run.

Run:  python bench/bench_messagelog_badrow.py                 (SQLite; a few seconds)
      SILD_PG_URL=postgresql://postgres@127.0.0.1:5432/test python bench/bench_messagelog_badrow.py

``--appends`` concurrent appends (default 500) land in ONE batch; one of them, in the
middle, holds a record the database refuses (a CHECK constraint). The batch's
transaction fails and is retried so that only that append fails (docs/operations.md
"Message log"). Two retry strategies, measured in the same run on an emptied table:

* halving  — ``MessageLog`` as shipped: the batch is retried in halves, down to single
             appends (a refused transaction costs no disk flush, a committed one does)
* per-append (baseline) — the same writer with one transaction per append after the
             batch failed

Also a batch without the bad append (the cost of the batch itself). Prints the time
until every append of the batch is answered, median and min–max over the runs, and the
number of commits.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))
from bench_messagelog import machine, pg_db, sqlite_db  # sibling script

from sild.gateway.messagelog.log import LogRecord, MessageLog
from sild.store import make_engine, migrate
from sild.testing.messagelog import make_record


class PerAppendRetry(MessageLog):
    """The baseline: after a refused batch, one transaction per append."""

    def _commit_batch(self, batch: Sequence[Any]) -> tuple[list[Exception | None], int]:
        errors: list[Exception | None] = [None] * len(batch)
        rows = [(i, *self._rows(item.records)) for i, item in enumerate(batch)]
        try:
            self._commit(rows)
            return errors, 1
        except Exception:  # noqa: S110  # retried below, append by append
            pass
        commits = 0
        for entry in rows:
            try:
                self._commit([entry])
                commits += 1
            except Exception as e:
                errors[entry[0]] = e
        return errors, commits


def batch(n: int, bad: bool) -> list[LogRecord]:
    recs = [make_record(i) for i in range(n)]
    if bad:
        object.__setattr__(recs[n // 2], "side", "both")  # violates ck_message_log_side
    return recs


async def one_run(engine: sa.Engine, cls: type[MessageLog], recs: list[LogRecord]
                  ) -> tuple[float, int, int]:
    """(seconds until all answered, failed appends, commits) on an emptied table."""
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM message_log"))
    mlog = cls(engine, max_batch=len(recs) + 1, max_delay=0.5)
    await mlog.start()
    t0 = time.perf_counter()
    out = await asyncio.gather(*(mlog.append(r) for r in recs), return_exceptions=True)
    elapsed = time.perf_counter() - t0
    commits = mlog.stats().commits
    await mlog.close()
    return elapsed, sum(r is not None for r in out), commits


def bench(label: str, url: str, args: argparse.Namespace) -> None:
    engine = make_engine(url)
    migrate(engine, "messagelog")
    cases: dict[str, tuple[type[MessageLog], bool]] = {
        "no bad append": (MessageLog, False),
        "halving": (MessageLog, True),
        "per-append": (PerAppendRetry, True),
    }
    for name, (cls, bad) in cases.items():
        times: list[float] = []
        for _ in range(args.runs):
            elapsed, failed, commits = asyncio.run(one_run(engine, cls,
                                                           batch(args.appends, bad)))
            assert failed == (1 if bad else 0), failed
            times.append(elapsed)
        print(f"{label:10} {name:14} {statistics.median(times) * 1e3:8.0f} ms "
              f"({min(times) * 1e3:.0f}–{max(times) * 1e3:.0f})  commits {commits}", flush=True)
    engine.dispose()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--appends", type=int, default=500)
    args = p.parse_args()
    print(machine())
    print(f"{args.runs} runs, {args.appends} appends in one batch, one of them refused")
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
