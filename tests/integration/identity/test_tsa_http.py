"""The TSA on real loopback HTTP in front of a real ledger: tokens accepted by the real
``openssl ts -verify`` and verified offline against the ledger's key and publications
(docs/spec/tsa.md; RFC 3161 §3.4)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from sild.ca import CertificateAuthority
from sild.cli import main
from sild.core.calendar import Publication
from sild.core.checkpoint import parse_checkpoint
from sild.core.note import parse_note, parse_verifier_key
from sild.core.receipt import parse_receipt
from sild.core.verification import Status, TrustPolicy
from sild.crypto.certs import cert_pem
from sild.crypto.keys import load_private_key
from sild.embedded import free_port
from sild.identity.tsa import (
    TimeStampResp,
    TsaSigner,
    issue_tsa_certificate,
    receipt_of,
    replace_receipt,
)
from sild.identity.tsa_http import serve_tsa
from sild.identity.tsa_verify import verify_timestamp, verify_token
from sild.ledger.api import create_app
from sild.ledger.client import LedgerClient
from sild.ledger.home import init_ledger, open_ledger
from sild.ledger.settings import LedgerSettings
from sild.ledger.testing import serve_ledger

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")

DATA = b"the contract, signed on a Sunday\n"


@contextlib.contextmanager
def background(make: Callable[[Callable[[str], None]], Coroutine[Any, Any, None]]
               ) -> Iterator[str]:
    """Run ``make(started)`` (serve_tsa / serve_ocsp) on its own event loop in a thread."""
    ready = threading.Event()
    box: dict[str, Any] = {}

    def started(url: str) -> None:
        box["url"] = url
        ready.set()

    def run() -> None:
        async def go() -> None:
            box["loop"] = asyncio.get_running_loop()
            box["task"] = asyncio.create_task(make(started))
            with contextlib.suppress(asyncio.CancelledError):
                await box["task"]

        asyncio.run(go())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10), "server did not start"
    try:
        yield box["url"]
    finally:
        box["loop"].call_soon_threadsafe(box["task"].cancel)
        thread.join(10)


@dataclass
class World:
    folder: Path
    ledger_url: str
    tsa_url: str
    policy: TrustPolicy
    root: CertificateAuthority
    signer: TsaSigner
    ledger: Any

    def path(self, name: str) -> str:
        return str(self.folder / name)


def _pki(folder: Path) -> tuple[CertificateAuthority, TsaSigner]:
    now = datetime.now(UTC)
    root = CertificateAuthority.create(folder / "root", name="Sild Root", at=now)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = issue_tsa_certificate(issuer=root.certificate,
                                 issuer_key=load_private_key(folder / "root" / "ca.key"),  # type: ignore[arg-type]
                                 public_key=key.public_key(), name="Sild TSA", at=now)
    (folder / "tsa.pem").write_text(cert_pem(cert))
    return root, TsaSigner(certificate=cert, key=key)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    folder = tmp_path / "ledger"
    init_ledger(folder, origin="ledger.test/tsa", period_ms=100,
                database_url=f"sqlite:///{tmp_path}/ledger.db", publication_every=4)
    ledger = open_ledger(folder)
    key = parse_verifier_key((folder / "ledger.vkey").read_text().strip())
    policy = TrustPolicy(log_keys=(key,),  # type: ignore[arg-type]
                         clock=LedgerSettings.load(folder / "ledger.json").clock)
    root, signer = _pki(tmp_path)
    (tmp_path / "data.txt").write_bytes(DATA)
    with serve_ledger(create_app(ledger)) as ledger_url, background(
        lambda started: serve_tsa(signer=signer, ledger_url=ledger_url, ledger_policy=policy,
                                  port=free_port(), started=started)) as tsa_url:
        yield World(tmp_path, ledger_url, tsa_url, policy, root, signer, ledger)
    ledger.close()


def _post(url: str, body: bytes, ctype: str = "application/timestamp-query",
          method: str = "POST") -> tuple[int, str, bytes]:
    req = urllib.request.Request(url + "/", data=body if method == "POST" else None,
                                 method=method, headers={"content-type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers["content-type"], r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["content-type"], e.read()


def _openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", "ts", *args], capture_output=True, text=True, timeout=30,
                          check=False)


def _query(w: World, *flags: str) -> bytes:
    out = _openssl("-query", "-data", w.path("data.txt"), *flags, "-out", w.path("q.tsq"))
    assert out.returncode == 0, out.stderr
    return Path(w.path("q.tsq")).read_bytes()


def _stamp(w: World, *flags: str) -> bytes:
    status, ctype, body = _post(w.tsa_url, _query(w, *flags))
    assert (status, ctype) == (200, "application/timestamp-reply")
    Path(w.path("r.tsr")).write_bytes(body)
    return body


def _status(body: bytes) -> tuple[str, set[str] | None]:
    st = TimeStampResp.load(body)["status"]
    return st["status"].native, st["fail_info"].native


@pytest.mark.parametrize("algorithm", ["-sha256", "-sha384", "-sha512"])
def test_openssl_verifies_token(world: World, algorithm: str) -> None:
    """`openssl ts -verify -data` says OK for SHA-256/384/512 tokens (RFC 3161 §2.4.2)."""
    _stamp(world, algorithm, "-cert")
    out = _openssl("-verify", "-data", world.path("data.txt"), "-in", world.path("r.tsr"),
                   "-CAfile", world.path("root/ca.pem"), "-untrusted", world.path("tsa.pem"))
    assert out.returncode == 0, out.stderr
    assert "Verification: OK" in out.stdout


def test_openssl_checks_nonce_against_query(world: World) -> None:
    """`openssl ts -verify -queryfile` (imprint, nonce, policy) says OK."""
    _stamp(world, "-cert")
    out = _openssl("-verify", "-queryfile", world.path("q.tsq"), "-in", world.path("r.tsr"),
                   "-CAfile", world.path("root/ca.pem"), "-untrusted", world.path("tsa.pem"))
    assert "Verification: OK" in out.stdout, out.stderr


def test_openssl_without_cert_req(world: World) -> None:
    """Without certReq the token has no certificate; openssl verifies with -untrusted."""
    body = _stamp(world, "-no_nonce")
    sd = TimeStampResp.load(body)["time_stamp_token"]["content"]
    assert sd["certificates"].native is None
    out = _openssl("-verify", "-data", world.path("data.txt"), "-in", world.path("r.tsr"),
                   "-CAfile", world.path("root/ca.pem"), "-untrusted", world.path("tsa.pem"))
    assert "Verification: OK" in out.stdout, out.stderr


def test_gen_time_is_the_round_time_and_receipt_verifies(world: World) -> None:
    """genTime = the receipt's round time; serial = ledger position; the receipt is a
    standard Sild receipt for the document (`sild verify --file` OK), docs/spec/tsa.md §3."""
    body = _stamp(world, "-cert")
    tok = verify_token(body, roots=[world.root.certificate])
    assert tok.receipt is not None
    _, extra = parse_receipt(tok.receipt)
    assert int(tok.gen_time.timestamp() * 1000 + 0.5) == extra.time_ms
    assert tok.serial == (extra.round_path.round_index << 32) | extra.round_path.leaf_index
    assert tok.accuracy == timedelta(milliseconds=100)  # the ledger's round period
    assert abs(tok.gen_time - datetime.now(UTC)) < timedelta(seconds=10)
    Path(world.path("token.receipt")).write_bytes(tok.receipt)
    assert main(["verify", world.path("token.receipt"), "--file", world.path("data.txt"),
                 "--key", str(world.folder / "ledger" / "ledger.vkey")]) == 0
    text = _openssl("-reply", "-in", world.path("r.tsr"), "-text").stdout
    assert tok.gen_time.strftime("%b %e %H:%M:%S") in text


def test_offline_verification_with_key(world: World) -> None:
    """verify_timestamp: token, document, binding and the receipt with the ledger key → OK."""
    body = _stamp(world, "-cert")
    v = verify_timestamp(body, document=DATA, roots=[world.root.certificate],
                         policy=world.policy, at=datetime.now(UTC))
    assert (v.status, v.code) == (Status.OK, "OK"), v
    assert [s.step for s in v.steps][:3] == ["token", "document", "binding"]
    no_key = verify_timestamp(body, document=DATA, roots=[world.root.certificate],
                              policy=TrustPolicy(), at=datetime.now(UTC))
    assert no_key.status is Status.NA


def test_swapped_receipt_fails_binding(world: World) -> None:
    """A receipt of another document put into the token → FAIL TSA-04."""
    first = _stamp(world, "-cert")
    Path(world.path("data.txt")).write_bytes(b"another document")
    other = _stamp(world, "-cert")
    swapped = replace_receipt(first, receipt_of(other) or b"")
    v = verify_timestamp(swapped, document=DATA, roots=[world.root.certificate],
                         policy=world.policy, at=datetime.now(UTC))
    assert (v.status, v.code) == (Status.FAIL, "TSA-04")


def test_extended_to_a_publication_verifies_without_key(world: World) -> None:
    """The receipt, extended to a publication and put back (unsigned attribute), makes the
    timestamp verifiable with the publication code alone; openssl still says OK."""
    body = _stamp(world, "-cert")
    receipt = receipt_of(body)
    assert receipt is not None
    size = parse_checkpoint(parse_note(parse_receipt(receipt)[0].checkpoint).text).size
    deadline = time.monotonic() + 15
    while not (pubs := [p for p, _, _ in world.ledger.publications() if p.size > size]):
        assert time.monotonic() < deadline, "no publication"
        time.sleep(0.1)
    pub = Publication(pubs[0].size, pubs[0].root)

    async def extend() -> bytes:
        async with LedgerClient(world.ledger_url) as c:
            return await c.extend(receipt, publication=pub)

    token = replace_receipt(body, asyncio.run(extend()))
    policy = TrustPolicy(publications=(pub,))
    v = verify_timestamp(token, document=DATA, roots=[world.root.certificate], policy=policy,
                         at=datetime.now(UTC))
    assert (v.status, v.code) == (Status.OK, "OK"), v
    Path(world.path("ext.tsr")).write_bytes(token)
    out = _openssl("-verify", "-data", world.path("data.txt"), "-in", world.path("ext.tsr"),
                   "-CAfile", world.path("root/ca.pem"),
                   "-untrusted", world.path("tsa.pem"))
    assert "Verification: OK" in out.stdout, out.stderr


def test_concurrent_requests_get_distinct_tokens(world: World) -> None:
    """40 concurrent requests: each gets a verified token with its own serial (batched)."""
    query = _query(world, "-cert")
    with ThreadPoolExecutor(8) as pool:
        bodies = list(pool.map(lambda _: _post(world.tsa_url, query)[2], range(40)))
    toks = [verify_token(b, roots=[world.root.certificate]) for b in bodies]
    assert len({t.serial for t in toks}) == 40
    rounds = {t.serial >> 32 for t in toks}
    assert len(rounds) < 40  # several tokens share a ledger round


def test_malformed_bodies_are_rejections(world: World) -> None:
    """Garbage → 200 rejection badRequest; SHA-1 → badAlg (RFC 3161 §2.4.2)."""
    status, ctype, body = _post(world.tsa_url, b"garbage")
    assert (status, ctype) == (200, "application/timestamp-reply")
    assert _status(body) == ("rejection", {"bad_request"})
    status, _, body = _post(world.tsa_url, _query(world, "-sha1"))
    assert _status(body) == ("rejection", {"bad_alg"})
    status, _, body = _post(world.tsa_url, _query(world, "-tspolicy", "1.2.3.4"))
    assert _status(body) == ("rejection", {"unaccepted_policy"})


@pytest.mark.parametrize(("body", "ctype", "method", "want"), [
    (b"x" * 20_000, "application/timestamp-query", "POST", 413),
    (b"x", "application/json", "POST", 415),
    (b"", "application/timestamp-query", "GET", 405),
])
def test_bad_http_gets_rejection_body(world: World, body: bytes, ctype: str, method: str,
                                      want: int) -> None:
    """Oversized, mistyped or GET requests: an HTTP error with a DER rejection body."""
    status, rtype, reply = _post(world.tsa_url, body, ctype, method)
    assert (status, rtype) == (want, "application/timestamp-reply")
    assert _status(reply) == ("rejection", {"bad_request"})


def test_ledger_down_is_time_not_available(tmp_path: Path) -> None:
    """With the ledger unreachable no token is issued: rejection timeNotAvailable."""
    _, signer = _pki(tmp_path)
    (tmp_path / "data.txt").write_bytes(DATA)
    policy = _any_policy(tmp_path)
    dead = f"http://127.0.0.1:{free_port()}"
    with background(lambda started: serve_tsa(signer=signer, ledger_url=dead,
                                              ledger_policy=policy, port=free_port(),
                                              started=started)) as url:
        q = subprocess.run(["openssl", "ts", "-query", "-data", str(tmp_path / "data.txt"),
                            "-sha256"], capture_output=True, check=True).stdout
        status, _, body = _post(url, q)
    assert status == 200
    assert _status(body) == ("rejection", {"time_not_available"})


def _any_policy(tmp_path: Path) -> TrustPolicy:
    init_ledger(tmp_path / "l", origin="ledger.test/x", period_ms=100,
                database_url=f"sqlite:///{tmp_path}/x.db")
    key = parse_verifier_key((tmp_path / "l" / "ledger.vkey").read_text().strip())
    return TrustPolicy(log_keys=(key,))  # type: ignore[arg-type]


def test_untrusted_ledger_is_time_not_available(world: World, tmp_path: Path) -> None:
    """Receipts signed by a key the TSA does not trust are refused: no token."""
    with background(lambda started: serve_tsa(
            signer=world.signer, ledger_url=world.ledger_url,
            ledger_policy=_any_policy(tmp_path), port=free_port(), started=started)) as url:
        _, _, body = _post(url, _query(world))
    assert _status(body) == ("rejection", {"time_not_available"})


def test_ledger_clock_disagreeing_is_time_not_available(world: World) -> None:
    """A round time far from the TSA's own clock is not signed (docs/spec/tsa.md §3 step 3)."""
    from sild.identity.tsa_http import LedgerStamper, TimestampService

    async def go() -> bytes:
        ahead = LedgerStamper(LedgerClient(world.ledger_url), policy=world.policy,
                              clock=lambda: datetime.now(UTC) + timedelta(minutes=2))
        service = TimestampService(signer=world.signer, stamper=ahead,
                                   accuracy=timedelta(milliseconds=100))
        try:
            return await service.respond(_query(world))
        finally:
            await ahead.close()

    assert _status(asyncio.run(go())) == ("rejection", {"time_not_available"})


def test_sigstore_rfc3161_client_verifies_token(world: World) -> None:
    """An independent implementation (sigstore's rfc3161-client) verifies the token:
    chain to the root, TSA certificate, nonce, policy, message (RFC 3161 §2.4.2)."""
    from asn1crypto import tsp as asn1_tsp
    from cryptography.x509 import ObjectIdentifier
    from rfc3161_client import VerificationError, VerifierBuilder, decode_timestamp_response

    from sild.identity.tsa import SILD_TSA_POLICY

    body = _stamp(world, "-cert")
    resp = decode_timestamp_response(body)
    nonce = asn1_tsp.TimeStampReq.load(Path(world.path("q.tsq")).read_bytes())["nonce"].native
    verifier = VerifierBuilder(
        roots=[world.root.certificate], tsa_certificate=world.signer.certificate,
        nonce=nonce, policy_id=ObjectIdentifier(SILD_TSA_POLICY)).build()
    assert verifier.verify_message(resp, DATA)
    with pytest.raises(VerificationError):
        verifier.verify_message(resp, b"another document")
    ours = verify_token(body, roots=[world.root.certificate]).gen_time
    assert resp.tst_info.gen_time == ours.replace(microsecond=0)  # it reads whole seconds
