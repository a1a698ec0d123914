"""Several processes of one gateway on one port (SO_REUSEPORT, `sild gateway serve
--processes N`; docs/operations.md "Active-active topology")."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from sild.cli import main
from sild.errors import ConfigurationError
from sild.gateway.config import GatewaySettings
from sild.localnet import LocalNet
from sild.testing.exchange import PROVIDER


@pytest.fixture(scope="module")
def gateway_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    net = LocalNet.create(tmp_path_factory.mktemp("net") / "net", [PROVIDER],
                          instance_id="EE")
    return net.gateway_settings[PROVIDER.server].root


def _answers(url: str, timeout: float = 2) -> bool:
    """Whether something answers HTTP at ``url`` (any status), on a new connection."""
    return not _failure(url, timeout)


def _failure(url: str, timeout: float) -> str:
    """Why nothing answered HTTP at ``url`` on a new connection; "" if something did."""
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return ""
    except urllib.error.HTTPError:
        return ""
    except OSError as e:
        return f"{type(e).__name__}: {e}"


def _listeners(listen: str) -> set[int]:
    """The processes with a listening socket on ``listen``'s port (``ss -ltnp``)."""
    port = listen.rsplit(":", 1)[1]
    out = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True,
                         text=True).stdout
    return {int(p) for p in re.findall(r"pid=(\d+)", out)}


def _listening_sockets(listen: str) -> int:
    """How many sockets listen on ``listen``'s port, whoever holds them."""
    port = listen.rsplit(":", 1)[1]
    out = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True,
                         text=True).stdout
    return len(out.splitlines())


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs and is not a zombie (an orphan is reaped by init)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _serving(proc: subprocess.Popen[bytes], settings: GatewaySettings, log: Path,
             count: int, *, without: frozenset[int] = frozenset()) -> list[int]:
    """Wait until ``count`` gateway processes (none of them in ``without``) listen on
    the IS port and process 0's admin port answers; their pids."""
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        children = _children(proc.pid)
        if (len(children) == count and not without & set(children)
                and _listeners(settings.is_listen) == set(children)
                and _answers(f"http://{settings.admin_listen}/health")):
            return children
        time.sleep(0.1)


