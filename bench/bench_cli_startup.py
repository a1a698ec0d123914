"""Wall-clock time of short `sild` commands, from exec to exit (issue 7: ≤ 0.3 s).

Run:  .venv/bin/python bench/bench_cli_startup.py               (20 runs each, ~1 min)
      .venv/bin/python bench/bench_cli_startup.py --runs 50
      .venv/bin/python bench/bench_cli_startup.py --before /tmp/old/.venv/bin/sild

``--before`` adds the same sild commands run by another installation (e.g. a checkout
of an earlier commit with its own venv), interleaved in the same run, so a before/after
comparison sees the same load.

Each command runs as a fresh process, the way a user or a script runs it: the console
script next to this interpreter (``.venv/bin/sild``). Runs are interleaved round-robin
(command A, B, C, … then again) so that load from other jobs on the machine spreads
over all commands alike. Reported: wall-clock median, p10–p90 and min–max, and the
median CPU time (user + sys of the child), which load from other jobs inflates much
less than wall-clock time. Baselines in the same run: ``python3 -c pass`` (the
interpreter's own start-up) and ``python3 -c 'import sild'``.

Set-up (not timed): ``sild init`` + ``sild registry serve`` + ``sild conf fetch`` make a
configuration cache for ``sild conf show``; ``sild ledger init`` + ``sild ledger serve``
+ ``sild ledger submit`` make a receipt for ``sild verify``. Both servers are stopped
before the timing starts.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from tempfile import TemporaryDirectory

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from bench_merkle import machine

from sild.testing.servers import free_port

SILD = str(Path(sys.executable).parent / "sild")


def _run(*argv: str) -> None:
    done = subprocess.run(argv, capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{argv} exited {done.returncode}: {done.stderr!r}")


def _serve(argv: list[str], health: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(health, timeout=1) as r:
                r.read()
            return proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise RuntimeError(f"{argv} did not start") from None
            time.sleep(0.1)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(10)


def set_up(root: Path) -> dict[str, Path]:
    """A configuration cache and a receipt, made with the CLI against real servers."""
    inst, cache = root / "inst", root / "cache"
    port = free_port()
    _run(SILD, "init", str(inst), "--instance", "BENCH", "--listen", f"127.0.0.1:{port}")
    registry = _serve([SILD, "registry", "serve", "--dir", str(inst)],
                      f"http://127.0.0.1:{port}/healthz")
    try:
        _run(SILD, "registry", "member", "add", "--dir", str(inst), "BENCH/GOV/1",
             "--name", "Bench member")
        _run(SILD, "conf", "fetch", "--anchor", str(inst / "anchor.json"), "--cache",
             str(cache))
    finally:
        _stop(registry)
    ledger, doc, receipt = root / "ledger", root / "doc.txt", root / "doc.tlog"
    doc.write_text("a small document\n")
    _run(SILD, "ledger", "init", str(ledger), "--period-ms", "200")
    _run(SILD, "ledger", "key", "add", "bench", "--dir", str(ledger), "--out",
         str(root / "bench.credential"))
    port = free_port()
    served = _serve([SILD, "ledger", "serve", "--dir", str(ledger), "--listen",
                     f"127.0.0.1:{port}"], f"http://127.0.0.1:{port}/healthz")
    try:
        _run(SILD, "ledger", "submit", "--url", f"http://127.0.0.1:{port}", "--credential",
             str(root / "bench.credential"), "--file", str(doc), "--out", str(receipt))
    finally:
        _stop(served)
    return {"inst": inst, "cache": cache, "doc": doc, "receipt": receipt,
            "vkey": ledger / "ledger.vkey"}


def sild_commands(sild: str, f: dict[str, Path], label: str = "") -> list[tuple[str, list[str]]]:
    return [
        (f"sild --version{label}", [sild, "--version"]),
        (f"sild --help{label}", [sild, "--help"]),
        (f"sild gateway --help{label}", [sild, "gateway", "--help"]),
        (f"sild conf show --cache DIR{label}",
         [sild, "conf", "show", "--cache", str(f["cache"])]),
        (f"sild verify R --file F --key K (OK){label}",
         [sild, "verify", str(f["receipt"]), "--file", str(f["doc"]), "--key", str(f["vkey"])]),
        (f"sild registry member list --dir D (SQLite){label}",
         [sild, "registry", "member", "list", "--dir", str(f["inst"])]),
    ]


def commands(f: dict[str, Path], before: str | None) -> list[tuple[str, list[str]]]:
    py = sys.executable
    cmds = [
        ("python3 -c pass (baseline)", [py, "-c", "pass"]),
        ("python3 -c 'import sild' (baseline)", [py, "-c", "import sild"]),
        *sild_commands(SILD, f),
    ]
    if before:
        cmds += sild_commands(before, f, " — before")
    return cmds


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def measure(cmds: list[tuple[str, list[str]]], runs: int
            ) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Wall-clock and CPU (user + sys) seconds of each run of each command."""
    wall: dict[str, list[float]] = {name: [] for name, _ in cmds}
    cpu: dict[str, list[float]] = {name: [] for name, _ in cmds}
    env = {**os.environ, "COLUMNS": "100"}
    for _ in range(runs):
        for name, argv in cmds:
            c0, t0 = _cpu(), time.perf_counter()
            done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  env=env, check=False)
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(_cpu() - c0)
            if done.returncode != 0:
                raise RuntimeError(f"{name} exited {done.returncode}: {done.stderr!r}")
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20, help="runs per command (default 20)")
    ap.add_argument("--before", metavar="SILD",
                    help="another installation's sild to measure in the same run")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    with TemporaryDirectory(prefix="sild-bench-cli-") as tmp:
        files = set_up(Path(tmp))
        cmds = commands(files, args.before)
        measure(cmds, 1)  # warm the page cache and .pyc files; not counted
        wall, cpu = measure(cmds, args.runs)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print(f"\n| command ({args.runs} runs, interleaved) | wall median | wall p10–p90 "
          "| wall min–max | CPU median |")
    print("|---|---:|---:|---:|---:|")
    for name, ts in wall.items():
        ts = sorted(ts)
        dec = statistics.quantiles(ts, n=10, method="inclusive")
        print(f"| `{name}` | {statistics.median(ts):.3f} s | {dec[0]:.3f}–{dec[-1]:.3f} s "
              f"| {ts[0]:.3f}–{ts[-1]:.3f} s | {statistics.median(cpu[name]):.3f} s |")


if __name__ == "__main__":
    main()
