"""End-to-end exchange throughput: consumer IS → consumer gateway → provider gateway →
trivial provider IS, with full security (mutual TLS, signatures, durable message log),
against the same two hops as plain HTTP reverse proxies without security, in one run.

    python bench/bench_exchange.py [--db sqlite|postgres] [--runs 3] [--duration 10]
                                   [--connections 64] [--personal] [--protocol soap]

With ``--personal`` it also measures the same service declared as carrying personal
data (one ``Sild-Data-Subject``, a purpose: one usage record per request, written in
the message log's transaction; docs/spec/tracker.md §2), alternating runs of the two
on the same gateway processes; issue #8's target is ≥ 85 % of the plain service.

With ``--protocol soap`` it measures an X-Road 4.0 SOAP call (POST of a SOAP envelope to
the consumer gateway's IS port, docs/spec/soap.md) against a REST POST of the same body
to the same service, alternating runs on the same gateway processes; the provider IS is
bench/soap_is.py (a fixed SOAP answer) for both. Issue #11's target: SOAP ≥ 85 % of REST.

Needs wrk (Debian: apt-get install wrk). Every component runs in its own process, as
in a deployment, all on this machine: wrk (1 thread), registry, sample IS, two
gateways (or two plain proxies). Reports req/s and p99 per run, the median and
spread, the ratio to the baseline, and the gateways' resident memory.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import sqlalchemy as sa

from sild.core.access import parse_subject
from sild.core.identifiers import MemberId
from sild.embedded import free_port
from sild.gateway.serverconf.store import PersonalData
from sild.gateway.stores import GatewayStores
from sild.localnet import GatewaySpec, LocalNet

PROVIDER = GatewaySpec(MemberId("DEMO", "GOV", "70000001"), "Provider", "gw1", ("rr",))
CONSUMER = GatewaySpec(MemberId("DEMO", "COM", "10000001"), "Consumer", "gw2", ("his",))
HELLO = PROVIDER.member.subsystem("rr").service("hello")
HELLO_P = PROVIDER.member.subsystem("rr").service("hellop")  # the same, as personal data
CLIENT = CONSUMER.member.subsystem("his")
PY = sys.executable
SILD = [PY, "-m", "sild.cli"]


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                r.read()
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up") from None
            time.sleep(0.1)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (from /proc, clock ticks → seconds)."""
    user, system = cpu_split(pid)
    return user + system


def cpu_split(pid: int) -> tuple[float, float]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def wrk(url: str, seconds: int, connections: int, header: str | list[str] | None,
        script: str | None = None) -> tuple[float, float, int]:
    # The previous run's requests, their connections closed by wrk, still finish in the
    # gateway and hold their admission places until then (client_concurrency 64 at 64
    # connections: a few hundred ms of 429s and 1 s holds otherwise).
    time.sleep(1)
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script is not None:  # a POST body (wrk's Lua: wrk.method, wrk.body, wrk.headers)
        cmd[1:1] = ["-s", script]
    for h in [header] if isinstance(header, str) else header or []:
        cmd[1:1] = ["-H", h]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    assert m is not None, out
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = int(bad.group(1)) if bad else 0
    sock = re.search(r"Socket errors: .*", out)
    if sock:
        print("   ", sock.group(0))
    return rps, p99, errors


def pg_factory(admin_url: str, made: list[str]) -> object:
    admin = sa.create_engine(admin_url.replace("postgresql://", "postgresql+psycopg://"),
                             isolation_level="AUTOCOMMIT")

    def make(label: str) -> str:
        name = f"sild_bench_{label.replace('-', '_')}_{secrets.token_hex(4)}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return admin_url.rsplit("/", 1)[0] + "/" + name

    make.admin = admin  # type: ignore[attr-defined]
    return make


_PROFILED = itertools.count(1)  # profiles are numbered in the order they are taken