@pytest.fixture
def served(gateway_dir: Path, tmp_path: Path
           ) -> Iterator[tuple[subprocess.Popen[bytes], GatewaySettings, Path]]:
    """`sild gateway serve --processes 2`: a supervising command and two gateway
    processes answering on its IS port."""
    settings = GatewaySettings.load(gateway_dir)
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "sild.cli", "gateway", "serve", "--dir",
                                 str(gateway_dir), "--processes", "2"],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    started: list[int] = []
    try:
        started = _serving(proc, settings, log, 2)
        yield proc, settings, log
    finally:
        left = set(_children(proc.pid)) | set(started)
        if proc.poll() is None:
            proc.terminate()
            proc.wait(15)
        for pid in left:  # a child left behind by a test that killed its parent
            if _alive(pid) and b"gateway" in _cmdline(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def test_two_processes_answer_on_one_port(
        served: tuple[subprocess.Popen[bytes], GatewaySettings, Path]) -> None:
    """Both processes listen on the IS port, each with its own socket (the command
    itself only supervises): with one killed, the other answers every new connection."""
    proc, settings, _ = served
    children = _children(proc.pid)
    assert proc.pid not in _listeners(settings.is_listen)
    os.kill(children[1], signal.SIGKILL)
    # Its socket leaves the port's group once the kernel has closed it, which may be
    # a moment after its descriptors (and so its pid in `ss -p`) are gone: until then
    # a new connection may still be queued on it, and be reset with it.
    deadline = time.monotonic() + 10
    while _listening_sockets(settings.is_listen) != 1:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    # The command starts process 1 again after 1 s; on a loaded machine some of these
    # connections reach the new one, which is serving from the moment it listens.
    failures = [_failure(f"http://{settings.is_listen}/listClients", 15) for _ in range(20)]
    assert failures == [""] * 20


@pytest.mark.parametrize("victim", [0, 1])
def test_a_killed_process_is_started_again(
        served: tuple[subprocess.Popen[bytes], GatewaySettings, Path], victim: int) -> None:
    """kill -9 of either process (process 0 also serves the admin port): the command
    starts a new one in its place, which listens on the port again, and says so."""
    proc, settings, log = served
    children = _children(proc.pid)
    os.kill(children[victim], signal.SIGKILL)
    after = _serving(proc, settings, log, 2, without=frozenset({children[victim]}))
    assert children[1 - victim] in after
    text = log.read_text()
    assert "gateway process ended; starting it again" in text
    assert "killed by SIGKILL" in text
    assert "Traceback" not in text


@pytest.mark.parametrize("how", ["SIGTERM to the command", "Ctrl-C in its terminal"])
def test_a_stop_signal_stops_every_process(
        served: tuple[subprocess.Popen[bytes], GatewaySettings, Path], how: str) -> None:
    """SIGTERM to the command, or SIGINT to its whole process group (Ctrl-C), stops its
    gateway processes too, none is started again, and it exits 0."""
    proc, settings, log = served
    children = _children(proc.pid)
    if how.startswith("SIGTERM"):
        proc.terminate()
    else:
        os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(20) == 0
    assert "starting it again" not in log.read_text()
    for child in children:
        with pytest.raises(ProcessLookupError):
            os.kill(child, 0)
    assert not _answers(f"http://{settings.is_listen}/listClients")


def test_kill_9_of_the_command_stops_its_processes(
        served: tuple[subprocess.Popen[bytes], GatewaySettings, Path]) -> None:
    """kill -9 of the supervising command: the kernel sends each gateway process SIGTERM
    (PR_SET_PDEATHSIG), they stop as on a SIGTERM, and the IS port is free again; none
    keeps serving unsupervised."""
    proc, settings, log = served
    children = _children(proc.pid)
    assert len(children) == 2
    proc.kill()
    assert proc.wait(10) == -signal.SIGKILL
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in children):
        assert time.monotonic() < deadline, (children, log.read_text())
        time.sleep(0.05)
    assert not _listeners(settings.is_listen)
    assert not _answers(f"http://{settings.is_listen}/listClients")
    assert "Traceback" not in log.read_text()


def test_processes_setting_in_gateway_toml(gateway_dir: Path, tmp_path: Path) -> None:
    """`[gateway] processes = 2` without --processes: two gateway processes."""
    settings = GatewaySettings.load(gateway_dir)
    copy = tmp_path / "gw"
    shutil.copytree(gateway_dir, copy)
    dataclasses.replace(GatewaySettings.load(copy), processes=2).write()
    assert GatewaySettings.load(copy).processes == 2
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "sild.cli", "gateway", "serve", "--dir",
                                 str(copy)], stdout=out, stderr=subprocess.STDOUT)
    try:
        assert len(_serving(proc, settings, log, 2)) == 2
        assert "2 processes" in log.read_text()
    finally:
        proc.terminate()
        assert proc.wait(20) == 0


def test_a_port_taken_at_start_stops_the_command(gateway_dir: Path, tmp_path: Path) -> None:
    """A set-up error in the processes (the IS port held by another program) ends the
    command with exit 1 and the reason, instead of restarting forever."""
    settings = GatewaySettings.load(gateway_dir)
    host, port = settings.is_listen.rsplit(":", 1)
    with socket.create_server((host, int(port))):  # no SO_REUSEPORT: nobody may share it
        done = subprocess.run([sys.executable, "-m", "sild.cli", "gateway", "serve", "--dir",
                               str(gateway_dir), "--processes", "2"],
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert "gateway process failed at start; stopping" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


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


@pytest.mark.parametrize("value", ["0", "257", '"two"', "1.5", "true"])
def test_bad_processes_settings_are_refused(gateway_dir: Path, tmp_path: Path,
                                            value: str) -> None:
    """`[gateway] processes` outside 1–256 or not a whole number: one-line error."""
    copy = tmp_path / "gw"
    shutil.copytree(gateway_dir, copy)
    toml = copy / "gateway.toml"
    toml.write_text(toml.read_text().replace("processes = 1\n", f"processes = {value}\n"))
    with pytest.raises(ConfigurationError, match=r"\[gateway\] processes must be"):
        GatewaySettings.load(copy)
