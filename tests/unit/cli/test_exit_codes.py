"""Exit codes in one place (sild/cli/_exit.py; docs/operations.md "Exit codes")."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

import sild.cli.verify
from sild.cli import main
from sild.cli._exit import Exit, exit_code
from sild.errors import (
    AccessDenied,
    ConfigurationError,
    GlobalConfExpired,
    InvalidRequest,
    LocalError,
    NotFound,
    RemoteError,
    ServiceUnavailable,
    SildError,
    StorageError,
    TransportError,
)

CASES = [
    (ConfigurationError("bad folder"), 1),
    (NotFound("no such request"), 1),
    (StorageError("database refused"), 1),
    (LocalError("ours"), 1),
    (SildError("unclassified"), 1),
    (InvalidRequest("bad file"), 2),
    (AccessDenied("not allowed"), 2),
    (GlobalConfExpired("too old"), 2),
    (RemoteError("theirs"), 2),
    (TransportError("registry unreachable"), 3),
    (ServiceUnavailable("maintenance mode"), 3),
    (StorageError("cannot reach the database: connection refused\n\tIs the server running?"), 1),
    (KeyboardInterrupt(), 130),
]


@pytest.mark.parametrize(("error", "code"), CASES, ids=lambda v: type(v).__name__)
def test_each_error_class_has_its_code(error: BaseException, code: int) -> None:
    """exit_code maps each branch of the error tree to the documented code."""
    assert exit_code(error) == code


def test_a_foreign_exception_is_not_given_a_code() -> None:
    """Only Sild's errors and Ctrl-C have codes; anything else is a bug (a traceback)."""
    with pytest.raises(TypeError):
        exit_code(ValueError("a bug"))


@pytest.mark.parametrize(("error", "code"), CASES, ids=lambda v: type(v).__name__)
def test_main_returns_the_code_with_one_line_on_stderr(
        error: BaseException, code: int, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A command that raises ends main([...]) with its code and exactly one stderr line."""
    def fails(args: argparse.Namespace) -> int:
        raise error

    monkeypatch.setattr(sild.cli.verify, "run_verify", fails)
    assert main(["verify", "R", "--hash", "00"]) == code
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith("sild: error: " if code != 130 else "sild: interrupted")


def test_usage_error_exits_2_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """An argparse usage error (unknown option) is bad input: exit 2, one line."""
    with pytest.raises(SystemExit) as e:
        main(["verify", "--no-such-option"])
    assert e.value.code == 2
    assert len(capsys.readouterr().err.splitlines()) == 1


def test_bad_argument_value_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A malformed --hash is bad input (InvalidRequest): exit 2."""
    receipt = tmp_path / "r.tlog"
    receipt.write_text("not a receipt")
    assert main(["verify", str(receipt), "--hash", "zz"]) == 2
    assert "--hash must be hexadecimal" in capsys.readouterr().err


def test_missing_instance_folder_exits_1(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """A folder that is not an instance is our side (ConfigurationError): exit 1."""
    assert main(["registry", "member", "list", "--dir", str(tmp_path / "nothing")]) == 1
    assert len(capsys.readouterr().err.splitlines()) == 1


def test_the_documented_table_matches_the_codes() -> None:
    """docs/operations.md lists every code of Exit, and no other."""
    doc = (Path(__file__).parents[3] / "docs" / "operations.md").read_text()
    section = doc.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(m) for m in re.findall(r"^\| (\d+) \|", section, flags=re.M)}
    assert documented == {int(c) for c in Exit}
