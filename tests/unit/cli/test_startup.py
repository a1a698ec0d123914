"""The CLI starts fast: building the parser imports no heavy library (issue 7).

Timing is measured by bench/bench_cli_startup.py; these tests check the cause instead,
which cannot be flaky: which modules a fresh interpreter has loaded after
``build_parser()`` and after ``sild --help`` / ``sild --version``.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

HEAVY = {"sqlalchemy", "alembic", "fastapi", "starlette", "uvicorn", "aiohttp",
         "cryptography", "structlog", "uvloop"}


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
    assert loaded.isdisjoint(HEAVY), sorted(loaded & HEAVY)


def test_building_the_parser_defers_rich_logging_and_asyncio() -> None:
    """Even rich, logging and asyncio wait until a command prints, logs or awaits."""
    loaded = _loaded_after("from sild.cli import build_parser\nbuild_parser()")
    assert loaded.isdisjoint({"rich", "logging", "asyncio"}), loaded


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
    assert loaded.isdisjoint(HEAVY), sorted(loaded & HEAVY)


def test_the_parser_still_knows_every_command() -> None:
    """Lazy imports dropped no command: every top-level command is still registered."""
    from sild.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) == {"init", "demo", "keys", "ca", "registry", "gateway", "conf",
                                "ledger", "verify", "audit", "identity", "doc",
                                "tracker", "consent", "embassy", "notify", "exercise",
                                "registers", "portal"}


def test_spelled_out_defaults_agree_with_the_library() -> None:
    """The parser's copy of the service timeout default is the gateway's own default."""
    from sild.cli.gateway_services import DEFAULT_TIMEOUT
    from sild.gateway.serverconf import store as serverconf

    assert serverconf.DEFAULT_TIMEOUT == DEFAULT_TIMEOUT


def test_notify_default_port_is_the_services() -> None:
    """`sild notify serve`'s default listen port is the notification app's DEFAULT_PORT."""
    from sild.cli.notify import DEFAULT_LISTEN
    from sild.notify.app import DEFAULT_PORT

    assert f"127.0.0.1:{DEFAULT_PORT}" == DEFAULT_LISTEN


def test_key_and_certificate_kinds_are_the_library_enums() -> None:
    """sild.crypto.kinds is what sild.crypto.keys / certs export (one definition)."""
    from sild.crypto import certs, keys, kinds

    assert keys.KeyType is kinds.KeyType
    assert certs.CertPurpose is kinds.CertPurpose


@pytest.fixture(scope="module")
def offline_inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A signed global configuration, its anchor and cache, a receipt and its key (pure core)."""
    from datetime import UTC, datetime

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from sild.confclient._cache import CONF_FILE
    from sild.core.anchor import encode_anchor
    from sild.core.calendar import CalendarRecord, RoundClock
    from sild.core.checkpoint import Checkpoint, sign_checkpoint
    from sild.core.globalconf import sign_globalconf
    from sild.core.merkle import MerkleTree, leaf_hash
    from sild.core.note import Ed25519Signer
    from sild.core.receipt import ReceiptExtra, format_receipt
    from sild.core.tlogproof import RoundPath
    from sild.testing.confdouble import make_anchor, make_conf

    d = tmp_path_factory.mktemp("offline")
    key = Ed25519PrivateKey.generate()
    (d / "cache").mkdir()
    now = datetime.now(UTC).replace(microsecond=0)
    conf = sign_globalconf(make_conf([key], issued_at=now), [key])
    (d / "cache" / CONF_FILE).write_bytes(conf)
    (d / "anchor.json").write_bytes(encode_anchor(make_anchor([key])))
    # One document in round 0 of a one-round calendar, signed by a ledger key.
    doc = b"a small document\n"
    (d / "doc.txt").write_bytes(doc)
    imprint = b"\x01" + hashlib.sha256(doc).digest()
    clock = RoundClock(1_700_000_000_000, 1000)
    tree = MerkleTree([leaf_hash(imprint)])
    cal = MerkleTree([CalendarRecord(clock.end_ms(0), 1, tree.root()).leaf()])
    log = Ed25519Signer("ledger.test/cal", Ed25519PrivateKey.generate())
    cp = sign_checkpoint(Checkpoint(log.name, 1, cal.root()), signer=log, cosigners=[])
    extra = ReceiptExtra(imprint, clock.end_ms(0), RoundPath(0, 1, 0, ()))
    (d / "doc.tlog").write_bytes(format_receipt(extra=extra, calendar_proof=[],
                                                checkpoint=cp))
    (d / "vkey").write_text(log.verifier().vkey() + "\n")
    return {k: str(d / k) for k in ("cache", "anchor.json", "doc.txt", "doc.tlog", "vkey")} | {
        "conf": str(d / "cache" / CONF_FILE)}


@pytest.mark.parametrize("command", ["conf show", "conf verify", "verify"])
def test_commands_marked_no_logs_never_import_structlog(
        command: str, offline_inputs: dict[str, str]) -> None:
    """A command marked no_logs runs to exit 0 without importing structlog (it cannot log)."""
    f = offline_inputs
    argv = {
        "conf show": ["conf", "show", "--cache", f["cache"]],
        "conf verify": ["conf", "verify", "--anchor", f["anchor.json"], f["conf"]],
        "verify": ["verify", f["doc.tlog"], "--file", f["doc.txt"], "--key", f["vkey"]],
    }[command]
    loaded = _loaded_after(
        "import contextlib, io\n"
        "from sild.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert main({argv!r}) == 0\n")
    assert "structlog" not in loaded
    assert loaded.isdisjoint(HEAVY - {"cryptography"}), sorted(loaded & HEAVY)


def test_the_lazy_console_is_a_real_console_once_used() -> None:
    """lazy_console prints through rich and forwards attribute writes to the real console."""
    import io

    from sild.cli._common import lazy_console

    out = io.StringIO()
    c = lazy_console(file=out, highlight=False)
    c.width = 33
    c.print("x" * 40)
    assert c.width == 33
    assert out.getvalue().splitlines()[0] == "x" * 33


def test_registers_spelled_out_defaults_agree_with_the_library() -> None:
    """`sild registers`' default port and sizes are the registers' own."""
    from sild.cli.registers import _SIZES, DEFAULT_LISTEN
    from sild.registers.app import DEFAULT_PORT
    from sild.registers.generate import SIZES

    assert f"127.0.0.1:{DEFAULT_PORT}" == DEFAULT_LISTEN
    assert tuple(SIZES) == _SIZES
