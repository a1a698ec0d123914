"""The portal's "who used my data" page for a person with 1,000 usages across 6 registers.

    python bench/bench_portal_timeline.py [--db sqlite|postgres] [--usages 1000]
                                          [--registers 6] [--requests 200]

Issue #10's figure: p99 server time of the timeline page. A real local network (registry,
ledger, the registers' provider gateway with a real tracker behind each register's
findUsage service, the portal's gateway) holds the person's ``--usages`` usage records
spread over ``--registers`` registers (written through the gateway's message log, 5 %
sealed, four receivers, five purposes) and 2,000 records of 200 other people; the
script waits until every head is anchored in the ledger. Then the portal's usage page
(``sild.portal.usage`` behind the test portal host, uvicorn on loopback) is asked
``GET /usage`` ``--requests`` times over one keep-alive connection after 10 warm-up
requests: six findUsage and six anchored usageProof calls through the gateways,
concurrently, verification, merge and rendering of page 1.

Measured in the same run, alternating request by request:

* **baseline**: the raw findUsage calls alone: the six ``findUsage`` requests through
  the portal's gateway, concurrently, with the same aiohttp client (what any timeline
  must fetch);
* **page, verdicts cached**: the page as a person reloads it (the proof verdicts are
  cached by proof hash, portal-usage.md §3.1);
* **page, cold**: the page with the verdict cache off (every proof verified again:
  the first view of a session).

Reports p50, p99 and min–max per series.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import os
import random
import re
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from sild.core.access import parse_subject
from sild.core.note import Ed25519Verifier, parse_verifier_key
from sild.core.usage import parse_subject as usage_subject
from sild.core.verification import TrustPolicy
from sild.gateway.messagelog.log import MessageLog
from sild.gateway.messagelog.usage import UsageRecord
from sild.localnet import GatewaySpec, LocalNet
from sild.portal.usage import HttpUsageSource, TrackerRef
from sild.portal.usage_proofs import ProofChecker
from sild.portal.usage_source import user_code
from sild.store import make_engine
from sild.testing.exchange import CONSUMER, PROVIDER
from sild.testing.netthread import NetThread
from sild.testing.portal_usage import Person, usage_test_app
from sild.testing.servers import serve_asgi
from sild.tracker.anchor_proof import anchored_head
from sild.tracker.app import create_tracker_app, openapi_text
from sild.tracker.store import UsageStore

PERSON = "EE60001017869"
NAMES = ("population", "health", "business", "vehicles", "land", "tax")
PORTAL = CONSUMER.member.subsystem("other")
RECEIVERS = [("EE/COM/10000001/his", "Clinic"), ("EE/GOV/70008747/polis", "Police"),
             ("EE/GOV/70000349/tor", "Tax Board"), ("EE/COM/10000002/bank", "Bank")]
PURPOSES = ["Treatment", "Address check", "Tax return", "Loan application", "Traffic check"]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def others(n: int, rng: random.Random) -> list[str]:
    out: list[str] = []
    while len(out) < n:  # valid Estonian codes: born 1950–1999, check digit computed
        code = f"{rng.choice('3456')}{rng.randrange(50, 100):02d}0101{rng.randrange(1000):03d}"
        for candidate in (code + str(d) for d in range(10)):
            try:
                out.append(usage_subject("EE" + candidate))
                break
            except Exception:  # noqa: S112  (not this check digit)
                continue
    return out


def write(url: str, registers: list[str], usages: int, rng: random.Random) -> None:
    people = others(200, rng)
    start = datetime.now(UTC) - timedelta(days=300)
    step = timedelta(days=300) / (usages + 2000)

    async def go() -> None:
        engine = make_engine(url)
        mlog = MessageLog(engine)
        await mlog.start()
        every = (usages + 2000) // usages
        mine = 0
        for i in range(usages + 2000):
            if i % every == 0 and mine < usages:
                subject, register = PERSON, registers[mine % len(registers)]
                mine += 1
            else:
                subject, register = rng.choice(people), rng.choice(registers)
            receiver, name = RECEIVERS[i % len(RECEIVERS)]
            await mlog.append(UsageRecord(
                register=register, subject=subject, logged_at=start + step * i,
                action=PURPOSES[i % len(PURPOSES)], receiver=receiver, receiver_name=name,
                service=f"{register}/data", message_id=f"m{i}", request_id=f"r{i}",
                categories=("population",),
                flags=("sealed",) if rng.random() < 0.05 else ()))
        await mlog.close()
        engine.dispose()
    asyncio.run(go())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--pg-url", default=os.environ.get(
        "SILD_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    ap.add_argument("--usages", type=int, default=1000)
    ap.add_argument("--registers", type=int, default=6, choices=range(1, 7))
    ap.add_argument("--requests", type=int, default=200)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="sild-bench-timeline-"))
    names = list(NAMES[:args.registers])
    spec = GatewaySpec(PROVIDER.member, PROVIDER.name, PROVIDER.server_code, tuple(names))
    admin = None
    made: list[str] = []

    def database(label: str) -> str:
        if args.db == "sqlite":
            return f"sqlite:///{root}/{label}.db"
        name = f"sild_bench_tl_{secrets.token_hex(4)}"
        with admin.connect() as c:  # type: ignore[union-attr]
            c.execute(sa.text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return args.pg_url.rsplit("/", 1)[0] + "/" + name

    if args.db == "postgres":
        admin = sa.create_engine(args.pg_url.replace("postgresql://", "postgresql+psycopg://"),
                                 isolation_level="AUTOCOMMIT")
    try:
        net = LocalNet.create(root / "net", [spec, CONSUMER], instance_id="EE",
                              database_url=database, ledger=True)
        url = net.gateway_settings[spec.server].database_url
        engine = make_engine(url)
        store = UsageStore(engine)
        key = parse_verifier_key((net.root / "ledger" / "ledger.vkey").read_text().strip())
        assert isinstance(key, Ed25519Verifier)
        policy = TrustPolicy(log_keys=(key,))
        refs = [TrackerRef(n, str(spec.member.subsystem(n).service("findUsage")))
                for n in names]
        with NetThread(net), serve_asgi(create_tracker_app(store, retention_days=365)) as trk:
            sc = net.stores[spec.server].serverconf
            for n in names:
                sub = spec.member.subsystem(n)
                sc.add_service(sub, "findUsage", trk, timeout=10,
                               openapi=openapi_text().encode())
                sc.grant(sub.service("findUsage"), parse_subject(str(PORTAL)))
            t0 = time.monotonic()
            write(url, [str(spec.member.subsystem(n)) for n in names], args.usages,
                  random.Random(10))
            print(f"wrote {args.usages + 2000:,} usage records in {time.monotonic() - t0:.0f} s",
                  flush=True)
            heads = {r: store.head(str(spec.member.subsystem(r)), PERSON)[0] for r in names}
            assert sum(heads.values()) == args.usages, heads
            for n in names:  # every head anchored: the badges can say "Verified"
                while (got := anchored_head(engine, str(spec.member.subsystem(n)), PERSON)
                       ) is None or got.seq != heads[n]:
                    if time.monotonic() - t0 > 300:
                        raise SystemExit(f"{n}: head not anchored in 300 s")
                    time.sleep(0.2)
            print(f"wrote and anchored {args.usages + 2000:,} usage records in "
                  f"{time.monotonic() - t0:.0f} s", flush=True)
            gateway = net.is_url_of(CONSUMER.server)
            warm = HttpUsageSource(gateway, str(PORTAL), refs, policy=policy)
            cold = HttpUsageSource(gateway, str(PORTAL), refs, policy=policy)
            person = Person(PERSON[2:], "38001085718")
            apps = {"warm": usage_test_app(warm, person, on_close=warm.aclose),
                    # the same routes with a verdict cache that keeps nothing
                    "cold": usage_test_app(cold, person, on_close=cold.aclose,
                                           checker=ProofChecker(policy, size=0))}
            series: dict[str, list[float]] = {"baseline": [], "warm": [], "cold": []}
            sizes: dict[str, int] = {}
            with serve_asgi(apps["warm"], lifespan="on") as warm_url, \
                    serve_asgi(apps["cold"], lifespan="on") as cold_url:
                raw = _Baseline(gateway, refs)
                conns = {k: http.client.HTTPConnection(*u.removeprefix("http://").split(":"),
                                                       timeout=60)
                         for k, u in (("warm", warm_url), ("cold", cold_url))}
                for i in range(args.requests + 10):
                    for kind in ("baseline", "warm", "cold"):
                        t = time.perf_counter()
                        if kind == "baseline":
                            sizes[kind] = raw.run()
                        else:
                            conns[kind].request("GET", "/usage")
                            resp = conns[kind].getresponse()
                            body = resp.read()
                            assert resp.status == 200, body[:300]
                            assert body.count(b"Verified: complete") == len(names), \
                                re.findall(rb'data-register="(\w+)".*?class="badge [^"]*"[^>]*>'
                                           rb'([^<]*)<.*?(?:usage-why">([^<]*))?', body, re.S)
                            sizes[kind] = len(body)
                        if i >= 10:
                            series[kind].append((time.perf_counter() - t) * 1000)
                raw.close()
        engine.dispose()
    finally:
        if admin is not None:
            with admin.connect() as c:
                for name in made:
                    c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
        shutil.rmtree(root, ignore_errors=True)
    print(f"portal timeline ({args.db}, {args.usages} usages across {len(names)} registers, "
          f"{args.requests} requests each, page {sizes['warm']:,} bytes):")
    for kind, label in (("baseline", "findUsage × 6 alone (baseline)"),
                        ("warm", "page, verdicts cached"), ("cold", "page, cold (verify)")):
        v = series[kind]
        print(f"  {label:32s} p50 {statistics.median(v):7.1f} ms  p99 {pct(v, 99):7.1f} ms  "
              f"(min {min(v):.1f}, max {max(v):.1f})")
    return 0


class _Baseline:
    """The six findUsage calls alone, concurrently, through the portal's gateway, on an
    event loop of its own (as the portal's server has)."""

    def __init__(self, gateway: str, refs: list[TrackerRef]) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.source = HttpUsageSource(gateway, str(PORTAL), refs)
        self.user = user_code("38001085718")

    def run(self) -> int:
        async def go() -> int:
            async with self.source._open() as session:  # as the page: a session per page
                got = await asyncio.gather(*(self.source._find(session, label, PERSON,
                                                               self.user)
                                             for label in self.source.labels))
            return sum(total for total, _ in got)
        return asyncio.run_coroutine_threadsafe(go(), self.loop).result()

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.source.aclose(), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()


if __name__ == "__main__":
    sys.exit(main())
