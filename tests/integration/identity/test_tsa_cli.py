"""``sild identity tsa init|serve|verify|extend`` (docs/operations.md, docs/spec/tsa.md
§5) against a real ledger and the real ``openssl ts``."""

from __future__ import annotations

import contextlib
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sild.ca import CertificateAuthority
from sild.embedded import free_port
from sild.ledger.api import create_app
from sild.ledger.home import init_ledger, open_ledger
from sild.ledger.testing import serve_ledger
from sild.testing.cli import running as serving
from sild.testing.cli import sild


def sild_identity(*argv: str) -> int:
    """``sild identity ARGV…`` as an operator runs it (one-line errors, exit codes)."""
    return sild("identity", *argv)


@contextlib.contextmanager
def running(*argv: str, port: int) -> Iterator[dict[str, object]]:
    """``sild identity …serve`` in a child process until Ctrl-C (sild.testing.cli)."""
    with serving("identity", *argv, port=port) as done:
        yield done


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Path, str, object]]:
    """A root CA, a TSA folder from `tsa init`, a ledger on loopback and a document."""
    CertificateAuthority.create(tmp_path / "ca", name="Sild Root", at=datetime.now(UTC))
    assert sild_identity("tsa", "init", str(tmp_path / "tsa"), "--issuer",
                         str(tmp_path / "ca" / "ca.pem"), "--issuer-key",
                         str(tmp_path / "ca" / "ca.key"), "--name", "Test TSA") == 0
    (tmp_path / "data.txt").write_bytes(b"minutes of the meeting\n")
    init_ledger(tmp_path / "ledger", origin="ledger.test/tsa-cli", period_ms=100,
                database_url=f"sqlite:///{tmp_path}/l.db", publication_every=4)
    ledger = open_ledger(tmp_path / "ledger")
    with serve_ledger(create_app(ledger)) as url:
        yield tmp_path, url, ledger
    ledger.close()


def _stamp(tmp_path: Path, tsa: str) -> None:
    subprocess.run(["openssl", "ts", "-query", "-data", str(tmp_path / "data.txt"), "-sha256",
                    "-cert", "-out", str(tmp_path / "q.tsq")], check=True, capture_output=True)
    req = urllib.request.Request(tsa + "/", data=(tmp_path / "q.tsq").read_bytes(),
                                 headers={"content-type": "application/timestamp-query"})
    with urllib.request.urlopen(req, timeout=30) as r:
        (tmp_path / "r.tsr").write_bytes(r.read())


