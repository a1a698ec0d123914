"""The supervisor of `sild gateway serve --processes N` (sild.gateway.processes): which
ended processes it starts again, how soon, and when it gives up. Run in a subprocess of
its own, since it forks and blocks signals."""

from __future__ import annotations

import itertools
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

SCRIPT = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from sild.gateway.processes import Supervision, run_processes

    starts, mode = Path(sys.argv[1]), sys.argv[2]

    def run(index):
        with starts.open("a") as f:
            f.write(f"{index} {os.getpid()} {time.monotonic()}\\n")
        runs = sum(1 for line in starts.read_text().splitlines() if line.startswith("1 "))
        if index == 1 and mode == "broken":
            raise RuntimeError("address already in use")
        if index == 1 and mode == "crashes" and runs <= 6:
            time.sleep(0.6 if runs == 1 else 0)  # steady once, then crashing at once
            sys.exit(3)  # (the seventh runs on: a crash during the stop would be exit 1)
        time.sleep(60)

    sys.exit(run_processes(2, run, policy=Supervision(first_delay=0.2, max_delay=0.8,
                                                      steady=0.5)))
""")


def _start(tmp_path: Path, mode: str) -> tuple[subprocess.Popen[str], Path]:
    starts = tmp_path / "starts"
    starts.touch()
    script = tmp_path / "supervise.py"
    script.write_text(SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), str(starts), mode],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc, starts


def _starts_of(starts: Path, index: int) -> list[tuple[int, float]]:
    rows = [line.split() for line in starts.read_text().splitlines()]
    return [(int(pid), float(at)) for i, pid, at in rows if int(i) == index]


def test_a_process_failing_at_start_stops_the_command(tmp_path: Path) -> None:
    """An error exit within `steady` of the start is a set-up error: the others are
    stopped, exit 1, the reason in one line, no restart loop."""
    proc, starts = _start(tmp_path, "broken")
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 1, out
    assert "sild: gateway process 1: address already in use" in out
    assert "gateway process failed at start; stopping" in out
    assert len(_starts_of(starts, 1)) == 1
    assert "Traceback" not in out


def test_a_crashing_process_restarts_with_growing_delays(tmp_path: Path) -> None:
    """After a steady run the delay starts at first_delay and doubles while the process
    keeps ending at once, up to max_delay; process 0 runs on untouched; SIGTERM then
    stops the command with exit 0."""
    proc, starts = _start(tmp_path, "crashes")
    try:
        deadline = time.monotonic() + 30
        while len(_starts_of(starts, 1)) < 7:
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    ones = _starts_of(starts, 1)
    gaps = [b[1] - a[1] for a, b in itertools.pairwise(ones)][:5]
    # the first run lasted 0.6 s (steady), then 0.2, 0.4, 0.8, 0.8 s between the crashes
    for gap, least in zip(gaps, [0.6 + 0.2, 0.2, 0.4, 0.8, 0.8], strict=True):
        assert least <= gap < least + 1.5, gaps
    assert len({pid for pid, _ in ones}) == len(ones)  # a new process each time
    assert len(_starts_of(starts, 0)) == 1
    assert out.count("gateway process ended; starting it again") >= 5
    assert "exit code 3" in out
