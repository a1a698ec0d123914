"""Benchmark of the mass suspension drill against a plain UPDATE of the same rows, same run.

Run:  python bench/bench_identity_drill.py                         (SQLite; ~2 minutes)
      python bench/bench_identity_drill.py --identities 100000 --runs 5 --reissue 50
      SILD_PG_URL=postgresql://postgres@127.0.0.1:5432/test python bench/bench_identity_drill.py

The store is filled with N identities whose keys match the predicate (P-256) plus
N/10 that do not (Ed25519), rows written directly (issuing 110,000 tokens through
scrypt would take hours and is not what is measured). Each run then, on the same rows:

* drill    — ``suspend_matching(service, key_type_is("p256"))``: read every active
             identity's keys, test the predicate in Python, suspend in batches of
             5,000 (conditional UPDATE … RETURNING + one event row per identity)
* baseline — one ``UPDATE … SET state='suspended', revoked_at=…, revocation_reason=…
             WHERE state='active' AND key_type='p256'`` (no predicate in Python, no events)

Between runs every identity is set active again and the events are deleted (then
VACUUM ANALYZE on PostgreSQL, a WAL checkpoint on SQLite). Target:
100,000 identities suspended in ≤ 60 s. Reissue (step 3: new keys, two certificates,
a token with three scrypt derivations) is measured on a sample and extrapolated.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import secrets
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from sild.ca import CertificateAuthority
from sild.core import personal_code as pc
from sild.crypto.keys import load_private_key
from sild.identity._common import spki_sha256
from sild.identity.drill import key_type_is, reissue, suspend_matching
from sild.identity.person_ca import PersonCA
from sild.identity.records import IdentityState
from sild.identity.service import IdentityService
from sild.identity.token import Pins
from sild.store import make_engine, migrate
from sild.store.identity_tables import events, identities, persons

T0 = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)


def machine() -> str:
    model = platform.processor() or platform.machine()
    if shutil.which("lscpu"):
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    return f"{model}, {os.cpu_count()} vCPU (nproc), CPython {platform.python_version()}"


@contextmanager
def database(pg: bool) -> Iterator[str]:
    if not pg:
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/identity.db"
        return
    base = os.environ["SILD_PG_URL"].replace("postgresql://", "postgresql+psycopg://", 1)
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    name = f"sild_bench_{secrets.token_hex(4)}"
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.engine.make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def populate(engine: sa.Engine, issuer_fp: str, cert_pem: str, n_match: int,
             n_other: int) -> None:
    rng = random.Random(2017)
    chunk = 5000
    total = n_match + n_other
    seen: set[str] = set()
    with engine.begin() as conn:
        for start in range(0, total, chunk):
            ps, ids = [], []
            for k in range(start, min(start + chunk, total)):
                code = pc.generate("EE", rng)
                while code.code in seen:  # ~30 birthday collisions in 110,000 random codes
                    code = pc.generate("EE", rng)
                seen.add(code.code)
                ps.append({"id": k + 1, "country": "EE", "code": code.code, "given_name": "TEST",
                           "surname": f"PERSON{k}", "birth_date": code.birth_date,
                           "sex": code.sex.value if code.sex else None, "kind": "citizen",
                           "created_at": T0})
                if k < n_match:
                    keys = [ec.generate_private_key(ec.SECP256R1()).public_key()
                            for _ in range(2)]
                    kt = "p256"
                else:
                    keys = [ed25519.Ed25519PrivateKey.generate().public_key() for _ in range(2)]
                    kt = "ed25519"
                (ad, af), (sd, sf) = spki_sha256(keys[0]), spki_sha256(keys[1])
                ids.append({"id": k + 1, "person_id": k + 1, "state": "active",
                            "issuer": issuer_fp, "key_type": kt,
                            "auth_serial": secrets.token_hex(16),
                            "sign_serial": secrets.token_hex(16), "auth_key_sha256": af,
                            "sign_key_sha256": sf, "auth_public_key": ad, "sign_public_key": sd,
                            "auth_certificate": cert_pem, "sign_certificate": cert_pem,
                            "issued_at": T0, "not_after": T0.replace(year=2031),
                            "state_changed_at": T0})
            conn.execute(persons.insert(), ps)
            conn.execute(identities.insert(), ids)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:  # explicit ids: move the sequences past them
            for t in ("identity_persons", "identity_identities"):
                conn.execute(sa.text(
                    f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), {total})"))


def reset(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(identities.update().values(state="active", revoked_at=None,
                                                revocation_reason=None, state_changed_at=T0))
        conn.execute(events.delete())
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    else:  # the reset leaves a dead version of every row; do not let bloat grow run to run
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE identity_identities")
            conn.exec_driver_sql("VACUUM ANALYZE identity_events")


def plain_update(engine: sa.Engine) -> tuple[int, float]:
    t = time.perf_counter()
    with engine.begin() as conn:
        n = conn.execute(identities.update().where(
            identities.c.state == "active", identities.c.key_type == "p256",
        ).values(state="suspended", state_changed_at=T0, revoked_at=T0,
                 revocation_reason="certificateHold")).rowcount
    return n, time.perf_counter() - t


def run(url: str, args: argparse.Namespace, tmp: Path) -> None:
    root = CertificateAuthority.create(tmp / "root", name="Bench Root", at=T0)
    ca = PersonCA.create(tmp / "pca", root_certificate=root.certificate,
                         root_key=load_private_key(tmp / "root" / "ca.key"),
                         name="Bench Person CA", at=T0)
    engine = make_engine(url)
    migrate(engine, "identity")
    svc = IdentityService(engine, issuer=ca.certificate, ca=ca, tokens_dir=tmp / "tokens",
                          clock=lambda: T0)
    from sild.crypto.certs import cert_pem, fingerprint

    n_other = args.identities // 10
    t = time.perf_counter()
    populate(engine, fingerprint(ca.certificate), cert_pem(ca.certificate), args.identities,
             n_other)
    print(f"  populated {args.identities:,} matching + {n_other:,} other identities in "
          f"{time.perf_counter() - t:.1f} s")
    drill_s, select_s, base_s = [], [], []
    for r in range(args.runs):
        reset(engine)
        res = suspend_matching(svc, key_type_is("p256"), actor="bench", reason="ROCA-like")
        assert len(res.suspended) == args.identities, len(res.suspended)
        total = res.select_seconds + res.suspend_seconds
        drill_s.append(total)
        select_s.append(res.select_seconds)
        reset(engine)
        n, b = plain_update(engine)
        assert n == args.identities
        base_s.append(b)
        print(f"  run {r + 1}: drill {total:.2f} s (select+predicate {res.select_seconds:.2f} s,"
              f" suspend {res.suspend_seconds:.2f} s); plain UPDATE {b:.2f} s")

    def row(name: str, xs: list[float]) -> None:
        print(f"  {name:<34} median {statistics.median(xs):7.2f} s   "
              f"min–max {min(xs):.2f}–{max(xs):.2f} s   "
              f"{args.identities / statistics.median(xs):>9,.0f} identities/s")

    row("drill (select+predicate+suspend)", drill_s)
    row("  of which select+predicate", select_s)
    row("baseline: plain UPDATE", base_s)
    print(f"  drill / baseline: {statistics.median(drill_s) / statistics.median(base_s):.1f}×;"
          f" target ≤ 60 s: {'met' if statistics.median(drill_s) <= 60 else 'MISSED'}")
    if args.reissue:
        reset(engine)
        res = suspend_matching(svc, key_type_is("p256"), actor="bench", reason="x")
        sample = res.suspended[:args.reissue]
        pins = Pins("1234", "12345", "12345678")
        t = time.perf_counter()
        reissue(svc, sample, lambda _i: pins, actor="bench")
        per = (time.perf_counter() - t) / len(sample)
        assert svc.get(sample[0]).state is IdentityState.REVOKED
        print(f"  reissue: {per * 1000:.0f} ms per identity (sample of {len(sample)}, default "
              f"scrypt cost) → {per * args.identities / 3600:.1f} h for {args.identities:,} "
              f"on one core")
    engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--identities", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--reissue", type=int, default=30, help="sample size for reissue (0: skip)")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    stores = [False] + ([True] if os.environ.get("SILD_PG_URL") else [])
    for pg in stores:
        print(f"{'PostgreSQL' if pg else 'SQLite'}:")
        with database(pg) as url, tempfile.TemporaryDirectory() as tmp:
            run(url, args, Path(tmp))


if __name__ == "__main__":
    main()
