"""``sild exercise`` against the running demo (issue #12: "A test runs it against the
demo"): every attack stopped or detected, exit 0, the JSON report complete, and the
network left as found (the tampered rows restored: the audit is clean afterwards)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sild.testing.demo_run import read_until_up

SILD = [sys.executable, "-m", "sild.cli"]




def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SILD, *args], capture_output=True, text=True, timeout=300,
                          check=False)


def _start_demo(demo: Path, errors: Path) -> subprocess.Popen[str]:
    """``sild demo --free-ports``, started again when a free port was taken meanwhile
    (other test processes on the machine pick free ports too)."""
    for _ in range(3):
        with errors.open("w") as err:
            proc = subprocess.Popen([*SILD, "demo", "--dir", str(demo), "--free-ports"],
                                    stdout=subprocess.PIPE, stderr=err, text=True)
        try:
            read_until_up(proc, timeout=180)
            return proc
        except AssertionError:
            proc.kill()
            proc.wait(30)
            if "cannot listen" not in errors.read_text():
                raise
    raise AssertionError(f"the demo could not start: {errors.read_text()}")


@pytest.mark.slow
def test_exercise_against_the_demo(tmp_path: Path) -> None:
    demo = tmp_path / "sild-demo"
    with _start_demo(demo, tmp_path / "demo-stderr.txt") as proc:
        try:
            time.sleep(3)  # a few anchoring rounds and background usage records
            done = _run("exercise", "--demo-dir", str(demo), "--json")
            assert done.returncode == 0, (done.stdout, done.stderr)
            report = json.loads(done.stdout)
            table = _run("exercise", "--demo-dir", str(demo), "--skip", "flood",
                         "--skip", "logs", "--skip", "revoked")
            audit = _run("audit", "--dir", str(demo / "gateways" / "gw1"), "--ledger-key",
                         str(demo / "ledger" / "ledger.vkey"))
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(60)
    # A network that is not running is neither a passed nor a failed drill: exit 3.
    stopped = _run("exercise", "--demo-dir", str(demo))
    assert stopped.returncode == 3, (stopped.stdout, stopped.stderr)
    assert stopped.stderr.startswith("sild: error:")
    assert "is the network running?" in stopped.stderr
    assert "Traceback" not in stopped.stderr
    results = {r["attack"]: r for r in report["attacks"]}
    assert report["passed"] is True
    assert report["counts"]["undetected"] == 0
    assert report["counts"]["skipped"] == 0, results
    assert len(results) >= 16
    # Each attack was stopped or detected, by what it should have been, with evidence.
    expected = {
        "peer.unregistered-certificate": "SslAuthenticationFailed",
        "peer.expired-sign-certificate": "is not valid at",
        "peer.revoked-sign-certificate": "Client.CertRevoked",
        "peer.replayed-envelope": "replay",
        "peer.re-signed-foreign-key": "Client.CertValidation",
        "peer.tampered-body": "Client.InvalidSignatureValue",
        "is.acl-path-tricks": "AccessDenied",
        "is.header-injection": "HTTP 400",
        "conf.rollback": "GlobalConfRollback",
        "consent.locked-without-break-glass": "AccessDenied",
        "consent.break-glass-outside-group": "EmergencyNotPermitted",
        "logs.message-log-tampering": "edited",
        "logs.message-log-rehashed": "anchored round root",
        "logs.usage-log-tampering": "FAIL",
        "flood.one-client": "20/20 served",
        "outage.registry-down": "Server.ClientProxy.OutdatedGlobalConf",
        "outage.ledger-down": "Server.ClientProxy.TimestampingFailed",
    }
    for name, evidence in expected.items():
        assert evidence in results[name]["evidence"], results[name]
    assert results["peer.forged-certificate"]["outcome"] == "stopped"
    assert "served before" in results["peer.revoked-sign-certificate"]["evidence"]
    assert {results[n]["outcome"] for n in ("logs.message-log-tampering",
                                            "logs.message-log-rehashed",
                                            "logs.usage-log-tampering")} == {"detected"}
    # The table form, and the network left as found: the edited rows were restored.
    assert table.returncode == 0, table.stderr
    assert "OK: 13 attacks, none succeeded undetected" in table.stdout
    assert audit.returncode == 0, (audit.stdout, audit.stderr)
    assert "audit: clean" in audit.stdout
