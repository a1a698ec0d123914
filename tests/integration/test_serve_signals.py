"""Every serving command stops gracefully on SIGTERM exactly as on Ctrl-C and exits 0
(docs/operations.md "Stopping services"; issue 12: `sild ledger serve` died with −15)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sild.ca import CertificateAuthority
from sild.testing.cli import default_sigint, sild
from sild.testing.servers import free_port


def _serve_then_signal(argv: list[str], port: int, sig: int) -> tuple[int, str]:
    proc = subprocess.Popen([sys.executable, "-m", "sild.cli", *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_sigint)
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(f"{argv} did not start: {proc.communicate()}") from None
            time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=20)
    return proc.returncode, err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_witness_registry_and_ocsp_stop_gracefully(tmp_path: Path, sig: int) -> None:
    """`ledger witness serve`, `registry serve` and `identity ocsp serve`: exit 0, no
    traceback, on SIGTERM and on Ctrl-C alike."""
    port = free_port()
    assert sild("ledger", "init", str(tmp_path / "ledger")) == 0
    vkey = str(tmp_path / "ledger" / "ledger.vkey")
    assert sild("ledger", "witness", "init", str(tmp_path / "w"), "--name", "w.test/w",
                "--log", vkey, "--listen", f"127.0.0.1:{port}") == 0
    # a witness answers /healthz with 404 (only /add-checkpoint): it is up once it answers
    proc = subprocess.Popen([sys.executable, "-m", "sild.cli", "ledger", "witness", "serve",
                             "--dir", str(tmp_path / "w")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_sigint)
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
        except urllib.error.HTTPError:
            break
        except OSError:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Traceback" not in err

    port = free_port()
    assert sild("init", str(tmp_path / "inst"), "--instance", "EE",
                "--listen", f"127.0.0.1:{port}") == 0
    code, err = _serve_then_signal(["registry", "serve", "--dir", str(tmp_path / "inst")],
                                   port, sig)
    assert code == 0, err
    assert "Traceback" not in err

    ca = CertificateAuthority.create(tmp_path / "ca", name="Person CA", at=datetime.now(UTC))
    assert ca.certificate is not None
    assert sild("identity", "ocsp", "init", str(tmp_path / "ocsp"),
                "--issuer", str(tmp_path / "ca" / "ca.pem"),
                "--issuer-key", str(tmp_path / "ca" / "ca.key")) == 0
    (tmp_path / "index.txt").write_text("")
    port = free_port()
    code, err = _serve_then_signal(["identity", "ocsp", "serve", "--responder",
                                    str(tmp_path / "ocsp"), "--index",
                                    str(tmp_path / "index.txt"),
                                    "--listen", f"127.0.0.1:{port}"], port, sig)
    assert code == 0, err
    assert "Traceback" not in err
