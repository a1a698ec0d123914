"""Regression tests for the CLI defects of issue 12 ("Defects found trying it"): each used
to print a Python traceback or succeed silently; each is now one line on stderr, the
documented exit code (docs/operations.md "Exit codes"), and nothing lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sild.testing.cli import sild
from sild.testing.servers import free_port

BINARY = bytes(range(256)) * 4  # not UTF-8, not PEM, not TOML


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("sild: error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An instance, a key, its CSR and a binary file."""
    root = tmp_path_factory.mktemp("defects")
    assert sild("init", str(root / "inst"), "--instance", "EE") == 0
    assert sild("keys", "new", "--out", str(root / "k.key")) == 0
    assert sild("keys", "csr", "--key", str(root / "k.key"), "--out", str(root / "k.csr")) == 0
    (root / "bin.dat").write_bytes(BINARY)
    return {"root": root, "inst": root / "inst", "key": root / "k.key", "csr": root / "k.csr",
            "bin": root / "bin.dat"}


@pytest.mark.parametrize("where", ["missing-folder", "a-folder"])
def test_keys_csr_out_unwritable(made: dict[str, Path], where: str,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    """`keys csr --out` in a missing folder or naming a folder: one line, exit 1."""
    out = made["root"] / "nowhere" / "x.csr" if where == "missing-folder" else made["root"]
    capsys.readouterr()
    assert sild("keys", "csr", "--key", str(made["key"]), "--out", str(out)) == 1
    line = _one_line_error(capsys)
    assert "cannot write" in line or "is a folder" in line


def test_ca_issue_out_unwritable_issues_nothing(made: dict[str, Path],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """`ca issue --out` that cannot be written is refused before a certificate is issued."""
    issued = made["inst"] / "ca" / "issued"
    before = len(list(issued.glob("*.pem"))) if issued.exists() else 0
    capsys.readouterr()
    assert sild("ca", "issue", "--dir", str(made["inst"]), "--csr", str(made["csr"]),
                "--purpose", "sign", "--id", "EE/GOV/1",
                "--out", str(made["root"] / "no" / "c.pem")) == 1
    assert "does not exist" in _one_line_error(capsys)
    after = len(list(issued.glob("*.pem"))) if issued.exists() else 0
    assert after == before


@pytest.mark.parametrize("address", ["nonsense", "127.0.0.1:99999", "127.0.0.1:0", ":5500",
                                     "bad host:5500"])
def test_ca_issue_refuses_bad_addresses(made: dict[str, Path], address: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """`ca issue --address` must be host:port with a port 1-65535: exit 2, one line."""
    capsys.readouterr()
    assert sild("ca", "issue", "--dir", str(made["inst"]), "--csr", str(made["csr"]),
                "--purpose", "auth", "--id", "EE/GOV/1/gw1", "--address", address,
                "--out", str(made["root"] / "never.pem")) == 2
    _one_line_error(capsys)
    assert not (made["root"] / "never.pem").exists()


def test_ca_revoke_of_a_serial_never_issued_fails(made: dict[str, Path],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """`ca revoke` of an unknown serial is refused (it used to succeed silently); a real
    one is revoked and `ca list` shows it."""
    capsys.readouterr()
    assert sild("ca", "revoke", "deadbeef01", "--dir", str(made["inst"])) == 2
    assert "never issued" in _one_line_error(capsys)
    assert sild("ca", "revoke", "zz", "--dir", str(made["inst"])) == 2
    _one_line_error(capsys)
    cert = made["root"] / "gw.pem"
    assert sild("ca", "issue", "--dir", str(made["inst"]), "--csr", str(made["csr"]),
                "--purpose", "auth", "--id", "EE/GOV/1/gw9", "--address", "127.0.0.1:5500",
                "--out", str(cert)) == 0
    serial = capsys.readouterr().out.split("certificate ")[1].split()[0]
    assert sild("ca", "revoke", serial, "--dir", str(made["inst"]), "--reason", "key lost") == 0
    capsys.readouterr()
    assert sild("ca", "list", "--dir", str(made["inst"])) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if serial in line)
    assert "revoked" in row
    assert "key lost" in row


def test_binary_files_as_keys_policies_and_gateway_toml(made: dict[str, Path],
                                                        capsys: pytest.CaptureFixture[str],
                                                        tmp_path: Path) -> None:
    """A binary file where a key, a policy or gateway.toml belongs: one line each."""
    gw = tmp_path / "gw"
    gw.mkdir()
    (gw / "gateway.toml").write_bytes(BINARY)
    inst = tmp_path / "inst"
    inst.mkdir()
    (inst / "instance.toml").write_bytes(BINARY)
    doc = tmp_path / "doc.txt"
    doc.write_text("x\n")
    b = str(made["bin"])
    for argv in (["keys", "csr", "--key", b, "--out", str(tmp_path / "x.csr")],
                 ["gateway", "service", "list", "--dir", str(gw)],
                 ["audit", "--dir", str(gw), "--ledger-key", b],
                 ["verify", str(doc), "--file", str(doc), "--policy", b],
                 ["verify", str(doc), "--file", str(doc), "--key", b],
                 ["ca", "list", "--dir", str(inst)],
                 ["ca", "issue", "--dir", str(made["inst"]), "--csr", b, "--purpose", "sign",
                  "--id", "EE/GOV/1", "--out", str(tmp_path / "c.pem")]):
        capsys.readouterr()
        code = sild(*argv)
        assert code in (1, 2), (argv, code)
        _one_line_error(capsys)


def test_init_on_a_file_or_an_unwritable_place(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """`sild init` on an existing file or where no folder can be made: one line, exit 1."""
    afile = tmp_path / "afile"
    afile.write_text("mine\n")
    capsys.readouterr()
    assert sild("init", str(afile)) == 1
    assert "is a file" in _one_line_error(capsys)
    assert afile.read_text() == "mine\n"  # nothing lost
    assert sild("init", str(afile / "sub")) == 1
    _one_line_error(capsys)
    if os.geteuid() != 0:  # root writes anywhere; /proc refuses even root
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o555)
        assert sild("init", str(ro / "x")) == 1
        _one_line_error(capsys)
    assert sild("init", "/proc/sild-cannot-be-here") == 1
    assert "cannot create" in _one_line_error(capsys)


def test_ledger_submit_refuses_an_unwritable_out_before_submitting(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`ledger submit --out` in a missing folder is refused before anything is sent
    (the ledger would hold the hash and the receipt be lost): the URL is never contacted."""
    doc = tmp_path / "doc.txt"
    doc.write_text("hello\n")
    closed = f"http://127.0.0.1:{free_port()}"  # were it contacted: exit 3, not 1
    for out in (tmp_path / "missing" / "r.tlog", tmp_path):
        capsys.readouterr()
        assert sild("ledger", "submit", "--url", closed, "--file", str(doc),
                    "--out", str(out)) == 1
        _one_line_error(capsys)
    receipt = tmp_path / "receipt.tlog"
    receipt.write_bytes(b"not a receipt")
    for out in (tmp_path / "missing" / "r.tlog", tmp_path):
        assert sild("ledger", "extend", str(receipt), "--url", closed, "--out", str(out)) == 1
        _one_line_error(capsys)


def test_unreachable_server_in_words(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An unreachable ledger is reported in words, not as a Python repr."""
    doc = tmp_path / "doc.txt"
    doc.write_text("hello\n")
    capsys.readouterr()
    assert sild("ledger", "submit", "--url", f"http://127.0.0.1:{free_port()}",
                "--file", str(doc), "--out", str(tmp_path / "r.tlog")) == 3
    line = _one_line_error(capsys)
    assert "connection refused" in line
    assert "Error(" not in line
    assert "ConnectionKey" not in line


def test_ctrl_c_during_demo_start_up(tmp_path: Path) -> None:
    """Ctrl-C at any moment of `sild demo`'s start-up: `sild: interrupted`, exit 130 (or 0
    once it runs), no traceback, and the ports are given back."""
    for delay in (0.0, 0.3, 0.8, 1.4):
        demo = tmp_path / f"demo{delay}"
        proc = subprocess.Popen([sys.executable, "-m", "sild.cli", "demo", "--free-ports",
                                 "--dir", str(demo)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while not demo.exists():  # the start-up has begun (Python's own imports are done)
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode in (0, 130), (delay, proc.returncode, err)
        assert "Traceback" not in err, (delay, err)
        assert "ERROR" not in err, (delay, err)
