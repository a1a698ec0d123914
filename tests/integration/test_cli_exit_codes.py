"""A service that is down is exit 3, not bad input (docs/operations.md "Exit codes").

Real processes (`python -m sild.cli …`) against a loopback port nobody listens on.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sild.core.anchor import encode_anchor
from sild.testing.confdouble import make_anchor
from sild.testing.servers import free_port


def _sild(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sild.cli", *args], capture_output=True,
                          text=True, timeout=60, check=False)


def test_conf_fetch_from_a_registry_not_running_exits_3(tmp_path: Path) -> None:
    """`sild conf fetch` against a closed port: exit 3 and one line on stderr."""
    closed = f"http://127.0.0.1:{free_port()}/globalconf"
    anchor = tmp_path / "anchor.json"
    anchor.write_bytes(encode_anchor(make_anchor([Ed25519PrivateKey.generate()], [closed])))
    done = _sild("conf", "fetch", "--anchor", str(anchor), "--cache", str(tmp_path / "cache"))
    assert done.returncode == 3, done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("sild: error: ")
    assert closed in lines[0]


def test_ledger_submit_to_a_ledger_not_running_exits_3(tmp_path: Path) -> None:
    """`sild ledger submit` against a closed port: exit 3, one line, no receipt written."""
    doc = tmp_path / "doc.txt"
    doc.write_text("hello\n")
    out = tmp_path / "doc.tlog"
    done = _sild("ledger", "submit", "--url", f"http://127.0.0.1:{free_port()}",
                 "--file", str(doc), "--out", str(out))
    assert done.returncode == 3, done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert "unreachable" in done.stderr
    assert not out.exists()


def test_gateway_register_with_a_registry_not_running_exits_3(tmp_path: Path) -> None:
    """`sild gateway register --registry URL` with nobody there: exit 3, one line."""
    key = tmp_path / "k.key"
    csr = tmp_path / "k.csr"
    assert _sild("keys", "new", "--out", str(key)).returncode == 0
    assert _sild("keys", "csr", "--key", str(key), "--out", str(csr)).returncode == 0
    # A self-made certificate is enough: the request is built and signed locally first.
    inst = tmp_path / "inst"
    assert _sild("init", str(inst), "--instance", "EE").returncode == 0
    cert = tmp_path / "k.pem"
    assert _sild("ca", "issue", "--dir", str(inst), "--csr", str(csr), "--purpose", "auth",
                 "--id", "EE/GOV/1/gw1", "--address", "127.0.0.1:5500",
                 "--out", str(cert)).returncode == 0
    sign = tmp_path / "s.pem"
    assert _sild("ca", "issue", "--dir", str(inst), "--csr", str(csr), "--purpose", "sign",
                 "--id", "EE/GOV/1", "--out", str(sign)).returncode == 0
    done = _sild("gateway", "register", "--server", "EE/GOV/1/gw1", "--address",
                 "127.0.0.1:5500", "--auth-key", str(key), "--auth-cert", str(cert),
                 "--sign-key", str(key), "--sign-cert", str(sign),
                 "--registry", f"http://127.0.0.1:{free_port()}")
    assert done.returncode == 3, done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert "cannot reach the registry" in done.stderr