def test_serve_verify_extend(setup: tuple[Path, str, object]) -> None:
    """serve → openssl verifies the token → `tsa verify` OK with the ledger key, NA without,
    FAIL for another file → `tsa extend --publication` → OK with the code alone."""
    tmp_path, ledger_url, ledger = setup
    vkey = str(tmp_path / "ledger" / "ledger.vkey")
    port = free_port()
    with running("tsa", "serve", "--tsa", str(tmp_path / "tsa"), "--ledger", ledger_url,
                 "--ledger-key", vkey, "--listen", f"127.0.0.1:{port}", port=port) as p:
        _stamp(tmp_path, f"http://127.0.0.1:{port}")
    assert p["code"] == 0  # Ctrl-C stops a server gracefully (docs/operations.md)
    assert "Traceback" not in str(p["err"])
    out = subprocess.run(["openssl", "ts", "-verify", "-data", str(tmp_path / "data.txt"),
                          "-in", str(tmp_path / "r.tsr"),
                          "-CAfile", str(tmp_path / "ca" / "ca.pem"),
                          "-untrusted", str(tmp_path / "tsa" / "tsa.pem")],
                         capture_output=True, text=True, check=False)
    assert "Verification: OK" in out.stdout
    base = ["tsa", "verify", str(tmp_path / "r.tsr"), "--root", str(tmp_path / "ca" / "ca.pem")]
    assert sild_identity(*base, "--file", str(tmp_path / "data.txt"), "--key", vkey) == 0
    assert sild_identity(*base, "--file", str(tmp_path / "data.txt")) == 4
    assert sild_identity(*base, "--file", vkey, "--key", vkey) == 5  # FAIL
    # Wait for a publication after the receipt, then extend to it.
    from sild.core.checkpoint import parse_checkpoint
    from sild.core.note import parse_note
    from sild.core.receipt import parse_receipt
    from sild.identity.tsa import receipt_of

    receipt = receipt_of((tmp_path / "r.tsr").read_bytes())
    assert receipt is not None
    size = parse_checkpoint(parse_note(parse_receipt(receipt)[0].checkpoint).text).size
    deadline = time.monotonic() + 15
    while not (pubs := [p for p, _, _ in ledger.publications()  # type: ignore[attr-defined]
                        if p.size > size]):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    code = pubs[0].code()
    assert sild_identity(*base, "--file", str(tmp_path / "data.txt"), "--publication", code) == 4
    assert sild_identity("tsa", "extend", str(tmp_path / "r.tsr"), "--url", ledger_url,
                         "--publication", code, "--out", str(tmp_path / "ext.tsr")) == 0
    ext = ["tsa", "verify", str(tmp_path / "ext.tsr"), "--root", str(tmp_path / "ca" / "ca.pem")]
    assert sild_identity(*ext, "--file", str(tmp_path / "data.txt"), "--publication", code) == 0
    out = subprocess.run(["openssl", "ts", "-verify", "-data", str(tmp_path / "data.txt"),
                          "-in", str(tmp_path / "ext.tsr"),
                          "-CAfile", str(tmp_path / "ca" / "ca.pem"),
                          "-untrusted", str(tmp_path / "tsa" / "tsa.pem")],
                         capture_output=True, text=True, check=False)
    assert "Verification: OK" in out.stdout


def test_serve_needs_a_ledger_key(setup: tuple[Path, str, object],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Without the ledger's key the TSA refuses to start: it checks every receipt."""
    tmp_path, ledger_url, _ = setup
    assert sild_identity("tsa", "serve", "--tsa", str(tmp_path / "tsa"), "--ledger",
                         ledger_url) == 1
    assert "--ledger-key" in capsys.readouterr().err


@pytest.mark.parametrize(("token", "code"), [("missing.tsr", 1), ("ca", 1), ("junk.tsr", 5)])
def test_verify_bad_token_files(setup: tuple[Path, str, object], token: str, code: int,
                                capsys: pytest.CaptureFixture[str]) -> None:
    """A missing file or folder is a one-line error; junk bytes are FAIL TSA-01."""
    tmp_path, _, _ = setup
    (tmp_path / "junk.tsr").write_bytes(b"\x30\x03junk")
    assert sild_identity("tsa", "verify", str(tmp_path / token), "--root",
                         str(tmp_path / "ca" / "ca.pem"), "--file",
                         str(tmp_path / "data.txt")) == code
    assert "Traceback" not in capsys.readouterr().err


def test_extend_token_without_receipt(setup: tuple[Path, str, object],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Extending something that is not a token is a one-line error (exit 2)."""
    tmp_path, ledger_url, _ = setup
    (tmp_path / "junk.tsr").write_bytes(b"junk")
    assert sild_identity("tsa", "extend", str(tmp_path / "junk.tsr"), "--url", ledger_url,
                         "--out", str(tmp_path / "x")) == 2
    assert not (tmp_path / "x").exists()


def test_init_refuses_a_non_ca_key(setup: tuple[Path, str, object]) -> None:
    """A key file that is not a key → one-line error (exit 1), nothing written."""
    tmp_path, _, _ = setup
    assert sild_identity("tsa", "init", str(tmp_path / "t2"), "--issuer",
                         str(tmp_path / "ca" / "ca.pem"), "--issuer-key",
                         str(tmp_path / "data.txt")) == 1
    assert not (tmp_path / "t2").exists()
