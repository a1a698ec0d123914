"""A running ``sild demo --size small --free-ports`` for tests: the country, the portal
URL it printed, stopped with Ctrl-C (SIGINT) at the end."""

from __future__ import annotations

import contextlib
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sild.demo_country import COUNTRY_FILE, DemoCountry
from sild.testing.cli import default_sigint

__all__ = ["RunningDemo", "running_demo"]


@dataclass(frozen=True)
class RunningDemo:
    country: DemoCountry
    portal_url: str  # http://127.0.0.1:PORT (no slash)
    printed: tuple[str, ...]


def read_until_up(proc: subprocess.Popen[str], timeout: float) -> list[str]:
    """The stdout lines of a starting ``sild demo`` (either scenario) up to "Press Ctrl-C
    to stop." — it is then up and waiting; AssertionError if it stops or takes longer."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    out: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"the demo was not up within {timeout} s: {out}") from None
        if line is None:
            raise AssertionError(f"the demo stopped while starting: {out}")
        out.append(line)
        if line.strip() == "Press Ctrl-C to stop.":
            return out


@contextlib.contextmanager
def running_demo(root: Path, *, timeout: float = 150) -> Iterator[RunningDemo]:
    """The demo in ``root`` (which must not exist yet) until the block ends."""
    errors = root.parent / f"{root.name}-stderr.txt"
    with errors.open("w") as err, subprocess.Popen(
            [sys.executable, "-m", "sild.cli", "demo", "--free-ports", "--size", "small",
             "--dir", str(root)], stdout=subprocess.PIPE, stderr=err, text=True,
            preexec_fn=default_sigint) as proc:
        try:
            printed = read_until_up(proc, timeout)
            portal = next(line.split(": ", 1)[1].rstrip("/") for line in printed
                          if line.startswith("Citizen portal: "))
            yield RunningDemo(DemoCountry.from_json((root / COUNTRY_FILE).read_text()),
                              portal, tuple(printed))
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
