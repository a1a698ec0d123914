"""Benchmark of ``sild doc verify``'s core: containers/s for a 1 MB document with one
XAdES-LT signature, on one core, with plain SHA-256 of the same 1 MB as the baseline
measured in the same run (issue #9 target: ≥ 200 containers/s).

Run:  .venv/bin/python bench/bench_doc_verify.py               (about 30 s)
      .venv/bin/python bench/bench_doc_verify.py --runs 5 --seconds 4 --size 1048576

The container is made once, in memory, by Sild's signer (sild.testing.documents:
person CA under a root, P-256 signer, Sild's TSA and OCSP code, no HTTP): ``mimetype``,
manifest, one deflated 1 MB data file of random bytes, ``signatures0.xml`` with the
timestamp and OCSP answer. Each iteration is what ``sild doc verify`` does after reading
the file: ``verify_container(bytes, trust=…, at=…)`` — unzip with limits (inflate and
CRC), parse the XML, hash the file, check the signing certificate, the SignedProperties
digest, the signature over canonical SignedInfo, the RFC 3161 token and its imprint,
the certificate path, the OCSP answer. The rows:

* baseline     — ``hashlib.sha256(document)``: the least any verifier must do;
* inflate      — ``read_container`` alone (unzip + CRC), to show where time goes;
* verify       — ``verify_container``; the target row.

The process is pinned to CPU 0 (``os.sched_setaffinity``) where the OS allows it.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sild.doc.container import read_container, write_container
from sild.doc.sign import add_signature, new_container
from sild.doc.verify import Indication, verify_container
from sild.testing.documents import DocWorld


def machine() -> str:
    model = platform.processor() or platform.machine()
    if shutil.which("lscpu"):
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    return f"{model}, {os.cpu_count()} vCPU, CPython {platform.python_version()}"


def rate(work: Callable[[], object], seconds: float) -> float:
    """Calls per second of process CPU time over about ``seconds`` of wall time."""
    work()  # warm
    n = 0
    wall_end = time.perf_counter() + seconds
    cpu0 = time.process_time()
    while time.perf_counter() < wall_end:
        work()
        n += 1
    return n / max(time.process_time() - cpu0, 1e-9)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--size", type=int, default=1024 * 1024, help="document bytes")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    with tempfile.TemporaryDirectory() as tmp:
        world = DocWorld(Path(tmp))
        document = os.urandom(args.size)
        c = add_signature(new_container({"document.bin": document},
                                        {"document.bin": "application/octet-stream"}),
                          certificate=world.certificate, chain=world.chain, sign=world.sign,
                          services=world.services(), at=world.at)
        raw = write_container(c)
        report = verify_container(raw, trust=world.trust, at=world.at)
        assert report.indication is Indication.VALID, report.as_json()
        rows: dict[str, list[float]] = {"baseline": [], "inflate": [], "verify": []}
        for _ in range(args.runs):
            rows["baseline"].append(rate(lambda: hashlib.sha256(document).digest(),
                                         args.seconds))
            rows["inflate"].append(rate(lambda: read_container(raw), args.seconds))
            rows["verify"].append(rate(
                lambda: verify_container(raw, trust=world.trust, at=world.at), args.seconds))
    print(f"machine: {machine()}")
    print(f"container: {len(raw):,} bytes, document {args.size:,} bytes, "
          f"signature {len(c.signatures['META-INF/signatures0.xml']):,} bytes")
    print(f"| measurement ({args.runs} runs × {args.seconds:g} s, one core) | median /s | "
          "min–max | vs baseline |")
    print("|---|---:|---:|---:|")
    base = statistics.median(rows["baseline"])
    names = {"baseline": "baseline: SHA-256 of the 1 MB document",
             "inflate": "`read_container` (unzip, CRC, limits)",
             "verify": "`verify_container`: one XAdES-LT signature, all steps"}
    for key, values in rows.items():
        med = statistics.median(values)
        print(f"| {names[key]} | {med:,.0f} | {min(values):,.0f}–{max(values):,.0f} | "
              f"{med / base:.2f}× |")


if __name__ == "__main__":
    main()
