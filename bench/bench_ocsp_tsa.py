"""OCSP answers/s and TSA tokens/s on one core, with bare-signature baselines in the same run.

    python bench/bench_ocsp_tsa.py [--runs 3] [--seconds 5] [--concurrency 64]

In process, one core: the ECDSA P-256 signature alone (baseline), then
``sild.identity.ocsp.respond`` (parse, status, build, sign) and ``parse_request`` +
``issue_token`` (TSTInfo, CMS SignedData with RFC 5816 attributes, the receipt as an
unsigned attribute) with the same key.

Over HTTP: the responder / the TSA as a server in a subprocess pinned to CPU 0
(taskset); the load generator (aiohttp, ``--concurrency`` requests in flight) in this
process on CPU 1. The TSA needs a ledger: it runs (``sild ledger serve``, 100 ms
rounds) in a subprocess on CPU 1 too. Reports the median and min–max over ``--runs``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from asn1crypto import tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from sild.ca import CertificateAuthority
from sild.crypto.certs import CertPurpose, build_csr, cert_pem
from sild.crypto.keys import KeyType, generate_key, load_private_key, save_private_key
from sild.embedded import free_port
from sild.identity.ocsp import OcspSigner, respond
from sild.identity.status import StatusAnswer
from sild.identity.tsa import TsaSigner, issue_token, issue_tsa_certificate, parse_request

PY = sys.executable


def _pin(cpu: int) -> list[str]:
    n = os.cpu_count() or 1
    return ["taskset", "-c", str(cpu)] if n > 1 else []


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per CPU second of ``fn`` over about ``seconds`` of this process's CPU time
    (other processes on the machine do not count against it)."""
    n, start = 0, time.process_time()
    deadline = start + seconds
    while True:
        for _ in range(20):
            fn()
        n += 20
        now = time.process_time()
        if now >= deadline:
            return n / (now - start)


def summary(xs: list[float]) -> str:
    return f"{statistics.median(xs):,.0f} | {min(xs):,.0f}–{max(xs):,.0f}"


class Good:
    def status(self, serial: int) -> StatusAnswer:
        return StatusAnswer.good()


def make_pki(folder: Path) -> dict[str, object]:
    now = datetime.now(UTC)
    ca = CertificateAuthority.create(folder / "ca", name="Bench CA", at=now)
    ca_key = load_private_key(folder / "ca" / "ca.key")
    person = ca.issue(build_csr(generate_key(KeyType.P256), "PNOEE-38001085718"),
                      purpose=CertPurpose.SIGN, identity="PNOEE-38001085718", at=now)
    tsa_key = ec.generate_private_key(ec.SECP256R1())
    tsa_cert = issue_tsa_certificate(issuer=ca.certificate, issuer_key=ca_key,  # type: ignore[arg-type]
                                     public_key=tsa_key.public_key(), name="Bench TSA", at=now)
    (folder / "tsa").mkdir()
    save_private_key(folder / "tsa" / "tsa.key", tsa_key)
    (folder / "tsa" / "tsa.pem").write_text(cert_pem(tsa_cert))
    return {"ca": ca, "ca_key": ca_key, "person": person, "tsa_key": tsa_key,
            "tsa_cert": tsa_cert}


def ocsp_request(person: x509.Certificate, issuer: x509.Certificate) -> bytes:
    b = ocsp.OCSPRequestBuilder().add_certificate(person, issuer, hashes.SHA1())  # noqa: S303  # RFC 5019
    b = b.add_extension(x509.OCSPNonce(os.urandom(16)), critical=False)
    return b.build().public_bytes(serialization.Encoding.DER)


def ts_query(data: bytes) -> bytes:
    return tsp.TimeStampReq({  # type: ignore[no-any-return]
        "version": 1,
        "message_imprint": {"hash_algorithm": {"algorithm": "sha256"},
                            "hashed_message": hashlib.sha256(data).digest()},
        "nonce": 12345678901234567,
        "cert_req": True,
    }).dump()


# --- servers in subprocesses --------------------------------------------------------------

