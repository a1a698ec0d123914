"""`sild ledger init/serve/submit` and `sild verify` end to end, through main([...])."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from sild.cli import main
from sild.testing.servers import free_port


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    """A ledger made by `sild ledger init`, served by `sild ledger serve` in a subprocess;
    `sild ledger submit` finds its API key through $SILD_LEDGER_CREDENTIAL."""
    folder = tmp_path / "ledger"
    assert main(["ledger", "init", str(folder), "--period-ms", "200"]) == 0
    credential = tmp_path / "cli.credential"
    assert main(["ledger", "key", "add", "cli", "--dir", str(folder),
                 "--out", str(credential)]) == 0
    monkeypatch.setenv("SILD_LEDGER_CREDENTIAL", str(credential))
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sild.cli", "ledger", "serve", "--dir", str(folder),
         "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"

    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as r:
                r.read()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("ledger did not start") from None
            time.sleep(0.1)
    yield url, folder
    proc.terminate()
    proc.wait(10)


def test_file_receipt_verifies_and_any_change_fails(
    served: tuple[str, Path], tmp_path: Path
) -> None:
    """A submitted file's receipt verifies offline; any change to file or receipt fails."""
    url, folder = served
    doc = tmp_path / "contract.pdf"
    doc.write_bytes(b"%PDF-1.7 the contract text")
    receipt = tmp_path / "contract.tlog-proof"
    assert main(["ledger", "submit", "--url", url, "--file", str(doc), "--out", str(receipt)]) == 0
    key = str(folder / "ledger.vkey")
    ok = ["verify", str(receipt), "--file", str(doc), "--key", key]
    assert main(ok) == 0
    # Without any trust anchor the answer is inconclusive, not OK.
    assert main(["verify", str(receipt), "--file", str(doc)]) == 4
    # Any change to the document fails.
    doc.write_bytes(b"%PDF-1.7 the contract texT")
    assert main(ok) == 5
    doc.write_bytes(b"%PDF-1.7 the contract text")
    # Any byte of the receipt changed fails.
    raw = receipt.read_bytes()
    bad = tmp_path / "bad.tlog-proof"
    for i in range(len(raw)):
        bad.write_bytes(raw[:i] + bytes([raw[i] ^ 0x01]) + raw[i + 1 :])
        assert main(["verify", str(bad), "--file", str(doc), "--key", key]) == 5, i
