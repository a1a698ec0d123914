"""Consent decision latency (docs/spec/consent.md §4): in process, over HTTP, from the cache.

    python bench/bench_consent_decision.py [--db URL] [--persons 2000] [--calls 2000]

Set-up: ``--persons`` generated persons; every second one has health locked (every
fourth for everyone but one consumer), and every fourth locked one gave the asking
consumer an ACTIVE consent. Measured, each over ``--calls`` questions about random
persons (health + population, one consumer, one purpose):

* ``service.decide`` in process (the store's work: lock lookup, consent lookup, use
  count update);
* ``ConsentClient.decide`` with no cache over one keep-alive HTTP connection to a real
  uvicorn server on loopback, and the baseline ``GET /healthz`` over the same session
  in the same run (HTTP and event-loop overhead alone);
* ``ConsentClient.decide`` answered from its cache.

Prints p50, p99 and max in milliseconds (µs for the cache).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from sild.clock import utc_now
from sild.consent.app import create_consent_app
from sild.consent.client import ConsentClient
from sild.consent.service import ConsentService
from sild.core.personal_code import generate
from sild.store import make_engine, migrate
from sild.testing.consent import DOCTOR, POLICE, signing_key
from sild.testing.servers import serve_asgi

CATS = ("health", "population")


def stats(samples: list[float], scale: float, unit: str) -> str:
    s = sorted(x * scale for x in samples)
    p99 = s[min(len(s) - 1, int(len(s) * 0.99))]
    return (f"p50 {statistics.median(s):8.3f} {unit}  p99 {p99:8.3f} {unit}  "
            f"max {s[-1]:8.3f} {unit}  (n={len(s)})")


async def timed(calls: int, fn: Callable[[int], Awaitable[object]]) -> list[float]:
    out = []
    for i in range(calls):
        t = time.perf_counter()
        await fn(i)
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", help="an EMPTY database URL (default: a temporary SQLite file)")
    ap.add_argument("--persons", type=int, default=2000)
    ap.add_argument("--calls", type=int, default=2000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    engine = make_engine(args.db or f"sqlite:///{tmp}/consent.db")
    migrate(engine, "consent")
    service = ConsentService(engine, key=signing_key(), max_age=30)
    rng = random.Random(8)
    persons = [f"EE{generate('EE', rng).code}" for _ in range(args.persons)]
    t0 = time.perf_counter()
    for i, p in enumerate(persons):
        if i % 2:
            continue
        service.lock(p, "health", exceptions=[POLICE] if i % 4 == 0 else [], actor="bench")
        if i % 8 == 0:
            service.grant(subject=p, consumer=DOCTOR, purpose={"code": "treatment"},
                          categories=["health"], expiry=utc_now() + timedelta(days=30),
                          actor="bench")
    print(f"set-up: {args.persons} persons, {args.persons // 2} locks, "
          f"{args.persons // 8} consents in {time.perf_counter() - t0:.1f} s "
          f"({'PostgreSQL' if args.db and 'postgres' in args.db else 'SQLite'})")
    pick = [rng.choice(persons) for _ in range(args.calls)]

    in_process = []
    for p in pick:
        t = time.perf_counter()
        service.decide(subject=p, categories=CATS, client=DOCTOR, purpose="treatment")
        in_process.append(time.perf_counter() - t)

    async def over_http(url: str) -> tuple[list[float], list[float], list[float]]:
        direct = ConsentClient(url, cache_ttl=0, timeout=10)
        cached = ConsentClient(url, cache_ttl=3600, timeout=10)
        try:
            for p in pick[:50]:  # warm up both connections
                await direct.decide(p, CATS, DOCTOR, "treatment")
            session = direct._http()  # the same keep-alive session: the baseline's path

            async def health(_: int) -> None:
                async with session.get(f"{url}/healthz") as r:
                    await r.read()

            base = await timed(args.calls, health)
            http = await timed(args.calls, lambda i: direct.decide(pick[i], CATS, DOCTOR,
                                                                   "treatment"))
            await cached.decide(pick[0], CATS, DOCTOR, "treatment")
            hits = await timed(args.calls, lambda _: cached.decide(pick[0], CATS, DOCTOR,
                                                                   "treatment"))
            return base, http, hits
        finally:
            await direct.close()
            await cached.close()

    with serve_asgi(create_consent_app(service, admin_token="b" * 20)) as url:
        base, http, hits = asyncio.run(over_http(url))
    print(f"service.decide, in process       {stats(in_process, 1e3, 'ms')}")
    print(f"GET /healthz (baseline)          {stats(base, 1e3, 'ms')}")
    print(f"ConsentClient.decide, no cache   {stats(http, 1e3, 'ms')}")
    print(f"ConsentClient.decide, cache hit  {stats(hits, 1e6, 'µs')}")
    engine.dispose()


if __name__ == "__main__":
    main()
