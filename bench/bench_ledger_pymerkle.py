"""The ledger's Merkle code side by side with pymerkle 7, in the same run (issue 4).

Run:  python bench/bench_ledger_pymerkle.py             (100k leaves, 5 runs, ~2 min)
      python bench/bench_ledger_pymerkle.py --leaves 20000 --runs 3

pymerkle is GPLv3: a benchmark-only dependency (``pip install 'pymerkle>=7,<8'`` into
the venv), never imported from ``src/`` nor listed in pyproject; without it the script
says so and exits 0. Both sides use SHA-256 with RFC 6962 prefixes (pymerkle's
``security=True``), and their roots are checked to be equal before anything is timed.

Measured, one core, each as operations/s (median and min–max over the runs):

* append: one entry per call, then the root (pymerkle ``append_entry`` + ``get_root``;
  Sild ``leaf_hash`` + ``CompactRange.append``, the streaming path), and Sild's batch
  round build (``MerkleTree`` over the leaf hashes, what the ledger does per round);
* inclusion proof generation at random indexes of the full tree (pymerkle
  ``prove_inclusion``; Sild ``MerkleTree.inclusion_proof`` in memory, and from tiles
  through ``TileReader``, the calendar's path);
* consistency proof generation from random earlier sizes to the full tree;
* verification of those inclusion and consistency proofs.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

from sild.core.merkle import (
    CompactRange,
    LeafHash,
    MerkleTree,
    RootHash,
    consistency_proof_from,
    inclusion_proof_from,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from sild.core.tiles import TileReader, build_tiles

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from bench_merkle import machine


def measure(runs: int, fn: Callable[[], int]) -> list[float]:
    """``fn`` returns how many operations it did; operations/s of each run."""
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        n = fn()
        out.append(n / (time.perf_counter() - t))
    return out


def row(name: str, sild: list[float], pym: list[float] | None, unit: str) -> None:
    med = statistics.median(sild)
    ratio = f"{med / statistics.median(pym):6.1f}×" if pym else "     —"
    print(f"{name:<44} {med:>12,.0f} {unit:<8} [{min(sild):,.0f}–{max(sild):,.0f}]  {ratio}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--leaves", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--proofs", type=int, default=2_000)
    args = ap.parse_args(argv)
    try:
        import pymerkle  # type: ignore[import-not-found]  # GPLv3, benchmark only
    except ImportError:
        print("pymerkle is not installed: skipped. Install it into the venv for this benchmark "
              "only: .venv/bin/pip install 'pymerkle>=7,<8' (GPLv3; never import it from src/)")
        return 0
    warnings.simplefilter("ignore", DeprecationWarning)
    n, runs, k = args.leaves, args.runs, args.proofs
    rng = random.Random(6962)
    entries = [rng.randbytes(32) for _ in range(n)]
    print(f"machine: {machine()}")
    print(f"pymerkle {pymerkle.__version__ if hasattr(pymerkle, '__version__') else '7'}; "
          f"command: python bench/bench_ledger_pymerkle.py --leaves {n} --runs {runs} "
          f"--proofs {k}")
    print(f"{'measurement':<44} {'median':>12} {'unit':<8} [min–max]  vs pymerkle")

    # --- the same tree on both sides -----------------------------------------------
    pt: Any = pymerkle.InmemoryTree(algorithm="sha256")
    for e in entries:
        pt.append_entry(e)
    leaves = [leaf_hash(e) for e in entries]
    tree = MerkleTree(leaves)
    root = tree.root()
    if pt.get_root() != root:
        raise SystemExit("pymerkle and Sild disagree on the root: not comparable")
    tiles = build_tiles(leaves)
    reader = TileReader(tiles.__getitem__, n)

    # --- append ------------------------------------------------------------------------
    def p_append() -> int:
        t: Any = pymerkle.InmemoryTree(algorithm="sha256")
        for e in entries:
            t.append_entry(e)
        t.get_root()
        return n

    def s_append() -> int:
        cr = CompactRange()
        for e in entries:
            cr.append(leaf_hash(e))
        cr.root()
        return n

    def s_batch() -> int:
        sha = hashlib.sha256
        MerkleTree([LeafHash(sha(b"\x00" + e).digest()) for e in entries]).root()
        return n

    pa = measure(runs, p_append)
    row("pymerkle append_entry + get_root", pa, None, "leaf/s")
    row("sild leaf_hash + CompactRange.append", measure(runs, s_append), pa, "leaf/s")
    row("sild round build (leaf hashes + MerkleTree)", measure(runs, s_batch), pa, "leaf/s")

    # --- inclusion proofs ------------------------------------------------------------
    idx = [rng.randrange(n) for _ in range(k)]

    def p_incl() -> int:
        for i in idx:
            pt.prove_inclusion(i + 1)  # pymerkle counts leaves from 1
        return k

    def s_incl() -> int:
        for i in idx:
            tree.inclusion_proof(i)
        return k

    def s_incl_tiles() -> int:
        for i in idx:
            inclusion_proof_from(reader.node, i, n)
        return k

    pi = measure(runs, p_incl)
    row("pymerkle prove_inclusion", pi, None, "proof/s")
    row("sild inclusion proof, in memory", measure(runs, s_incl), pi, "proof/s")
    row("sild inclusion proof, from tiles", measure(runs, s_incl_tiles), pi, "proof/s")

    # --- consistency proofs ----------------------------------------------------------
    olds = [rng.randrange(1, n) for _ in range(k)]

    def p_cons() -> int:
        for m in olds:
            pt.prove_consistency(m, n)
        return k

    def s_cons() -> int:
        for m in olds:
            tree.consistency_proof(m)
        return k

    def s_cons_tiles() -> int:
        for m in olds:
            consistency_proof_from(reader.node, m, n)
        return k

    pc = measure(runs, p_cons)
    row("pymerkle prove_consistency", pc, None, "proof/s")
    row("sild consistency proof, in memory", measure(runs, s_cons), pc, "proof/s")
    row("sild consistency proof, from tiles", measure(runs, s_cons_tiles), pc, "proof/s")

    # --- verification ----------------------------------------------------------------
    p_iproofs = [(leaves[i], pt.prove_inclusion(i + 1)) for i in idx]
    s_iproofs = [(i, tree.inclusion_proof(i)) for i in idx]
    p_cproofs = [(pt.get_root(m), pt.prove_consistency(m, n)) for m in olds]
    s_cproofs = [(m, RootHash(tree.root(m)), tree.consistency_proof(m)) for m in olds]
    p_root = pt.get_root()

    def p_vi() -> int:
        for base, proof in p_iproofs:
            pymerkle.verify_inclusion(base, p_root, proof)
        return k

    def s_vi() -> int:
        for i, proof in s_iproofs:
            verify_inclusion(leaf=leaves[i], index=i, size=n, proof=proof, root=root)
        return k

    def p_vc() -> int:
        for old, proof in p_cproofs:
            pymerkle.verify_consistency(old, p_root, proof)
        return k

    def s_vc() -> int:
        for m, old, proof in s_cproofs:
            verify_consistency(old_size=m, new_size=n, old_root=old, new_root=root, proof=proof)
        return k

    pvi = measure(runs, p_vi)
    row("pymerkle verify_inclusion", pvi, None, "proof/s")
    row("sild verify_inclusion", measure(runs, s_vi), pvi, "proof/s")
    pvc = measure(runs, p_vc)
    row("pymerkle verify_consistency", pvc, None, "proof/s")
    row("sild verify_consistency", measure(runs, s_vc), pvc, "proof/s")

    # --- the floor: verification is a chain of SHA-256 calls ---------------------------
    blobs = [rng.randbytes(65) for _ in range(200_000)]

    def hashes() -> int:
        sha = hashlib.sha256
        for b in blobs:
            sha(b).digest()
        return len(blobs)

    hr = statistics.median(measure(runs, hashes))
    per_i = sum(len(p) for _, p in s_iproofs) / k
    per_c = sum(len(p) for _, _, p in s_cproofs) / k * 2  # two running hashes (fr, sr)
    for name, per, base in (("inclusion", per_i, pvi), ("consistency", per_c, pvc)):
        bound = hr / per
        print(f"bound: {name} verification if hashing were all: {hr:,.0f} SHA-256/s / "
              f"{per:.1f} hashes = {bound:,.0f} proof/s = {bound / statistics.median(base):.1f}× "
              "pymerkle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
