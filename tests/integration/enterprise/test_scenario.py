"""`sild demo --scenario enterprise` runs, and every line it prints runs as printed.

Started as README's user would (``.venv/bin/sild`` relative to the folder holding the
venv, a PATH without the venv, as tests/integration/test_demo_tour.py does): every
tour line runs in a fresh ``bash -c`` and shows what its comment says — the auditor's
``sild audit`` passes for every gateway — and every command of the printed set-up
steps is a valid ``sild`` command line (parsed by the real argument parser). Ctrl-C
then stops everything with exit 0 and no traceback.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sild.cli import build_parser
from sild.testing.cli import default_sigint
from sild.testing.demo_run import read_until_up

SCRIPT = Path(sys.executable).parent / "sild"  # not resolved: the venv's python is a link
HERE = SCRIPT.parent.parent.parent  # the folder README's install ran in (holds .venv)
STARTED_AS = os.path.relpath(SCRIPT, HERE)


def _env_without_venv() -> dict[str, str]:
    venv_bin = os.path.abspath(SCRIPT.parent)
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep)
            if p and os.path.abspath(p) != venv_bin]
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "SILD_HOME")}
    env["PATH"] = os.pathsep.join(path or ["/usr/bin", "/bin"])
    env["COLUMNS"] = "400"
    return env


@dataclass
class Run:
    printed: list[str]
    env: dict[str, str]
    code: int | None = None
    stderr: str = ""




@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    if not SCRIPT.is_file():
        pytest.fail(f"no console script {SCRIPT} (pip install -e . first)")
    env = _env_without_venv()
    folder = tmp_path_factory.mktemp("enterprise") / "kask-demo"
    errors = folder.parent / "stderr.txt"
    with errors.open("w") as err, subprocess.Popen(
            [STARTED_AS, "demo", "--scenario", "enterprise", "--dir", str(folder),
             "--free-ports"], cwd=HERE, env=env, stdout=subprocess.PIPE, stderr=err,
            text=True, preexec_fn=default_sigint) as proc:
        state = Run([], env)
        try:
            state.printed = read_until_up(proc, timeout=120)
            yield state
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                state.code = proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise
    state.stderr = errors.read_text()
    assert state.code == 0, state.stderr
    assert "Traceback" not in state.stderr, state.stderr


def _tour(printed: list[str]) -> list[str]:
    start = next(i for i, line in enumerate(printed) if line.startswith("Try these"))
    tour = []
    for line in printed[start + 1:]:
        if not line.startswith("  "):
            break
        tour.append(line.strip())
    return tour


def _bash(line: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", line], cwd=HERE, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


# comment at the end of a tour line → what its output must hold
EXPECT = {
    "payroll reads HR": '"department"',
    "the partner reads an invoice": '"contact"',
    "… and its contact": '"customers"',
    "AccessDenied": "AccessDenied",
    "MissingHeader: no subject, no purpose": "MissingHeader",
    "findUsage: who read the HR record": "Monthly payroll run",
    "the auditor: every log row checked against the private ledger": "",
}


def test_every_tour_line_runs_as_printed_and_shows_its_comment(run: Run) -> None:
    """Each tour line exits 0 in a fresh bash without the venv and shows what it says."""
    tour = _tour(run.printed)
    assert len(tour) >= 12, tour
    sild_lines = [t for t in tour if not t.startswith("curl ")]
    assert all(t.startswith(STARTED_AS + " ") for t in sild_lines), sild_lines
    audits = [t for t in tour if t.startswith(f"{STARTED_AS} audit ")]
    assert len(audits) == 3, tour
    for line in tour:
        done = _bash(line, run.env)
        assert done.returncode == 0, (line, done.stdout, done.stderr)
        comment = line.rsplit("# ", 1)[1] if "        # " in line else ""
        if comment:
            assert EXPECT[comment] in done.stdout, (line, done.stdout)
        if "/listMethods" in line:
            assert "contacts" in done.stdout, (line, done.stdout)
        if line.endswith("/healthz"):
            assert done.stdout == "ok\n"


def test_the_setup_steps_are_valid_sild_commands(run: Run) -> None:
    """Every printed step command parses with sild's own argument parser."""
    steps = [line.strip() for line in run.printed[:next(
        i for i, line in enumerate(run.printed) if line.startswith("Up: "))]
        if line.startswith("      ") and line.strip().startswith(STARTED_AS + " ")]
    assert len(steps) >= 40, steps
    parser = build_parser()
    for line in steps:
        argv = shlex.split(line.removesuffix(" &"))[1:]
        try:
            parser.parse_args(argv)
        except SystemExit as e:  # argparse's way of refusing a command line
            raise AssertionError(f"not a valid sild command: {line}") from e
    done = {s.split()[1] for s in steps}
    assert {"init", "registry", "keys", "ca", "gateway", "ledger"} <= done


