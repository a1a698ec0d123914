"""The demo country (issue #10): ``sild demo`` start-up time, and population-register
lookups per second through the exchange.

Run:  .venv/bin/python bench/bench_demo_country.py                 (~5 min on 2 cores)
      .venv/bin/python bench/bench_demo_country.py --runs 5 --seconds 10

Start-up: ``sild demo --free-ports --size large`` (10,000 persons, the default) as a
fresh process, timed from exec until it prints "Press Ctrl-C to stop." (everything
answers), then stopped with SIGINT. Baseline in the same run, interleaved:
``--size small`` (100 persons), so the difference is what the 10,000 persons cost.
Reported: wall-clock median and min–max, and the median CPU time of the demo process
and its children (user + sys), which other jobs' load inflates much less.

Lookups: one ``--size large`` demo running; C clients (keep-alive, aiohttp) ask
``GET /persons/{code}`` for random persons for S seconds, (a) through the exchange —
the bank's gateway → the Population Register's gateway (mTLS, signatures, message log,
consent check, usage record) → the register — and (b) the register directly (baseline,
the same app and database). Interleaved, several runs; the demo's own background
traffic (a few requests a second) runs throughout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import aiohttp

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from bench_merkle import machine

from sild.demo_country import COUNTRY_FILE, DemoCountry

SILD = str(Path(sys.executable).parent / "sild")


def _start(root: Path, size: str) -> tuple[subprocess.Popen[str], float]:
    t0 = time.perf_counter()
    proc = subprocess.Popen([SILD, "demo", "--free-ports", "--size", size, "--dir", str(root)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() == "Press Ctrl-C to stop.":
            return proc, time.perf_counter() - t0
    raise RuntimeError(f"sild demo --size {size} stopped before it was up")


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)


def startup(runs: int, tmp: Path) -> dict[str, tuple[list[float], list[float]]]:
    out: dict[str, tuple[list[float], list[float]]] = {"large": ([], []), "small": ([], [])}
    for i in range(runs):
        for size in ("large", "small"):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            proc, wall = _start(tmp / f"{size}{i}", size)
            _stop(proc)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            out[size][0].append(wall)
            out[size][1].append(cpu)  # includes the shutdown, a small part
            print(f"  start-up {size}: {wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)
    return out


async def _hammer(urls: list[str], headers: list[dict[str, str]], seconds: float,
                  clients: int) -> tuple[float, dict[str, int]]:
    """Successful answers per second, and the failures by X-Road error code."""
    done = 0
    failed: dict[str, int] = {}
    end = time.perf_counter() + seconds

    async def client(session: aiohttp.ClientSession, seed: int) -> None:
        nonlocal done
        rng = random.Random(seed)
        while time.perf_counter() < end:
            i = rng.randrange(len(urls))
            async with session.get(urls[i], headers=headers[i]) as r:
                await r.read()
                if r.status != 200:
                    code = r.headers.get("X-Road-Error", str(r.status))
                    failed[code] = failed.get(code, 0) + 1
                    continue
            done += 1

    t0 = time.perf_counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as s:
        await asyncio.gather(*(client(s, n) for n in range(clients)))
    return done / (time.perf_counter() - t0), failed


def lookups(runs: int, seconds: float, clients: int, tmp: Path
            ) -> dict[str, list[float]]:
    proc, _ = _start(tmp / "lookups", "large")
    try:
        c = DemoCountry.from_json((tmp / "lookups" / COUNTRY_FILE).read_text())
        pool = json.loads((tmp / "lookups" / "persons.json").read_text())["pool"]
        bank = c.subsystems["bank"]
        via = [f"{c.is_url_for('bank')}/r1/{c.services['population']}/persons/{p}"
               for p in pool]
        via_h = [{"X-Road-Client": bank, "Sild-Data-Subject": p, "X-Road-UserId": p,
                  "Sild-Purpose": "Customer due diligence (AML)"} for p in pool]
        direct_base = _register_url(c)
        direct = [f"{direct_base}/population/persons/{p}" for p in pool]
        out: dict[str, list[float]] = {"exchange": [], "direct": []}
        for _ in range(runs):
            for name, urls, hs in (("exchange", via, via_h),
                                   ("direct", direct, [{}] * len(direct))):
                rate, failed = asyncio.run(_hammer(urls, hs, seconds, clients))
                out[name].append(rate)
                print(f"  lookups {name}: {rate:,.0f}/s, failed {failed or 0}", flush=True)
        return out
    finally:
        _stop(proc)


def _register_url(c: DemoCountry) -> str:
    """The registers' own URL, read from the Population Register gateway's services."""
    import sqlalchemy as sa

    from sild.gateway.config import GatewaySettings
    from sild.store import make_engine
    from sild.store.serverconf_tables import sc_services

    settings = GatewaySettings.load(c.root / "gateways" / "gw1")
    engine = make_engine(settings.database_url)
    with engine.connect() as conn:
        url = conn.execute(sa.select(sc_services.c.url).where(
            sc_services.c.service_code == "population")).scalar_one()
    engine.dispose()
    return str(url).removesuffix("/population")


def _row(name: str, xs: list[float], unit: str, fmt: str = "{:,.1f}") -> str:
    return (f"| {name} | **{fmt.format(statistics.median(xs))} {unit}** | "
            f"{fmt.format(min(xs))}–{fmt.format(max(xs))} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--only", choices=("startup", "lookups"))
    args = ap.parse_args()
    print(machine())
    print(f"load average before: {os.getloadavg()}")
    with TemporaryDirectory() as d:
        tmp = Path(d)
        s = startup(args.runs, tmp) if args.only != "lookups" else None
        n = lookups(args.runs, args.seconds, args.clients, tmp) \
            if args.only != "startup" else None
    print(f"load average after: {os.getloadavg()}")
    print(f"\n| measurement ({args.runs} runs) | median | min–max |\n|---|---:|---:|")
    if s is not None:
        print(_row("`sild demo` up, 10,000 persons, wall", s["large"][0], "s"))
        print(_row("`sild demo` up, 10,000 persons, CPU (demo + children)", s["large"][1],
                   "s"))
        print(_row("baseline: `--size small` (100 persons), wall", s["small"][0], "s"))
        print(_row("baseline: `--size small`, CPU", s["small"][1], "s"))
    if n is not None:
        print(_row(f"population lookups through the exchange, {args.clients} clients",
                   n["exchange"], "/s", "{:,.0f}"))
        print(_row("baseline: the register directly", n["direct"], "/s", "{:,.0f}"))


if __name__ == "__main__":
    main()