def series(label: str, url: str, args: argparse.Namespace, header: str | list[str] | None,
           pids: list[int], names: dict[int, str], script: str | None = None
           ) -> dict[str, object]:
    watch = list(names)
    wrk(url, 3, args.connections, header, script)  # warm-up, discarded
    runs = []
    peak = 0.0
    for i in range(args.runs):
        cpu0 = {p: cpu_split(p) for p in watch}
        n = next(_PROFILED)
        spies = [subprocess.Popen(  # py-spy without pausing the process (--nonblocking)
            ["py-spy", "record", "--nonblocking", "-p", str(p), "-d",
             str(int(args.duration)), "-f", "raw", "-r", "250",
             "-o", f"{args.profile}-{label}-{n}-{names[p]}.txt"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for p in watch] if getattr(args, "profile", "") else []
        rps, p99, errors = wrk(url, args.duration, args.connections, header, script)
        for spy in spies:
            spy.wait(30)
        after = {p: cpu_split(p) for p in watch}
        cpu = {p: after[p][0] + after[p][1] - c[0] - c[1] for p, c in cpu0.items()}
        sys_share = {p: (after[p][1] - c[1]) / max(cpu[p], 1e-9) for p, c in cpu0.items()}
        mem = [rss_mb(p) for p in pids]
        peak = max([peak, *mem])
        per_req = ", ".join(f"{names[p]} {cpu[p] / (rps * args.duration) * 1e6:.0f} "
                            f"({sys_share[p]:.0%} sys)" for p in watch)
        print(f"  {label} run {i + 1}: {rps:,.0f} req/s, p99 {p99:.1f} ms, non-2xx {errors}, "
              f"RSS {', '.join(f'{m:.0f}' for m in mem)} MB; CPU µs/request: {per_req}")
        runs.append((rps, p99, errors))
    return {"rps": [r[0] for r in runs], "p99": [r[1] for r in runs],
            "errors": sum(r[2] for r in runs), "peak_rss_mb": peak}


def _merge(parts: list[dict[str, object]]) -> dict[str, object]:
    return {"rps": [r for p in parts for r in p["rps"]],  # type: ignore[attr-defined]
            "p99": [r for p in parts for r in p["p99"]],  # type: ignore[attr-defined]
            "errors": sum(p["errors"] for p in parts),  # type: ignore[misc]
            "peak_rss_mb": max(p["peak_rss_mb"] for p in parts)}  # type: ignore[type-var]


SOAP_BODY = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:xrd="http://x-road.eu/xsd/xroad.xsd" xmlns:id="http://x-road.eu/xsd/identifiers">'
    '<s:Header><xrd:client id:objectType="SUBSYSTEM"><id:xRoadInstance>DEMO</id:xRoadInstance>'
    "<id:memberClass>COM</id:memberClass><id:memberCode>10000001</id:memberCode>"
    "<id:subsystemCode>his</id:subsystemCode></xrd:client>"
    '<xrd:service id:objectType="SERVICE"><id:xRoadInstance>DEMO</id:xRoadInstance>'
    "<id:memberClass>GOV</id:memberClass><id:memberCode>70000001</id:memberCode>"
    "<id:subsystemCode>rr</id:subsystemCode><id:serviceCode>hello</id:serviceCode>"
    "</xrd:service><xrd:id>bench-1</xrd:id><xrd:userId>EE38001085718</xrd:userId>"
    "<xrd:protocolVersion>4.0</xrd:protocolVersion></s:Header>"
    '<s:Body><h:hello xmlns:h="urn:bench"><name>benchmark</name></h:hello></s:Body>'
    "</s:Envelope>")


def soap_series(args: argparse.Namespace, rest_url: str, root: Path, pids: list[int],
                names: dict[int, str], results: dict[str, object]) -> None:
    """Alternating runs: SOAP to the IS port, REST POST of the same body (issue #11)."""
    lua = json.dumps(SOAP_BODY)  # a JSON string is a valid Lua string literal here
    rest_script, soap_script = root / "rest.lua", root / "soap.lua"
    rest_script.write_text(f'wrk.method = "POST"\nwrk.body = {lua}\n'
                           'wrk.headers["Content-Type"] = "text/xml; charset=UTF-8"\n'
                           f'wrk.headers["X-Road-Client"] = "{CLIENT}"\n')
    soap_script.write_text(f'wrk.method = "POST"\nwrk.body = {lua}\n'
                           'wrk.headers["Content-Type"] = "text/xml; charset=UTF-8"\n'
                           'wrk.headers["SOAPAction"] = "hello"\n')
    soap_url = rest_url.split("/r1/")[0] + "/"
    one = argparse.Namespace(**{**vars(args), "runs": 1})
    rest_runs: list[dict[str, object]] = []
    soap_runs: list[dict[str, object]] = []
    for _ in range(args.runs):
        rest_runs.append(series("rest", rest_url, one, None, pids, names, str(rest_script)))
        soap_runs.append(series("soap", soap_url, one, None, pids, names, str(soap_script)))
    results["sild"] = _merge(rest_runs)
    results["sild_soap"] = _merge(soap_runs)
    rs = [r for d in rest_runs for r in d["rps"]]  # type: ignore[attr-defined]
    sp = [r for d in soap_runs for r in d["rps"]]  # type: ignore[attr-defined]
    print(f"SOAP: median {statistics.median(sp):,.0f} req/s (min {min(sp):,.0f}, max "
          f"{max(sp):,.0f}) vs REST {statistics.median(rs):,.0f} (min {min(rs):,.0f}, max "
          f"{max(rs):,.0f}), same {len(SOAP_BODY)}-byte body = "
          f"{statistics.median(sp) / statistics.median(rs):.0%} (target ≥ 85 %)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--pg-url", default=os.environ.get(
        "SILD_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--personal", action="store_true",
                    help="also the same service as a personal-data service (issue #8)")
    ap.add_argument("--profile", default="",
                    help="path prefix: py-spy raw stacks of the gateways during every "
                         "measured run, PREFIX-LABEL-N-PROCESS.txt (needs py-spy on PATH)")
    ap.add_argument("--protocol", choices=["rest", "soap"], default="rest",
                    help="soap: SOAP vs REST POSTs of the same body, alternating (issue #11)")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    root = Path(tempfile.mkdtemp(prefix="sild-bench-"))
    made: list[str] = []
    factory = pg_factory(args.pg_url, made) if args.db == "postgres" else None
    procs: list[subprocess.Popen[bytes]] = []
    results: dict[str, object] = {"db": args.db, "connections": args.connections,
                                  "duration": args.duration, "cpus": os.cpu_count()}
    try:
        net = LocalNet.create(root / "net", [PROVIDER, CONSUMER],
                              database_url=factory)  # type: ignore[arg-type]
        is_port = free_port()
        is_url = f"http://127.0.0.1:{is_port}"
        stores = GatewayStores(net.gateway_settings[PROVIDER.server])
        stores.serverconf.add_service(HELLO.subsystem, "hello", is_url + "/hello", timeout=30)
        stores.serverconf.grant(HELLO, parse_subject(str(CLIENT)))
        stores.serverconf.add_service(HELLO_P.subsystem, "hellop", is_url + "/hello",
                                      timeout=30)
        stores.serverconf.grant(HELLO_P, parse_subject(str(CLIENT)))
        stores.serverconf.declare_personal_data(HELLO_P, PersonalData(
            categories=("population",)))
        stores.engine.dispose()
        log = (root / "procs.log").open("wb")

        def spawn(*cmd: str) -> subprocess.Popen[bytes]:
            p = subprocess.Popen(list(cmd), stdout=log, stderr=subprocess.STDOUT)
            procs.append(p)
            return p

        if args.protocol == "soap":
            spawn(PY, "bench/soap_is.py", str(is_port))
        else:
            spawn(PY, "-m", "sild.sample_is", str(is_port))
        spawn(*SILD, "registry", "serve", "--dir", str(net.instance.root))
        wait_http(is_url + "/hello") if args.protocol == "rest" else time.sleep(2)
        wait_http(f"http://{net.instance.registry_listen}/healthz")
        gws = [spawn(*SILD, "gateway", "serve", "--dir", str(s.root))
               for s in net.gateway_settings.values()]
        for s in net.gateway_settings.values():
            wait_http(f"http://{s.admin_listen}/health")
        url = f"http://{net.gateway_settings[CONSUMER.server].is_listen}/r1/{HELLO.path()}"
        try:
            with urllib.request.urlopen(urllib.request.Request(
                    url, headers={"X-Road-Client": str(CLIENT)}), timeout=10) as r:
                r.read()
        except urllib.error.HTTPError as e:
            log.flush()
            tail = (root / "procs.log").read_text()[-3000:]
            sys.exit(f"the exchange does not work: {e.code} {e.read()[:300]!r}\n{tail}")
        print(f"Sild exchange ({args.db}), {args.connections} connections; gateway pids "
              f"{[p.pid for p in gws]}:", flush=True)
        names = {gws[0].pid: "provider-gw", gws[1].pid: "consumer-gw", procs[0].pid: "IS"}
        if args.protocol == "soap":  # alternate runs: the machine's noise hits both alike
            soap_series(args, url, root, [p.pid for p in gws], names, results)
        elif args.personal:  # alternate runs: the machine's noise hits both alike
            url_p = url.replace("/hello", "/hellop")
            headers_p = [f"X-Road-Client: {CLIENT}", "Sild-Data-Subject: EE60001017869",
                         "Sild-Purpose: Benchmark", "X-Road-UserId: EE38001085718"]
            one = argparse.Namespace(**{**vars(args), "runs": 1})
            plain_runs: list[dict[str, object]] = []
            personal_runs: list[dict[str, object]] = []
            for _ in range(args.runs):
                plain_runs.append(series("sild", url, one, f"X-Road-Client: {CLIENT}",
                                         [p.pid for p in gws], names))
                personal_runs.append(series("sild-personal", url_p, one, headers_p,
                                            [p.pid for p in gws], names))
            results["sild"] = _merge(plain_runs)
            results["sild_personal"] = _merge(personal_runs)
            rp = [r for d in personal_runs for r in d["rps"]]  # type: ignore[attr-defined]
            rs = [r for d in plain_runs for r in d["rps"]]  # type: ignore[attr-defined]
            print(f"personal-data service: median {statistics.median(rp):,.0f} req/s vs "
                  f"{statistics.median(rs):,.0f} without personal data = "
                  f"{statistics.median(rp) / statistics.median(rs):.0%} (target ≥ 85 %)")
        else:
            results["sild"] = series("sild", url, args, f"X-Road-Client: {CLIENT}",
                                     [p.pid for p in gws], names)
        for p in gws:
            p.terminate()
        for p in gws:
            p.wait(15)
        if not args.skip_baseline and args.protocol == "rest":
            b_port, a_port = free_port(), free_port()
            spawn(PY, "bench/plain_proxy.py", str(b_port), is_url)
            spawn(PY, "bench/plain_proxy.py", str(a_port), f"http://127.0.0.1:{b_port}")
            wait_http(f"http://127.0.0.1:{a_port}/hello")
            print("Baseline: two plain aiohttp reverse proxies, no security:")
            names = {procs[-1].pid: "proxy-a", procs[-2].pid: "proxy-b", procs[0].pid: "IS"}
            results["baseline"] = series("plain", f"http://127.0.0.1:{a_port}/hello", args,
                                         None, [p.pid for p in procs[-2:]], names)
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
    sild = results["sild"]
    assert isinstance(sild, dict)
    print(f"\nsild median {statistics.median(sild['rps']):,.0f} req/s "
          f"(min {min(sild['rps']):,.0f}, max {max(sild['rps']):,.0f}), "
          f"p99 median {statistics.median(sild['p99']):.1f} ms, peak gateway RSS "
          f"{sild['peak_rss_mb']:.0f} MB, non-2xx {sild['errors']}")
    base = results.get("baseline")
    if isinstance(base, dict):
        ratio = statistics.median(sild["rps"]) / statistics.median(base["rps"])
        print(f"plain median {statistics.median(base['rps']):,.0f} req/s "
              f"(min {min(base['rps']):,.0f}, max {max(base['rps']):,.0f}), p99 median "
              f"{statistics.median(base['p99']):.1f} ms; sild/plain = {ratio:.0%}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