def test_the_steps_come_with_progress_and_the_portal_url(run: Run) -> None:
    """Start-up shows numbered steps with times and ends with the portal URL."""
    numbered = [line for line in run.printed if line.startswith("[")]
    assert len(numbered) >= 9
    assert numbered[-1].startswith(f"[{len(numbered)}/")
    assert any(line.startswith("Company portal: http://127.0.0.1:") for line in run.printed)


@pytest.mark.slow
@pytest.mark.parametrize("after", ["Setting up:", "… starting the registry"])
def test_ctrl_c_during_start_up_stops_cleanly(tmp_path: Path, after: str) -> None:
    """Ctrl-C while it starts: exit 130, `interrupted`, no traceback, the folder marked
    as the demo's (so the next run may recreate it) and no server left listening."""
    env = _env_without_venv()
    folder = tmp_path / "kask-demo"
    argv = [STARTED_AS, "demo", "--scenario", "enterprise", "--dir", str(folder),
            "--free-ports", "--no-wait"]
    with subprocess.Popen(argv, cwd=HERE, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True,
                          preexec_fn=default_sigint) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            if after in line:
                break
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "interrupted" in err, err
    assert "Traceback" not in err, err
    assert (folder / ".sild-demo").is_file()
    registry = (folder / "registry" / "instance.toml").read_text()
    listen = re.search(r'listen = "127\.0\.0\.1:(\d+)"', registry)
    assert listen is not None, registry
    with socket.socket() as s:  # the registry's port is free again
        s.bind(("127.0.0.1", int(listen.group(1))))


def test_a_folder_that_is_not_a_demos_is_refused(tmp_path: Path) -> None:
    """--dir naming someone's folder: exit 1, one line, the folder untouched."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.txt").write_text("keep me")
    done = subprocess.run([STARTED_AS, "demo", "--scenario", "enterprise", "--dir",
                           str(mine), "--free-ports", "--no-wait"], cwd=HERE,
                          env=_env_without_venv(), capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 1, done.stderr
    assert "is not a demo folder" in done.stderr
    assert "Traceback" not in done.stderr
    assert (mine / "thesis.txt").read_text() == "keep me"


def test_an_unknown_scenario_is_a_usage_error() -> None:
    """--scenario town: argparse's usage error, exit 2."""
    done = subprocess.run([STARTED_AS, "demo", "--scenario", "town"], cwd=HERE,
                          env=_env_without_venv(), capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 2
    assert "invalid choice: 'town'" in done.stderr


@pytest.mark.slow
def test_a_busy_registry_port_is_one_line_naming_the_ports(tmp_path: Path) -> None:
    """The registry port taken: exit 1 and a hint to --free-ports, no traceback."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([STARTED_AS, "demo", "--scenario", "enterprise", "--dir",
                               str(tmp_path / "k"), "--free-ports", "--port", str(port),
                               "--no-wait"], cwd=HERE, env=_env_without_venv(),
                              capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 1, done.stderr
    assert "--free-ports" in done.stderr
    assert "Traceback" not in done.stderr
