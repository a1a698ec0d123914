"""Benchmark of sild.core.merkle against raw hashlib, measured in the same run.

Run:  python bench/bench_merkle.py            (1M leaves, 5 runs, about a minute)
      python bench/bench_merkle.py --leaves 100000 --runs 3

Prints, per measurement, the median and the min–max over the runs, and the ratio to
the hashlib SHA-256 rate on 32-byte inputs (the baseline: a tree of n leaves needs
n − 1 node hashes, so a build at ratio ≈ 1 spends its time hashing). pymerkle (GPLv3,
benchmark-only, never imported by src/) is measured side by side if installed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import random
import shutil
import ssl
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from sild.core.merkle import (
    CompactRange,
    LeafHash,
    MerkleTree,
    leaf_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)


def machine() -> str:
    """One line: CPU model, core count, Python and OpenSSL versions."""
    model = platform.processor() or platform.machine()
    if shutil.which("lscpu"):
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    return (
        f"{model}, {os.cpu_count()} vCPU (nproc), CPython {platform.python_version()}, "
        f"{ssl.OPENSSL_VERSION}"
    )


def measure(runs: int, fn: Callable[[], int]) -> list[float]:
    """Run ``fn`` (which returns how many operations it did) ``runs`` times; ops/s each."""
    rates = []
    for _ in range(runs):
        t0 = time.perf_counter()
        ops = fn()
        rates.append(ops / (time.perf_counter() - t0))
    return rates


def report(name: str, rates: list[float], baseline: float | None, unit: str) -> None:
    med = statistics.median(rates)
    ratio = f"{med / baseline:5.2f}×" if baseline else "   — "
    spread = f"[{min(rates):,.0f}–{max(rates):,.0f}]"
    print(f"{name:<40} {med:>11,.0f} {unit:<8} {spread:<25} {ratio}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--leaves", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--proofs", type=int, default=20_000)
    args = ap.parse_args(argv)
    n: int = args.leaves
    runs: int = args.runs
    rng = random.Random(6962)

    print(f"machine: {machine()}")
    print(
        f"command: python bench/bench_merkle.py --leaves {n} --runs {runs} --proofs {args.proofs}"
    )
    print(f"{'measurement':<40} {'median':>11} {'unit':<8} {'[min–max]':<25} vs hashlib")

    inputs = [rng.randbytes(32) for _ in range(n)]

    # Baseline: hashlib SHA-256 over 32-byte inputs, in a list comprehension.
    def baseline() -> int:
        sha = hashlib.sha256
        _ = [sha(x).digest() for x in inputs]
        return n

    base = measure(runs, baseline)
    base_med = statistics.median(base)
    report("hashlib sha256(32 B) [baseline]", base, None, "hash/s")

    leaves = [LeafHash(hashlib.sha256(b"\x00" + x).digest()) for x in inputs]

    def hash_leaves() -> int:
        _ = [leaf_hash(x) for x in inputs]
        return n

    report("leaf_hash(32 B entry)", measure(runs, hash_leaves), base_med, "leaf/s")

    def batch_root() -> int:
        root_of(leaves)
        return n

    report(f"root_of: batch build, {n:,} leaves", measure(runs, batch_root), base_med, "leaf/s")

    def append_each() -> int:
        cr = CompactRange()
        for leaf in leaves:
            cr.append(leaf)
        cr.root()
        return n

    report("CompactRange.append, one call per leaf", measure(runs, append_each), base_med, "leaf/s")

    def extend_all() -> int:
        cr = CompactRange()
        cr.extend(leaves)
        cr.root()
        return n

    report("CompactRange.extend", measure(runs, extend_all), base_med, "leaf/s")

    tree = MerkleTree(leaves)
    root = tree.root()
    k: int = args.proofs
    indexes = [rng.randrange(n) for _ in range(k)]

    def inclusion() -> int:
        for i in indexes:
            proof = tree.inclusion_proof(i)
            verify_inclusion(leaf=leaves[i], index=i, size=n, proof=proof, root=root)
        return k

    report("inclusion proof generate + verify", measure(runs, inclusion), None, "proof/s")

    def inclusion_verify_only() -> int:
        for i, p in proofs:
            verify_inclusion(leaf=leaves[i], index=i, size=n, proof=p, root=root)
        return k

    proofs = [(i, tree.inclusion_proof(i)) for i in indexes]
    report("inclusion proof verify only", measure(runs, inclusion_verify_only), None, "proof/s")

    olds = [rng.randrange(1, n) for _ in range(k // 4)]
    old_roots = {m: tree.root(m) for m in olds}

    def consistency() -> int:
        for m in olds:
            proof = tree.consistency_proof(m)
            verify_consistency(
                old_size=m, new_size=n, old_root=old_roots[m], new_root=root, proof=proof
            )
        return len(olds)

    report("consistency proof generate + verify", measure(runs, consistency), None, "proof/s")

    bench_pymerkle(n, runs, inputs, base_med, rng)
    return 0


def bench_pymerkle(
    n: int, runs: int, inputs: list[bytes], base_med: float, rng: random.Random
) -> None:
    """pymerkle 7 InmemoryTree, if installed (GPLv3: benchmark only)."""
    try:
        from pymerkle import InmemoryTree  # type: ignore[import-not-found]
    except ImportError:
        print(f"{'pymerkle':<40} skipped (not installed)")
        return
    m = min(n, 100_000)  # pymerkle appends one entry per call; keep the run short

    def append() -> int:
        t = InmemoryTree(algorithm="sha256")
        for x in inputs[:m]:
            t.append_entry(x)
        t.get_state()
        return m

    report(f"pymerkle append_entry, {m:,} entries", measure(runs, append), base_med, "leaf/s")
    t = InmemoryTree(algorithm="sha256")
    for x in inputs[:m]:
        t.append_entry(x)
    idx = [rng.randrange(1, m + 1) for _ in range(2000)]

    def prove() -> int:
        for i in idx:
            t.prove_inclusion(i)
        return len(idx)

    report("pymerkle prove_inclusion", measure(runs, prove), None, "proof/s")


if __name__ == "__main__":
    sys.exit(main())
