"""The CLI starts fast: building the parser imports no heavy library (issue 7).

Timing is measured by bench/bench_cli_startup.py; these tests check the cause instead,
which cannot be flaky: which modules a fresh interpreter has loaded after
``build_parser()`` and after ``sild --help`` / ``sild --version``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("sqlalchemy", "alembic", "fastapi", "starlette", "uvicorn", "aiohttp",
         "cryptography", "structlog", "uvloop")


def _loaded_after(code: str) -> set[str]:
    """Top-level packages a fresh interpreter has imported after running ``code``."""
    probe = (f"{code}\nimport sys, json\n"
             "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    return set(json.loads(out.splitlines()[-1]))


def test_building_the_parser_imports_no_heavy_library() -> None:
    """`build_parser()` loads none of the database, web, HTTP or crypto libraries."""
    loaded = _loaded_after("from sild.cli import build_parser\nbuild_parser()")
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["gateway", "--help"],
                                  ["registry", "member", "add", "--help"]])
def test_help_and_version_import_no_heavy_library(argv: list[str]) -> None:
    """`sild --help`, `sild --version` and sub-command help exit before any heavy import."""
    loaded = _loaded_after(
        "from sild.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n")
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def test_the_parser_still_knows_every_command() -> None:
    """Lazy imports did not drop a command: each top-level command parses its --help."""
    from sild.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) == {"init", "demo", "keys", "ca", "registry", "gateway", "conf",
                                "ledger", "verify", "audit"}


def test_spelled_out_defaults_agree_with_the_library() -> None:
    """The parser's copy of the service timeout default is the gateway's own default."""
    from sild.cli.gateway_services import DEFAULT_TIMEOUT
    from sild.gateway import serverconf

    assert serverconf.DEFAULT_TIMEOUT == DEFAULT_TIMEOUT


def test_key_and_certificate_kinds_are_the_library_enums() -> None:
    """sild.crypto.kinds is what sild.crypto.keys / certs export (one definition)."""
    from sild.crypto import certs, keys, kinds

    assert keys.KeyType is kinds.KeyType
    assert certs.CertPurpose is kinds.CertPurpose