OCSP_SERVER = """
import sys, uvicorn
from pathlib import Path
from sild.crypto.certs import load_certificate
from sild.crypto.keys import load_private_key
from sild.identity.ocsp import OcspSigner
from sild.identity.ocsp_http import create_ocsp_app
from sild.identity.status import StatusAnswer
folder, port, blocking = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "thread"
class Good:
    def status(self, serial):
        return StatusAnswer.good()
ca = load_certificate((folder / "ca" / "ca.pem").read_bytes())
signer = OcspSigner(issuer=ca, certificate=ca, key=load_private_key(folder / "ca" / "ca.key"))
uvicorn.run(create_ocsp_app(signer=signer, source=Good(), blocking_source=blocking),
            host="127.0.0.1", port=port,
            log_level="warning", access_log=False, loop="uvloop", http="httptools")
"""

TSA_SERVER = """
import asyncio, sys, uvloop
from pathlib import Path
from sild.cli.identity_services import add_tsa_parser
import argparse
p = argparse.ArgumentParser(); s = p.add_subparsers(required=True); add_tsa_parser(s)
a = p.parse_args(sys.argv[1:])
try:
    a.func(a)
except KeyboardInterrupt:
    pass
"""


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up") from None
            time.sleep(0.1)


async def load(url: str, body: bytes, ctype: str, seconds: float, concurrency: int,
               ok: Callable[[bytes], bool]) -> tuple[float, list[float]]:
    """Requests/s with ``concurrency`` in flight for ``seconds``; latencies in s."""
    latencies: list[float] = []
    bad = 0
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn) as session:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal bad
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                async with session.post(url, data=body, headers={"content-type": ctype}) as r:
                    got = await r.read()
                latencies.append(time.perf_counter() - t0)
                if r.status != 200 or not ok(got):
                    bad += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    if bad:
        raise RuntimeError(f"{bad} bad answers")
    return len(latencies) / elapsed, latencies


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--tsa-concurrency", type=int, default=256)
    args = ap.parse_args()
    os.sched_setaffinity(0, {1 if (os.cpu_count() or 1) > 1 else 0})
    folder = Path(tempfile.mkdtemp(prefix="bench-ocsp-tsa-"))
    pki = make_pki(folder)
    ca: CertificateAuthority = pki["ca"]  # type: ignore[assignment]
    ca_key: ec.EllipticCurvePrivateKey = pki["ca_key"]  # type: ignore[assignment]
    tsa_key: ec.EllipticCurvePrivateKey = pki["tsa_key"]  # type: ignore[assignment]
    signer = OcspSigner(issuer=ca.certificate, certificate=ca.certificate, key=ca_key)
    tsa = TsaSigner(certificate=pki["tsa_cert"], key=tsa_key)  # type: ignore[arg-type]
    oreq = ocsp_request(pki["person"], ca.certificate)  # type: ignore[arg-type]
    query = ts_query(b"a document")
    # A receipt-shaped text of the usual size (1.6-1.9 KB, docs/benchmarks.md, ledger).
    receipt = (b"c2sp.org/tlog-proof@v1\nextra " + base64.b64encode(os.urandom(300))
               + b"\nindex 86400\n" + b"\n".join(base64.b64encode(os.urandom(32))
                                                  for _ in range(25))
               + b"\n\nledger.example/sild\n86401\n" + base64.b64encode(os.urandom(32))
               + "\n\n\u2014 ledger.example/sild ".encode()
               + base64.b64encode(os.urandom(68)) + b"\n")
    now = datetime.now(UTC)
    msg = os.urandom(100)
    rows: dict[str, list[float]] = {k: [] for k in (
        "sig_ocsp", "ocsp", "sig_tsa", "tsa", "ocsp_http_thread", "ocsp_http_inline",
        "tsa_http")}
    lat: dict[str, list[float]] = {"ocsp_http_thread": [], "ocsp_http_inline": [],
                                   "tsa_http": []}

    print("in process, one core ...", file=sys.stderr)
    for _ in range(args.runs):
        rows["sig_ocsp"].append(rate(lambda: ca_key.sign(msg, ec.ECDSA(hashes.SHA256())),
                                     args.seconds))
        rows["ocsp"].append(rate(lambda: respond(oreq, signer=signer, source=Good(), at=now),
                                 args.seconds))
        rows["sig_tsa"].append(rate(lambda: tsa_key.sign(msg, ec.ECDSA(hashes.SHA256())),
                                    args.seconds))
        rows["tsa"].append(rate(lambda: issue_token(
            parse_request(query), signer=tsa, gen_time=now, serial=1 << 32,
            accuracy=timedelta(seconds=1), receipt=receipt), args.seconds))

    for mode in ("thread", "inline"):
        print(f"OCSP over HTTP ({mode}) ...", file=sys.stderr)
        port = free_port()
        server = subprocess.Popen([*_pin(0), PY, "-c", OCSP_SERVER, str(folder), str(port),
                                   mode])
        try:
            wait_http(f"http://127.0.0.1:{port}/healthz")
            for _ in range(args.runs):
                r, ls = asyncio.run(load(
                    f"http://127.0.0.1:{port}/", oreq, "application/ocsp-request",
                    args.seconds, args.concurrency,
                    lambda b: ocsp.load_der_ocsp_response(b).response_status
                    is ocsp.OCSPResponseStatus.SUCCESSFUL))
                rows[f"ocsp_http_{mode}"].append(r)
                lat[f"ocsp_http_{mode}"].extend(ls)
        finally:
            server.terminate()
            server.wait()

    print("TSA over HTTP with a ledger ...", file=sys.stderr)
    ldir = folder / "ledger"
    subprocess.run([PY, "-m", "sild.cli", "ledger", "init", str(ldir), "--period-ms", "100"],
                   check=True, capture_output=True)
    # The TSA's API key for the ledger, its quota out of the way (docs/spec/ledger.md §8.1).
    subprocess.run([PY, "-m", "sild.cli", "ledger", "key", "add", "tsa", "--dir", str(ldir),
                    "--rate", "10000000", "--share", "1", "--out", str(folder / "tsa.credential")],
                   check=True, capture_output=True)
    lport, tport = free_port(), free_port()
    ledger = subprocess.Popen([*_pin(1), PY, "-m", "sild.cli", "ledger", "serve", "--dir",
                               str(ldir), "--listen", f"127.0.0.1:{lport}"],
                              stdout=subprocess.DEVNULL)
    tsa_proc = None
    try:
        wait_http(f"http://127.0.0.1:{lport}/healthz")
        tsa_proc = subprocess.Popen(
            [*_pin(0), PY, "-c", TSA_SERVER, "tsa", "serve", "--tsa", str(folder / "tsa"),
             "--ledger", f"http://127.0.0.1:{lport}", "--ledger-key", str(ldir / "ledger.vkey"),
             "--ledger-credential", str(folder / "tsa.credential"),
             "--listen", f"127.0.0.1:{tport}"], stdout=subprocess.DEVNULL)
        wait_http(f"http://127.0.0.1:{tport}/healthz")
        for _ in range(args.runs):
            r, ls = asyncio.run(load(
                f"http://127.0.0.1:{tport}/", query, "application/timestamp-query",
                args.seconds, args.tsa_concurrency,
                lambda b: tsp.TimeStampResp.load(b)["status"]["status"].native == "granted"))
            rows["tsa_http"].append(r)
            lat["tsa_http"].extend(ls)
    finally:
        for p in (tsa_proc, ledger):
            if p is not None:
                p.terminate()
                p.wait()

    print(f"\n| measurement ({args.runs} runs × {args.seconds:g} s) | median /s | min–max |")
    print("|---|---:|---:|")
    print(f"| baseline: ECDSA P-256 signature, OCSP key | {summary(rows['sig_ocsp'])} |")
    print(f"| `respond()`: OCSP answer with nonce, signed, in process | {summary(rows['ocsp'])} |")
    print(f"| OCSP over HTTP, status in a worker thread, {args.concurrency} in flight "
          f"| {summary(rows['ocsp_http_thread'])} |")
    print(f"| OCSP over HTTP, status inline, {args.concurrency} in flight "
          f"| {summary(rows['ocsp_http_inline'])} |")
    print(f"| baseline: ECDSA P-256 signature, TSA key | {summary(rows['sig_tsa'])} |")
    print(f"| `parse_request` + `issue_token`, in process | {summary(rows['tsa'])} |")
    print(f"| TSA over HTTP with a ledger (100 ms rounds), {args.tsa_concurrency} in flight "
          f"| {summary(rows['tsa_http'])} |")
    for k, name in (("ocsp_http_thread", "OCSP (thread)"), ("ocsp_http_inline", "OCSP (inline)"),
                    ("tsa_http", "TSA")):
        xs = lat[k]
        print(f"{name} over HTTP latency p50 {pct(xs, 0.5) * 1000:.1f} ms, "
              f"p99 {pct(xs, 0.99) * 1000:.1f} ms ({len(xs)} requests)")


if __name__ == "__main__":
    main()
