"""Fairness under flood (issue 12): a second client's latency while a first client floods
the consumer gateway, against its own unloaded latency in the same run, on SQLite and
PostgreSQL.

    python bench/bench_fairness.py [--db sqlite,postgres] [--runs 3] [--duration 10]
                                   [--flood-connections 1024] [--rate 100]

Every component runs in its own process, as in a deployment, on this machine: registry,
sample IS, provider and consumer gateways (``sild gateway serve``), wrk for the flood,
and this script's own open-loop client for the second client. Per database:

1. capacity: wrk, 32 connections, as a third client without a rate limit — the
   exchange's req/s on this machine, to express the flood as a multiple of it;
2. per run, (a) unloaded: the second client sends ``--rate`` requests/s (open loop,
   latency counted from each request's scheduled time, so a stall is not hidden) for
   ``--duration`` s; (b) the same while the first client floods with wrk from
   ``--flood-connections`` connections (closed loop: as fast as answers come), once
   kept alive and once with a new connection per request (``Connection: close``),
   which no per-connection hold slows down.

The consumer gateway's ``[admission]`` (docs/operations.md): every client 4 in flight
and 30 requests/s (burst 10; under a tenth of this machine's capacity, as an operator
would size it: a client's share, not the whole gateway); overrides: the second client
16 in flight and 400 requests/s, the capacity probe 64 in flight and no rate limit.
Reports the
second client's p50/p99 unloaded and under flood, the ratio of the p99s (target ≤ 2),
the flood's answered requests/s (200 + 429) as a multiple of capacity, and errors.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_exchange import PY, SILD, cpu_seconds, pg_factory, rss_mb, wait_http

from sild.core.access import parse_subject
from sild.core.identifiers import MemberId
from sild.embedded import free_port
from sild.gateway.admission import AdmissionSettings, Quota
from sild.gateway.config import GatewaySettings
from sild.gateway.stores import GatewayStores
from sild.localnet import GatewaySpec, LocalNet

PROVIDER = GatewaySpec(MemberId("DEMO", "GOV", "70000001"), "Provider", "gw1", ("rr",))
CONSUMER = GatewaySpec(MemberId("DEMO", "COM", "10000001"), "Consumer", "gw2",
                       ("flood", "calm", "probe"))
HELLO = PROVIDER.member.subsystem("rr").service("hello")
FLOOD = CONSUMER.member.subsystem("flood")
CALM = CONSUMER.member.subsystem("calm")
PROBE = CONSUMER.member.subsystem("probe")
# kept-alive: wrk's connections stay open (each refusal holds its connection, backing
# off); new-connection: "Connection: close", a new connection per request (no hold).
MODES = ("kept-alive", "new-connection")
ADMISSION = AdmissionSettings(
    client=Quota(concurrency=4, rate=30, burst=10),
    clients={str(CALM): Quota(concurrency=16, rate=400, burst=400),
             str(PROBE): Quota(concurrency=64)})


# New connections per phase whose time to a first answer is measured.
NEW_CONNECTIONS = 10


def wrk(url: str, seconds: float, connections: int, *headers: str) -> dict[str, float]:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:.0f}s", url]
    for h in headers:
        cmd[1:1] = ["-H", h]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.monotonic() - started
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    total = re.search(r"(\d+) requests in", out)
    sock = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "non2xx": int(bad.group(1)) if bad else 0,
            "requests": int(total.group(1)) if total else 0,
            "socket_errors": sock.group(1) if sock else "",  # type: ignore[dict-item]
            # cores the load generator itself used (it shares this machine's 2 cores)
            "wrk_cores": (after.ru_utime + after.ru_stime - before.ru_utime
                          - before.ru_stime) / wall}


async def _one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
               request: bytes) -> int:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


async def open_loop(host: str, port: int, path: str, client: str, rate: float,
                    seconds: float, connections: int = 16) -> dict[str, object]:
    """``rate`` requests/s for ``seconds``; latency from each request's scheduled time."""
    request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nX-Road-Client: {client}\r\n"
               "\r\n").encode()
    idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(connections):
        # A kept-alive client's pool: each connection is accepted by the gateway and has
        # answered once before the clock starts (what a new connection costs under a
        # flood is measured apart, by first_answers).
        conn = await asyncio.open_connection(host, port)
        await _one(*conn, request)
        idle.put_nowait(conn)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    loop = asyncio.get_running_loop()

    async def send(scheduled: float) -> None:
        conn = await idle.get()
        try:
            status = await _one(*conn, request)
        except (OSError, asyncio.IncompleteReadError):
            status = 0
            conn = await asyncio.open_connection(host, port)
        latencies.append(loop.time() - scheduled)
        statuses[status] = statuses.get(status, 0) + 1
        idle.put_nowait(conn)

    start = loop.time()
    n = int(rate * seconds)
    tasks = []
    for i in range(n):
        at = start + i / rate
        delay = at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(at)))
    await asyncio.gather(*tasks)
    while not idle.empty():
        _, w = idle.get_nowait()
        w.close()
    latencies.sort()
    ms = [x * 1000 for x in latencies]
    return {"p50": ms[len(ms) // 2], "p99": ms[min(len(ms) - 1, int(len(ms) * 0.99))],
            "max": ms[-1], "n": len(ms), "statuses": statuses}


async def first_answers(host: str, port: int, path: str, client: str, count: int,
                        gap: float) -> list[float]:
    """ms from connect to the first answer, for ``count`` new connections ``gap`` s apart
    (a client that opens a connection while a flood is on)."""
    request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nX-Road-Client: {client}\r\n"
               "Connection: close\r\n\r\n").encode()
    loop = asyncio.get_running_loop()
    out = []
    for _ in range(count):
        start = loop.time()
        reader, writer = await asyncio.open_connection(host, port)
        await _one(reader, writer, request)
        out.append((loop.time() - start) * 1000)
        writer.close()
        await asyncio.sleep(gap)
    return sorted(out)


