"""The demo's tour can be followed as printed (issue 7).

README's first command is ``python3 -m venv .venv && .venv/bin/pip install -e . &&
.venv/bin/sild demo``: nothing activates the virtual environment. This test starts the
real demo the same way (the console script by its path relative to the folder that
holds the venv, a PATH without the venv), captures the tour it prints, and runs every
tour line in a fresh ``bash -c`` from that folder with the same PATH.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sild.testing.demo_run import read_until_up

SCRIPT = Path(sys.executable).parent / "sild"  # not resolved: the venv's python is a link


def _env_without_venv() -> dict[str, str]:
    """The environment of a fresh shell after README's install: no venv on PATH."""
    venv_bin = os.path.abspath(SCRIPT.parent)
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep)
            if p and os.path.abspath(p) != venv_bin]
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "SILD_HOME")}
    env["PATH"] = os.pathsep.join(path or ["/usr/bin", "/bin"])
    env["COLUMNS"] = "300"
    return env




def _tour_lines(printed: list[str]) -> list[str]:
    start = next(i for i, line in enumerate(printed) if line.startswith("Try these"))
    tour = []
    for line in printed[start + 1:]:
        if not line.startswith("  "):
            break
        tour.append(line.strip())
    return tour


# the end of an e-service tour line → what its answer holds (docs/spec/eservices.md)
_ESERVICE_SHOWS = {
    "founds a company": '"regCode"',
    "prefilled from employers' reports": '"income"',
    "# confirmed with one call": '"filed"',
    "# a doctor's view of a patient": '"visits"',
    "# a police check, sealed from the person": '"vehicles"',
    " sees their child ": '"visits"',
    "# EServiceNoRepresentation: not their child": "EServiceNoRepresentation",
    "# the e-services' uses, each with its purpose": "Parent acting for a minor child",
}


def _run_tour(tour: list[str], started_as: str, *, cwd: Path, env: dict[str, str]) -> None:
    """Run each line in a fresh bash; each exits 0 and shows what the tour says."""
    sild_lines = [t for t in tour if not t.startswith(("curl ", "#"))]
    assert len(tour) >= 10, tour
    # sild is named as README's user started it, a path relative to this folder.
    assert all(t.startswith(started_as + " ") for t in sild_lines), sild_lines
    assert any(" && " + started_as + " conf verify" in t for t in tour), tour
    for line in tour:
        done = subprocess.run(["bash", "-c", line], cwd=cwd, env=env, capture_output=True,
                              text=True, timeout=120, check=False)
        assert done.returncode == 0, (line, done.stdout, done.stderr)
        if line.endswith("# AccessDenied"):  # the tour says this call is refused
            assert "AccessDenied" in done.stdout, (line, done.stdout)
        elif "/rr/persons/" in line:
            assert "/echo/persons/38001085718" in done.stdout, (line, done.stdout)
        elif "AccessDenied: the patient locked" in line:
            assert "AccessDenied" in done.stdout, (line, done.stdout)
        for said, shown in _ESERVICE_SHOWS.items():
            if said in line:
                assert shown in done.stdout, (line, done.stdout)
        if f"{started_as} verify " in line:
            assert "OK" in done.stdout, (line, done.stdout)
        if f"{started_as} tracker verify " in line:  # the person's completeness check
            assert "OK: " in done.stdout, (line, done.stdout)
        if "/v2/findUsage?" in line:
            assert '"totalUsages":' in done.stdout, (line, done.stdout)
        if line.endswith("# break-glass"):
            assert '"visits"' in done.stdout, (line, done.stdout)
        if line.endswith("# the person was notified at once"):
            assert "emergency" in done.stdout, (line, done.stdout)


@pytest.mark.slow
@pytest.mark.skipif(not SCRIPT.is_file(), reason=f"no console script {SCRIPT} (not installed "
                    "with pip install -e .)")
def test_every_tour_line_runs_as_printed_without_the_venv_on_path(tmp_path: Path) -> None:
    """Each shell line the running demo prints exits 0 in a fresh bash, venv not on PATH."""
    env = _env_without_venv()
    assert shutil.which("sild", path=env["PATH"]) is None, "a sild on PATH would hide the bug"
    here = SCRIPT.parent.parent.parent  # the folder README's install ran in (holds .venv)
    started_as = os.path.relpath(SCRIPT, here)  # ".venv/bin/sild", as README types it
    errors = tmp_path / "demo-stderr.txt"
    with errors.open("w") as err, subprocess.Popen(
            [started_as, "demo", "--dir", str(tmp_path / "sild-demo"), "--free-ports"],
            cwd=here, env=env, stdout=subprocess.PIPE, stderr=err, text=True) as proc:
        try:
            printed = read_until_up(proc, timeout=120)
            _run_tour(_tour_lines(printed), started_as, cwd=here, env=env)
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                code = proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise
    assert code == 0, errors.read_text()
    # What the tour wrote stayed in the demo folder, not in the folder of the install.
    assert (tmp_path / "sild-demo" / "letter.tlog").is_file()
    assert (tmp_path / "sild-demo" / "globalconf.json").is_file()
