"""docs/guide.md §16 "Adopting Sild in a company" runs as printed, in a fresh bash.

As tests/integration/test_guide_walkthrough.py does for §2 and §4: the section's shell
blocks after the demo one run in order as one script, from a folder where ``.venv`` is
the installation under test, with a PATH that does not hold it. Around the guide's
text, not in it: the company's own HR system (which the guide assumes is running) is
started here, every fixed port is swapped for a free one, and the script waits for each
server it starts in the background and stops them at the end.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sild.enterprise.data import Company, Employee
from sild.enterprise.systems import create_system_app
from sild.testing.servers import free_port, serve_asgi

ROOT = Path(__file__).parents[3]
VENV = Path(sys.executable).parent.parent
CODE = "EE38001085718"  # the guide's employee
# what a background server answers once it is up, by the port it listens on
READY = {4000: "/healthz", 8470: "/healthz", 5566: "/health"}


def _section() -> str:
    doc = (ROOT / "docs" / "guide.md").read_text()
    start = doc.index("\n## 16. Adopting Sild in a company")
    end = doc.find("\n## ", start + 1)
    section = doc[start:end if end != -1 else len(doc)]
    return section[section.index("### By hand"):]


def _script(section: str, ports: dict[int, int]) -> str:
    body = "\n".join(re.findall(r"^```bash\n(.*?)^```", section, re.M | re.S))
    for fixed, free in ports.items():
        body = body.replace(f"127.0.0.1:{fixed}", f"127.0.0.1:{free}")
    lines = []
    for line in body.splitlines():
        lines.append(line)
        if line.split("#")[0].rstrip().endswith("&"):
            fixed = {"registry": 4000, "ledger": 8470, "gateway": 5566}[line.split()[1]]
            lines.append(f"for i in $(seq 300); do curl -sf http://127.0.0.1:{ports[fixed]}"
                         f"{READY[fixed]} >/dev/null && break; sleep 0.1; done")
    return ("set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n"
            + "\n".join(lines) + "\n")


@pytest.mark.slow
@pytest.mark.skipif(not (VENV / "bin" / "sild").is_file(), reason="sild is not installed "
                    "as a console script next to this interpreter")
def test_guide_section_16_runs_as_printed(tmp_path: Path) -> None:
    """Every command of §16 exits 0; the read is tracked and the audit passes."""
    me = Employee(CODE, "Mari", "Kask", "Finance", "Accountant", dt.date(2020, 1, 6),
                  312_000)
    ports = {p: free_port() for p in (4000, 8470, 8080, 5500, 5566)}
    with serve_asgi(create_system_app("hr", Company((me,), ()))) as hr:
        ports[9100] = int(hr.rsplit(":", 1)[1])
        script = _script(_section(), ports)
        assert script.count(".venv/bin/sild ") >= 25, script
        (tmp_path / ".venv").symlink_to(VENV)
        venv_bin = os.path.abspath(VENV / "bin")
        env = {k: v for k, v in os.environ.items()
               if k not in ("VIRTUAL_ENV", "PYTHONPATH", "SILD_HOME")}
        env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "/usr/bin:/bin").split(
            os.pathsep) if p and os.path.abspath(p) != venv_bin)
        done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    assert '"department": "Finance"' in done.stdout.replace('":"', '": "'), done.stdout
    assert "Monthly payroll run" in done.stdout, done.stdout
