"""Several processes of one gateway on one port (SO_REUSEPORT, `sild gateway serve
--processes N`; docs/operations.md "Active-active topology")."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from sild.cli import main
from sild.gateway.config import GatewaySettings
from sild.localnet import LocalNet
from sild.testing.exchange import PROVIDER


@pytest.fixture(scope="module")
def gateway_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    net = LocalNet.create(tmp_path_factory.mktemp("net") / "net", [PROVIDER],
                          instance_id="EE")
    return net.gateway_settings[PROVIDER.server].root


def _answers(url: str) -> bool:
    """Whether something answers HTTP at ``url`` (any status), on a new connection."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def _listeners(listen: str) -> set[int]:
    """The processes with a listening socket on ``listen``'s port (``ss -ltnp``)."""
    port = listen.rsplit(":", 1)[1]
    out = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True,
                         text=True).stdout
    return {int(p) for p in re.findall(r"pid=(\d+)", out)}


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


@pytest.fixture
def served(gateway_dir: Path, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`sild gateway serve --processes 2`, answering on its IS port."""
    settings = GatewaySettings.load(gateway_dir)
    url = f"http://{settings.is_listen}/listClients"
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "sild.cli", "gateway", "serve", "--dir",
                                 str(gateway_dir), "--processes", "2"],
                                stdout=out, stderr=subprocess.STDOUT)
    started: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while not (len(_children(proc.pid)) == 1
                   and _listeners(settings.is_listen) == {proc.pid, *_children(proc.pid)}):
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        started = _children(proc.pid)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(15)
        for pid in started:  # a child left behind by a test that killed its parent
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_two_processes_answer_on_one_port(
        served: tuple[subprocess.Popen[bytes], str]) -> None:
    """Both processes listen on the IS port, each with its own socket: with the first
    killed, the second answers every new connection."""
    proc, url = served
    (child,) = _children(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    os.kill(child, 0)  # still running
    assert all(_answers(url) for _ in range(20))  # every new connection: the survivor


def test_sigterm_stops_every_process(served: tuple[subprocess.Popen[bytes], str]) -> None:
    """SIGTERM to the command stops its other processes too, and it exits 0."""
    proc, url = served
    (child,) = _children(proc.pid)
    proc.terminate()
    assert proc.wait(20) == 0
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)
    assert not _answers(url)


@pytest.mark.parametrize("count", ["0", "257", "two"])
def test_bad_process_counts_are_refused(gateway_dir: Path, count: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """A process count outside 1–256 is refused in one line."""
    code = 0
    try:
        code = main(["gateway", "serve", "--dir", str(gateway_dir), "--processes", count])
    except SystemExit as e:  # argparse: not a number
        code = int(e.code or 0)
    assert code != 0
    assert "Traceback" not in capsys.readouterr().err
