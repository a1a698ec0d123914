"""One running demo country (``sild demo --size small``) for the e-service tests."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from sild.demo_country import COUNTRY_FILE, DemoCountry
from sild.testing.cli import default_sigint


def _wait_until_up(proc: subprocess.Popen[str], timeout: float) -> None:
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    while True:
        line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        if line is None:
            raise AssertionError("the demo stopped while starting")
        if line.strip() == "Press Ctrl-C to stop.":
            return


@pytest.fixture(scope="module")
def country(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoCountry]:
    root = tmp_path_factory.mktemp("eservices") / "demo"
    errors = root.parent / "stderr.txt"
    with errors.open("w") as err, subprocess.Popen(
            [sys.executable, "-m", "sild.cli", "demo", "--free-ports", "--size", "small",
             "--dir", str(root)], stdout=subprocess.PIPE, stderr=err, text=True,
            preexec_fn=default_sigint) as proc:
        try:
            _wait_until_up(proc, timeout=150)
            yield DemoCountry.from_json((root / COUNTRY_FILE).read_text())
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
