"""STYLE.md rule 1: ``sild.core`` is pure — no sockets, files, databases, clocks or HTTP.

Read from the source (AST), so the test fails the moment such an import or call is
added, whether or not a test exercises that line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import sild.core

CORE = Path(sild.core.__file__).parent
FORBIDDEN_MODULES = {
    "socket", "ssl", "asyncio", "selectors", "subprocess", "os", "shutil", "pathlib", "io",
    "tempfile", "time", "sqlite3", "http", "urllib.request", "aiohttp", "sqlalchemy",
    "psycopg", "uvicorn", "starlette", "fastapi", "requests", "httpx", "structlog",
}
CLOCK_METHODS = {"now", "utcnow", "today"}  # datetime.now(), date.today(), …
CLOCK_MODULES = {"time"}  # time.time(), time.monotonic(), …


def _modules() -> list[Path]:
    return sorted(CORE.glob("*.py"))


def _imported(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_core_imports_no_io(path: Path) -> None:
    """No core module imports a socket, file, database, clock or HTTP library."""
    imported = _imported(ast.parse(path.read_text()))
    bad = {m for m in imported
           if m in FORBIDDEN_MODULES or m.split(".")[0] in FORBIDDEN_MODULES}
    assert not bad, f"{path.name} imports {sorted(bad)}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_core_reads_no_clock_or_file(path: Path) -> None:
    """No core module calls open(), datetime.now() or a time function."""
    calls = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Attribute):
                receiver = getattr(f.value, "id", "")
                if f.attr in CLOCK_METHODS or receiver in CLOCK_MODULES:
                    calls.append(f"{receiver}.{f.attr}() at line {node.lineno}")
            elif isinstance(f, ast.Name) and f.id == "open":
                calls.append(f"open() at line {node.lineno}")
    assert not calls, f"{path.name} calls {calls}"


def test_the_check_can_fail() -> None:
    """The detector finds a clock read and a socket import in a sample."""
    sample = ast.parse("import socket\nfrom datetime import datetime\nx = datetime.now()\n")
    assert "socket" in _imported(sample)
    assert any(isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "now"
               for n in ast.walk(sample))
