"""Hypothesis against the timestamping authority (RFC 3161; docs/spec/tsa.md; no
OpenAPI): nonces of any size (negative, 2^63, 2^64, 300 bits), message imprints of any
length and algorithm, any bytes as a body. Issue 12: no traceback, no hang, no 5xx that
is not a protocol error, and a TimeStampResp for every request."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from asn1crypto import core, tsp
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sild.ca import CertificateAuthority
from sild.core.note import parse_verifier_key
from sild.core.verification import TrustPolicy
from sild.crypto.keys import load_private_key
from sild.identity.tsa import TsaSigner, issue_tsa_certificate
from sild.identity.tsa_http import serve_tsa
from sild.ledger.settings import LedgerSettings
from sild.testing.fuzz import EXAMPLES, TIMEOUT, check_answer
from sild.testing.servers import free_port

_SETTINGS = settings(max_examples=EXAMPLES // 3, deadline=None, derandomize=True,
                     database=None, suppress_health_check=list(HealthCheck))
nonces = st.one_of(st.sampled_from([0, 1, -1, 2**63 - 1, 2**63, 2**64, -(2**63), 2**300]),
                   st.integers(min_value=-(2**80), max_value=2**80))


@pytest.fixture(scope="module")
def tsa_url(world, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:  # type: ignore[no-untyped-def]
    folder: Path = tmp_path_factory.mktemp("tsa")
    now = datetime.now(UTC)
    root = CertificateAuthority.create(folder / "root", name="Fuzz Root", at=now)
    key = ec.generate_private_key(ec.SECP256R1())
    ca_key = load_private_key(folder / "root" / "ca.key")
    cert = issue_tsa_certificate(issuer=root.certificate, issuer_key=ca_key,  # type: ignore[arg-type]
                                 public_key=key.public_key(), name="Fuzz TSA", at=now)
    vkey = parse_verifier_key((world.ledger_dir / "ledger.vkey").read_text().strip())
    policy = TrustPolicy(log_keys=(vkey,),  # type: ignore[arg-type]
                         clock=LedgerSettings.load(world.ledger_dir / "ledger.json").clock)
    ready = threading.Event()
    box: dict[str, Any] = {}

    def started(url: str) -> None:
        box["url"] = url
        ready.set()

    async def run() -> None:  # serve_tsa closes its ledger session when cancelled
        box["loop"] = asyncio.get_running_loop()
        box["task"] = asyncio.create_task(serve_tsa(
            signer=TsaSigner(certificate=cert, key=key), ledger_url=world.ledger_url,
            ledger_policy=policy, port=free_port(), started=started,
            ledger_credential=world.ledger_credential))
        with contextlib.suppress(asyncio.CancelledError):
            await box["task"]

    thread = threading.Thread(target=asyncio.run, args=(run(),), daemon=True)
    thread.start()
    assert ready.wait(10), "TSA did not start"
    try:
        yield box["url"]
    finally:
        box["loop"].call_soon_threadsafe(box["task"].cancel)
        thread.join(10)


def _post(url: str, body: bytes, what: str) -> requests.Response:
    try:
        resp = requests.post(url + "/", data=body, timeout=TIMEOUT + 5,
                             headers={"content-type": "application/timestamp-query"})
    except requests.Timeout as e:
        raise AssertionError(f"hang: {what}") from e
    check_answer(resp.status_code, resp.content, what)
    assert resp.status_code < 500, (what, resp.status_code)
    return resp


@_SETTINGS
@given(nonce=nonces, digest=st.binary(min_size=0, max_size=70),
       algorithm=st.sampled_from(["sha256", "sha512", "sha1", "md5", "sha3_256"]))
@example(nonce=2**63, digest=hashlib.sha256(b"x").digest(), algorithm="sha256")
@example(nonce=-(2**63), digest=hashlib.sha256(b"y").digest(), algorithm="sha256")
def test_any_request(tsa_url: str, nonce: int, digest: bytes, algorithm: str) -> None:
    """Well-formed requests with any numbers: a granted token or a rejection, as a
    TimeStampResp (RFC 3161 §2.4.2), never a crash."""
    req = tsp.TimeStampReq({
        "version": 1, "nonce": nonce, "cert_req": True,
        "message_imprint": {"hash_algorithm": {"algorithm": algorithm},
                            "hashed_message": digest}})
    resp = _post(tsa_url, req.dump(), f"nonce {nonce} {algorithm} {len(digest)}")
    if resp.status_code == 200:
        outer = core.Sequence.load(resp.content)  # status, then the token when granted
        status = tsp.PKIStatusInfo.load(outer[0].dump())["status"].native
        assert status in ("granted", "granted_with_mods", "rejection", "waiting")


@_SETTINGS
@given(body=st.binary(max_size=300))
def test_any_bytes(tsa_url: str, body: bytes) -> None:
    """Any body: a rejection, never a crash."""
    _post(tsa_url, body, f"bytes {body[:30]!r}")
