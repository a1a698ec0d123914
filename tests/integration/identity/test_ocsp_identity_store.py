"""Issue 9's check, as an operator runs it: the OCSP responder answers from the identity
store (`sild identity ocsp serve --dir INSTANCE`); `openssl ocsp` says good, and revoked
in the next answer after `sild identity revoke` (RFC 6960 §2.2)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from sild.embedded import free_port

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")
SILD = [sys.executable, "-m", "sild.cli"]


def _sild(*args: str, cwd: Path) -> str:
    out = subprocess.run([*SILD, *args], cwd=cwd, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout


def _ocsp(cwd: Path, port: int) -> str:
    ca = "ee/identity/ca/person-ca.pem"
    out = subprocess.run(["openssl", "ocsp", "-issuer", ca, "-cert", "auth.pem",
                          "-url", f"http://127.0.0.1:{port}", "-VAfile", ca],
                         cwd=cwd, capture_output=True, text=True, check=False)
    return out.stdout + out.stderr


def test_openssl_sees_good_then_revoked_from_the_identity_store(tmp_path: Path) -> None:
    """good from the store; revoked in the very next answer after `identity revoke`."""
    _sild("init", "ee", "--instance", "EE", cwd=tmp_path)
    _sild("identity", "init", "--dir", "ee", cwd=tmp_path)
    (tmp_path / "pins.txt").write_text("1234\n12345\n12345678\n")
    _sild("identity", "citizen", "add", "--dir", "ee", "--code", "38001085718", "--given",
          "Jaak", "--surname", "Joeorg", "--pins-file", "pins.txt", cwd=tmp_path)
    (tmp_path / "auth.pem").write_text(
        _sild("identity", "show", "1", "--dir", "ee", "--pem", "auth", cwd=tmp_path))
    port = free_port()
    ca_dir = "ee/identity/ca"
    server = subprocess.Popen(
        [*SILD, "identity", "ocsp", "serve", "--dir", "ee", "--issuer",
         f"{ca_dir}/person-ca.pem", "--cert", f"{ca_dir}/person-ca.pem", "--key",
         f"{ca_dir}/person-ca.key", "--listen", f"127.0.0.1:{port}"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, server.communicate()[1]
                assert time.monotonic() < deadline, "the responder did not start"
                time.sleep(0.1)
        first = _ocsp(tmp_path, port)
        assert "Response verify OK" in first
        assert "auth.pem: good" in first
        _sild("identity", "revoke", "1", "--dir", "ee", "--reason", "keyCompromise",
              "--note", "lost card", cwd=tmp_path)
        second = _ocsp(tmp_path, port)
        assert "auth.pem: revoked" in second
        assert "Reason: keyCompromise" in second
    finally:
        server.terminate()
        server.communicate(timeout=10)
