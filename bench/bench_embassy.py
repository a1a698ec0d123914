"""Benchmark: data-embassy backup and restore of a gateway with 1 M message-log rows.

Run:  python bench/bench_embassy.py                                   (SQLite)
      SILD_PG_URL=postgresql://postgres@127.0.0.1:5432/test python bench/bench_embassy.py

A gateway folder whose database holds ``--rows`` message-log rows (default 1,000,000;
``--body`` bytes of body each, default 256) is snapshotted with
:func:`sild.embassy.backup` to a site folder on the same disk and restored with
:func:`sild.embassy.restore` into a fresh folder (and, for PostgreSQL, a fresh
database). Baselines in the same run, on the same data:

* SQLite: copy of the database file (``shutil.copyfile`` + fsync) — the least a backup
  must do, though not consistent while the gateway writes; restore baseline: the same
  copy back. Also the consistent image alone (``VACUUM INTO``), the first step of a
  backup, to show what the encryption and signing add.
* PostgreSQL: ``pg_dump -Fc -Z0`` of the database (the operator's own tool), restore
  baseline ``pg_restore`` into a fresh database.

Prints seconds, median and min–max over ``--runs``, and the snapshot size.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_messagelog import machine, pg_db  # sibling script

from sild.embassy import FolderSite, backup, generate, restore
from sild.embassy.databases import DatabaseSpec, image_sqlite
from sild.gateway.messagelog.log import MessageLog
from sild.store import make_engine, migrate
from sild.store.engine import normalise_url
from sild.store.messagelog_tables import message_log
from sild.testing.anchoring import gateway_folder
from sild.testing.messagelog import T0, make_record


def fill(url: str, rows: int, body: int) -> None:
    engine = make_engine(url)
    for c in ("messagelog", "serverconf", "anchoring"):
        migrate(engine, c)
    payload = os.urandom(body // 2).hex().encode()
    batch = 20_000
    keep = MessageLog(engine)._keep_body
    with engine.begin() as conn:
        for first in range(0, rows, batch):
            conn.execute(message_log.insert(), [
                make_record(i, at=T0 + timedelta(microseconds=i), body=payload)
                .to_row(keep_body=keep) for i in range(first, min(rows, first + batch))])
    if url.startswith("sqlite"):
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()


def timed(fn: Callable[..., object], *args: object, **kw: object) -> float:
    t = time.perf_counter()
    fn(*args, **kw)
    return time.perf_counter() - t


def copy_fsync(src: Path, dst: Path) -> None:
    shutil.copyfile(src, dst)
    with dst.open("rb+") as f:
        os.fsync(f.fileno())


def fmt(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} s | {min(values):.1f}–{max(values):.1f} s"


@contextmanager
def fresh_pg(base: str | None) -> Iterator[str | None]:
    if base is None:
        yield None
    else:
        with pg_db(base) as url:
            yield url


def bench(label: str, url: str, pg_base: str | None, args: argparse.Namespace,
          tmp: Path) -> None:
    t = time.perf_counter()
    fill(url, args.rows, args.body)
    print(f"# {label}: filled {args.rows:,} rows in {time.perf_counter() - t:.0f} s",
          flush=True)
    gw = tmp / "gw"
    gateway_folder(gw, url)
    key = generate("bench")
    results: dict[str, list[float]] = {k: [] for k in
                                       ("base_b", "image", "backup", "base_r", "restore")}
    size = 0
    for run in range(args.runs):
        site = FolderSite.open(tmp / f"site{run}", create=True)
        dump = tmp / f"baseline{run}"
        if pg_base is None:
            db = Path(url.removeprefix("sqlite:///"))
            results["base_b"].append(timed(copy_fsync, db, dump))
            spec = DatabaseSpec("gateway", url, ("messagelog",))
            image = tmp / f"image{run}.sqlite"
            results["image"].append(timed(image_sqlite, spec, image))
            image.unlink()
            back = tmp / f"back{run}.db"
            results["base_r"].append(timed(copy_fsync, dump, back))
            back.unlink()
        else:
            conn = normalise_url(url).replace("postgresql+psycopg://", "postgresql://")
            results["base_b"].append(timed(
                subprocess.run, ["pg_dump", "-Fc", "-Z0", "-f", str(dump), conn], check=True))
            with fresh_pg(pg_base) as target:
                assert target is not None
                tconn = normalise_url(target).replace("postgresql+psycopg://", "postgresql://")
                results["base_r"].append(timed(
                    subprocess.run, ["pg_restore", "--no-owner", "-d", tconn, str(dump)],
                    check=True))
        dump.unlink()
        t = time.perf_counter()
        res = backup(gw, site, key=key, at=datetime.now(UTC), work_dir=tmp)
        results["backup"].append(time.perf_counter() - t)
        size = res.manifest.size
        with ExitStack() as stack:
            target = stack.enter_context(fresh_pg(pg_base))
            dbs = {"gateway": target} if target else None
            to = tmp / f"restored{run}"
            results["restore"].append(timed(
                restore, site, res.manifest.id, trusted=[key.signer.verifier()],
                identities=[key.identity], target=to, databases=dbs))
            shutil.rmtree(to)
        shutil.rmtree(site.root)
        print(f"# run {run + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s"
                                               for k, v in results.items() if v), flush=True)
    base_b, base_r = ("file copy", "file copy back") if pg_base is None else (
        "pg_dump -Fc -Z0", "pg_restore")
    mb = size / 1e6
    print(f"| {label} | backup baseline: {base_b} | {fmt(results['base_b'])} | 1.00× | |")
    if results["image"]:
        print(f"| {label} | consistent image only (`VACUUM INTO`) | {fmt(results['image'])} | "
              f"{statistics.median(results['image']) / statistics.median(results['base_b']):.2f}×"
              " | |")
    print(f"| {label} | `sild embassy backup` | {fmt(results['backup'])} | "
          f"{statistics.median(results['backup']) / statistics.median(results['base_b']):.2f}×"
          f" | {mb:,.0f} MB |")
    print(f"| {label} | restore baseline: {base_r} | {fmt(results['base_r'])} | 1.00× | |")
    print(f"| {label} | `sild embassy restore` | {fmt(results['restore'])} | "
          f"{statistics.median(results['restore']) / statistics.median(results['base_r']):.2f}×"
          " | |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--body", type=int, default=256)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", choices=["sqlite", "postgres"])
    args = ap.parse_args()
    print(f"# {machine()}; {args.rows:,} rows, {args.body} B bodies, {args.runs} runs")
    print("| store | what | median | min–max | vs baseline | snapshot |")
    print("|---|---|---:|---:|---:|---:|")
    if args.only != "postgres":
        with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
            bench("SQLite", f"sqlite:///{tmp}/gateway.db", None, args, Path(tmp))
    pg = os.environ.get("SILD_PG_URL")
    if pg and args.only != "sqlite":
        if shutil.which("pg_dump") is None:
            print("| PostgreSQL | skipped: pg_dump not installed (the baseline) | | | | |")
            return
        with tempfile.TemporaryDirectory() as tmp, pg_db(pg) as url:
            bench("PostgreSQL", url, pg, args, Path(tmp))


if __name__ == "__main__":
    main()
