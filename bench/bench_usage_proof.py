"""Benchmark of the anchored usage proof (docs/spec/tracker.md §3.4), baseline in the same run.

Run:  python bench/bench_usage_proof.py                 (about 3 minutes)
      python bench/bench_usage_proof.py --subjects 10000 --runs 3 --no-db

1. **Proof size** of a person with 1,000 records, excluding the records themselves
   (everything but ``records`` and ``unanchored``), in maps of 10 k, 1 M and 10 M
   subjects (the person's bucket holds ``subjects / 65,536`` other entries).
2. **Verification time** of that proof with the anchor section (chain of 1,000 records,
   bucket, both paths, and the receipt with its Ed25519 checkpoint signature); the
   baseline is the chain check alone (the proof without a trust policy), same run.
3. **Map update cost per round** on SQLite: the anchorer's plan and store
   (:class:`sild.gateway.anchoring.headmap.HeadMap`) for a round in which ``--changed``
   heads (default 1,000) changed, in a map of 10 k and 1 M subjects; the first build of
   the whole map is shown too. The baseline is the same number of ``usage_heads``
   upserts, the writer's own cost for those records.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_merkle import machine

from sild.core.usage_proof import verify_usage_proof
from sild.testing.headmap import anchored_proof

AT = datetime(2026, 12, 6, tzinfo=UTC)


def timed(runs: int, fn: Callable[[], object]) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def row(name: str, secs: list[float], unit: float = 1e3, suffix: str = "ms") -> str:
    med = statistics.median(secs) * unit
    return (f"| {name} | {med:.2f} {suffix} | {min(secs) * unit:.2f}–{max(secs) * unit:.2f} "
            f"{suffix} |")


def proofs(args: argparse.Namespace) -> None:
    print("\n| map of | bucket entries | proof without records | of which anchor section |")
    print("|---|---|---|---|")
    timing = None
    for subjects in (10_000, 1_000_000, 10_000_000):
        # only the person's bucket matters for the size: fill it as a map of this size would
        per_bucket = max(subjects // 65_536, 0)
        proof, policy = anchored_proof(1000, others={})
        bucket = proof["anchor"]["bucket"]
        others = {bucket: [(hashlib.sha256(b"o%d" % i).digest(),
                            hashlib.sha256(b"v%d" % i).digest()) for i in range(per_bucket)]}
        proof, policy = anchored_proof(1000, others=others)
        rest = {k: v for k, v in proof.items() if k not in ("records", "unanchored")}
        size = len(json.dumps(rest, separators=(",", ":")))
        anchor = len(json.dumps(proof["anchor"], separators=(",", ":")))
        print(f"| {subjects:,} subjects | {len(proof['anchor']['entries'])} | {size:,} B "
              f"| {anchor:,} B |")
        if subjects == 1_000_000:
            timing = (proof, policy)
    assert timing is not None
    proof, policy = timing
    assert verify_usage_proof(proof, policy=policy, at=AT).verdict == "OK"
    print("\n| verification, person with 1,000 records, map of 1 M | median | min–max |")
    print("|---|---|---|")
    print(row("chain check only (baseline)", timed(args.runs, lambda: verify_usage_proof(proof))))
    print(row("chain + anchor section + receipt", timed(
        args.runs, lambda: verify_usage_proof(proof, policy=policy, at=AT))))
    from sild.core.headmap import verify_anchor
    from sild.core.usage_proof import _b64

    head = proof["head"]
    print(row("anchor section + receipt alone", timed(args.runs, lambda: verify_anchor(
        proof["anchor"], register=proof["register"], subject=proof["subject"],
        head_seq=head["seq"], head_chain=_b64(head["chain"]), policy=policy, at=AT))))


def map_rounds(args: argparse.Namespace) -> None:
    where = "PostgreSQL" if args.db else "SQLite"
    print(f"\n| {where}, round with {args.changed:,} changed heads | median | min–max |")
    print("|---|---|---|")
    for subjects in args.subjects:
        one_map(args, subjects)


def one_map(args: argparse.Namespace, subjects: int) -> None:
    import sqlalchemy as sa

    from sild.gateway.anchoring.anchorer import AnchoringLimits, close_round
    from sild.gateway.anchoring.headmap import HeadMap
    from sild.gateway.messagelog.usage import upsert_heads
    from sild.store import make_engine, migrate
    from sild.store.messagelog_tables import usage_log

    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(args.db or f"sqlite:///{tmp}/gw.db")
        migrate(engine, "messagelog")
        migrate(engine, "anchoring")
        now = datetime.now(UTC)
        template = {"logged_at": now, "action": "a", "purpose_code": "", "legal_basis": "",
                    "receiver": "EE/COM/1/x", "receiver_name": "", "user_id": "",
                    "service": "s", "message_id": "m", "request_id": "r",
                    "consent_id": "", "categories": "", "flags": "", "sealed": False,
                    "reason": ""}
        reg = "EE/GOV/70000001/rr"

        def heads(n0: int, n: int, seq: int) -> list[dict[str, object]]:
            return [{"register": reg, "subject": f"EE{i:011d}", "seq": seq,
                     "chain": hashlib.sha256(b"%d/%d" % (i, seq)).digest(),
                     "updated_at": now} for i in range(n0, n0 + n)]

        with engine.begin() as conn:  # each subject's record 1 and its head
            for start in range(0, subjects, 100_000):
                part = heads(start, min(100_000, subjects - start), 1)
                upsert_heads(conn, part)
                conn.execute(usage_log.insert(), [
                    {**template, "register": reg, "subject": h["subject"], "seq": 1,
                     "record_hash": bytes(32), "chain": h["chain"]} for h in part])
        hm = HeadMap()
        limits = AnchoringLimits()

        def one_round() -> None:
            with engine.begin() as conn:
                closed = close_round(conn, now=now, limits=limits, gaps={},
                                     monotonic=time.monotonic(), headmap=hm)
                assert closed is not None
                assert closed.map_plan is not None
                # as if its receipt came at once: the next round prunes (§3.4 step 5)
                conn.execute(sa.text("UPDATE anchor_rounds SET receipt = :r WHERE id = :i"),
                             {"r": b"-", "i": closed.round_id})
            hm.committed(closed.map_plan)

        t0 = time.perf_counter()
        one_round()  # the first build: every head
        first = time.perf_counter() - t0
        print(row(f"first build of a map of {subjects:,}", [first], 1, "s"))
        rounds, base = [], []
        for r in range(args.runs):
            seq = r + 2
            picked = [int.from_bytes(os.urandom(4), "big") % subjects
                      for _ in range(args.changed)]
            changed = [{"register": reg, "subject": f"EE{i:011d}", "seq": seq,
                        "chain": hashlib.sha256(b"%d/%d" % (i, seq)).digest(),
                        "updated_at": now} for i in sorted(set(picked))]
            t0 = time.perf_counter()
            with engine.begin() as conn:
                upsert_heads(conn, changed)
                conn.execute(usage_log.insert(), [
                    {**template, "register": reg, "subject": c["subject"], "seq": seq,
                     "record_hash": bytes(32), "chain": c["chain"]} for c in changed])
            base.append(time.perf_counter() - t0)
            rounds.append(timed(1, one_round)[0])
        print(row(f"writer's upserts and inserts, map of {subjects:,} (baseline)", base))
        print(row(f"map update per round, map of {subjects:,}", rounds))
        if args.db:  # leave the database empty for the next map size
            with engine.begin() as conn:
                conn.execute(sa.text("DROP SCHEMA public CASCADE"))
                conn.execute(sa.text("CREATE SCHEMA public"))
        engine.dispose()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--changed", type=int, default=1000)
    p.add_argument("--subjects", type=int, nargs="+", default=[10_000, 1_000_000])
    p.add_argument("--no-db", action="store_true", help="skip the map update rounds")
    p.add_argument("--db", metavar="URL", help="an EMPTY PostgreSQL database for the map "
                   "rounds (default: a temporary SQLite file); its tables are dropped after "
                   "each map size")
    args = p.parse_args()
    print(f"Machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    proofs(args)
    if not args.no_db:
        map_rounds(args)


if __name__ == "__main__":
    main()
