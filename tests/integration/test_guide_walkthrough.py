"""docs/guide.md §2 and §4 run as printed, in a fresh bash, without the venv on PATH.

Issue 7. The shell blocks of a section are run in order as one script, from a folder
where ``.venv`` is the installation under test (a symlink), with a PATH that does not
hold it. A few things are added around the guide's text, not changed in it: servers
listen on free ports instead of 4000 / 8470 (other tests may hold those), the script
waits for a server it started in the background, stops it at the end, and §4's
``contract.pdf`` (the reader's own document) is made first.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sild.testing.servers import free_port

ROOT = Path(__file__).parents[2]
VENV = Path(sys.executable).parent.parent  # not resolved: the venv's python is a link


def _section(doc: str, number: int) -> str:
    start = doc.index(f"\n## {number}. ")
    end = doc.find("\n## ", start + 1)
    return doc[start:end if end != -1 else len(doc)]


def _script(section: str, default_port: int, port: int) -> str:
    """The section's shell blocks as one script, its server on ``port``, not the default."""
    blocks = re.findall(r"^```bash\n(.*?)^```", section, re.M | re.S)
    body = "\n".join(blocks).replace(f"127.0.0.1:{default_port}", f"127.0.0.1:{port}")
    lines = []
    for line in body.splitlines():
        if re.match(r"^\.venv/bin/sild init \S+", line):  # the registry's listen address
            line = line.replace(" --instance ", f" --listen 127.0.0.1:{port} --instance ", 1)
        if re.match(r"^\.venv/bin/sild ledger serve ", line):
            line = line.replace(" serve ", f" serve --listen 127.0.0.1:{port} ", 1)
        lines.append(line)
        if line.split("#")[0].rstrip().endswith("&"):  # a server started in the background
            lines.append(f"for i in $(seq 300); do curl -sf http://127.0.0.1:{port}/healthz "
                         ">/dev/null && break; sleep 0.1; done")
    return ("set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n"
            + "\n".join(lines) + "\n")


def _run(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    (cwd / ".venv").symlink_to(VENV)
    venv_bin = os.path.abspath(VENV / "bin")
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep)
            if p and os.path.abspath(p) != venv_bin]
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "SILD_HOME")}
    env["PATH"] = os.pathsep.join(path or ["/usr/bin", "/bin"])
    done = subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    return done


INSTALLED = pytest.mark.skipif(not (VENV / "bin" / "sild").is_file(), reason="sild is not "
                               "installed as a console script next to this interpreter")


@pytest.mark.slow
@INSTALLED
def test_guide_section_2_runs_as_printed(tmp_path: Path) -> None:
    """Every command of guide §2 exits 0 in order; the cached configuration lists the gateway."""
    script = _script(_section((ROOT / "docs" / "guide.md").read_text(), 2), 4000, free_port())
    assert script.count(".venv/bin/sild ") >= 15, script
    done = _run(script, tmp_path)
    # The walk-through registered the gateway and hosted the subsystem on it.
    assert "EE/GOV/70000001/gw1" in done.stdout
    assert "EE/GOV/70000001/rr" in done.stdout
    assert (tmp_path / "gw-cache" / "globalconf.json").is_file()


@pytest.mark.slow
@INSTALLED
def test_guide_section_4_runs_as_printed(tmp_path: Path) -> None:
    """Guide §4 makes a ledger, serves it, gets a receipt and verifies it OK, as printed."""
    script = _script(_section((ROOT / "docs" / "guide.md").read_text(), 4), 8470, free_port())
    assert script.count(".venv/bin/sild ") == 5, script
    (tmp_path / "contract.pdf").write_bytes(b"%PDF-1.7 the reader's own contract")
    done = _run(script, tmp_path)
    assert "OK" in done.stdout.splitlines()[-1], done.stdout
    assert (tmp_path / "contract.tlog").is_file()