async def measure(host: str, port: int, path: str, args: argparse.Namespace
                  ) -> tuple[dict[str, object], list[float]]:
    """The second client's open loop and, beside it, new connections' first answers."""
    calm, fresh = await asyncio.gather(
        open_loop(host, port, path, str(CALM), args.rate, args.duration),
        first_answers(host, port, path, str(CALM), NEW_CONNECTIONS,
                      args.duration / NEW_CONNECTIONS))
    return calm, fresh


def run_db(db: str, args: argparse.Namespace) -> dict[str, object]:
    root = Path(tempfile.mkdtemp(prefix="sild-fair-"))
    made: list[str] = []
    factory = pg_factory(args.pg_url, made) if db == "postgres" else None
    procs: list[subprocess.Popen[bytes]] = []
    result: dict[str, object] = {"db": db}
    try:
        net = LocalNet.create(root / "net", [PROVIDER, CONSUMER],
                              database_url=factory)  # type: ignore[arg-type]
        is_port = free_port()
        is_url = f"http://127.0.0.1:{is_port}"
        stores = GatewayStores(net.gateway_settings[PROVIDER.server])
        stores.serverconf.add_service(HELLO.subsystem, "hello", is_url + "/hello", timeout=30)
        for client in (FLOOD, CALM, PROBE):
            stores.serverconf.grant(HELLO, parse_subject(str(client)))
        stores.engine.dispose()
        consumer = net.gateway_settings[CONSUMER.server]
        admission = ADMISSION if args.accept_rate is None else dataclasses.replace(
            ADMISSION, accept_rate=args.accept_rate, accept_burst=args.accept_rate)
        dataclasses.replace(consumer, admission=admission).write()
        assert GatewaySettings.load(consumer.root).admission == admission
        log = (root / "procs.log").open("wb")

        def spawn(*cmd: str) -> subprocess.Popen[bytes]:
            p = subprocess.Popen(list(cmd), stdout=log, stderr=subprocess.STDOUT)
            procs.append(p)
            return p

        spawn(PY, "-m", "sild.sample_is", str(is_port))
        spawn(*SILD, "registry", "serve", "--dir", str(net.instance.root))
        wait_http(is_url + "/hello")
        wait_http(f"http://{net.instance.registry_listen}/healthz")
        gws = [spawn(*SILD, "gateway", "serve", "--dir", str(s.root))
               for s in net.gateway_settings.values()]
        for s in net.gateway_settings.values():
            wait_http(f"http://{s.admin_listen}/health")
        host, port = consumer.is_listen.rsplit(":", 1)
        path = f"/r1/{HELLO.path()}"
        url = f"http://{consumer.is_listen}{path}"
        first = asyncio.run(open_loop(host, int(port), path, str(CALM), 5, 1, 1))
        if first["statuses"] != {200: 5}:
            log.flush()
            sys.exit(f"the exchange does not work: {first}\n"
                     f"{(root / 'procs.log').read_text()[-3000:]}")
        cap = wrk(url, args.duration, 32, f"X-Road-Client: {PROBE}")
        result["capacity_rps"] = cap["rps"]
        print(f"[{db}] capacity (a client without rate limit, wrk -c32, {args.duration} s): "
              f"{cap['rps']:,.0f} req/s, non-2xx {cap['non2xx']}", flush=True)
        runs = []
        for i in range(args.runs * len(MODES)):
            mode = MODES[i % len(MODES)]
            time.sleep(2)  # let the capacity run's or the last flood's tail drain
            calm, calm_fresh = asyncio.run(measure(host, int(port), path, args))
            flood_out: list[dict[str, float]] = []

            def flood(out: list[dict[str, float]], seconds: float, mode: str) -> None:
                extra = ("Connection: close",) if mode == "new-connection" else ()
                out.append(wrk(url, seconds, args.flood_connections,
                               f"X-Road-Client: {FLOOD}", *extra))

            t = threading.Thread(target=flood, args=(flood_out, args.duration + 4, mode))
            t.start()
            time.sleep(2)  # the flood is in full swing
            rss = [rss_mb(p.pid) for p in gws]
            cpu0 = [cpu_seconds(p.pid) for p in gws]
            spies = []
            if args.profile and i < len(MODES):  # py-spy: the gateways under each flood
                for gw, name in zip(gws, ("provider", "consumer"), strict=True):
                    spies.append(subprocess.Popen(
                        ["py-spy", "record", "-p", str(gw.pid), "-d", str(int(args.duration)),
                         "-f", "raw", "-o", f"{args.profile}-{db}-{mode}-{name}.txt",
                         "-r", "200"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            loaded, loaded_fresh = asyncio.run(measure(host, int(port), path, args))
            gw_cores = [(cpu_seconds(p.pid) - c) / args.duration
                        for p, c in zip(gws, cpu0, strict=True)]
            rss = [max(a, rss_mb(p.pid)) for a, p in zip(rss, gws, strict=True)]
            t.join()
            for spy in spies:
                spy.wait(30)
            f = flood_out[0]
            ratio = float(loaded["p99"]) / float(calm["p99"])  # type: ignore[arg-type]
            print(f"[{db}] run {i // len(MODES) + 1}, flood {mode}: second client "
                  f"unloaded p50 {calm['p50']:.1f} ms "
                  f"p99 {calm['p99']:.1f} ms {calm['statuses']}; under flood p50 "
                  f"{loaded['p50']:.1f} ms p99 {loaded['p99']:.1f} ms {loaded['statuses']}; "
                  f"p99 ratio {ratio:.2f}; a new connection's first answer median "
                  f"{statistics.median(calm_fresh):.0f} ms unloaded, "
                  f"{statistics.median(loaded_fresh):.0f} ms (max {max(loaded_fresh):.0f}) "
                  f"under flood; flood {f['rps']:,.0f} answers/s "
                  f"({f['rps'] / cap['rps']:.1f}× capacity), 429s {f['non2xx']:,} of "
                  f"{f['requests']:,} {f['socket_errors']}; cores: wrk {f['wrk_cores']:.2f}, "
                  f"provider {gw_cores[0]:.2f}, consumer {gw_cores[1]:.2f}; load average "
                  f"{os.getloadavg()[0]:.1f}; gateway RSS "
                  f"{', '.join(f'{m:.0f}' for m in rss)} MB", flush=True)
            runs.append({"mode": mode, "unloaded": calm, "flood": loaded, "ratio": ratio,
                         "first_answer_ms": {"unloaded": calm_fresh, "flood": loaded_fresh},
                         "wrk": f, "gateway_cores": gw_cores, "load": os.getloadavg()[0]})
        result["runs"] = runs
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        if factory is not None:
            with factory.admin.connect() as conn:  # type: ignore[attr-defined]
                for name in made:
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        shutil.rmtree(root, ignore_errors=True)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", default="sqlite,postgres")
    ap.add_argument("--pg-url", default=os.environ.get(
        "SILD_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--rate", type=float, default=100)
    ap.add_argument("--flood-connections", type=int, default=1024)
    ap.add_argument("--accept-rate", type=float, default=None,
                    help="the consumer's [admission] accept_rate (and burst); default: "
                         "the gateway's default; 0 = no limit")
    ap.add_argument("--profile", default="",
                    help="path prefix: py-spy raw stacks of both gateways in the first flood")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    results = [run_db(db, args) for db in args.db.split(",")]
    print()
    for r, mode in ((r, m) for r in results for m in MODES):
        runs = [x for x in r["runs"] if x["mode"] == mode]  # type: ignore[attr-defined]
        un = [x["unloaded"]["p99"] for x in runs]
        fl = [x["flood"]["p99"] for x in runs]
        ratios = [x["ratio"] for x in runs]
        mult = [x["wrk"]["rps"] / r["capacity_rps"] for x in runs]
        fresh = [statistics.median(x["first_answer_ms"]["flood"]) for x in runs]
        print(f"{r['db']}, flood {mode}: capacity {r['capacity_rps']:,.0f} req/s; "
              "second client p99 "
              f"unloaded median {statistics.median(un):.1f} ms ({min(un):.1f}–{max(un):.1f}), "
              f"under flood median {statistics.median(fl):.1f} ms ({min(fl):.1f}–"
              f"{max(fl):.1f}); ratio median {statistics.median(ratios):.2f} "
              f"({min(ratios):.2f}–{max(ratios):.2f}), target ≤ 2; flood "
              f"{statistics.median(mult):.1f}× capacity; a new connection's first answer "
              f"under flood median {statistics.median(fresh):.0f} ms")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
