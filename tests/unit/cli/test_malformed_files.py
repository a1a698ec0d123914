"""Files named on the command line that are missing, a folder or binary: one line, no
traceback (helper-common bar; docs/operations.md "Exit codes")."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sild.cli import main

BINARY = bytes(range(256)) * 2  # not UTF-8


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "binary").write_bytes(BINARY)
    (tmp_path / "folder").mkdir()
    (tmp_path / "doc.txt").write_text("a document\n")
    (tmp_path / "receipt").write_text("not a receipt\n")
    return {name: str(tmp_path / name) for name in ("binary", "folder", "doc.txt", "receipt")}


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("sild: error: ")
    return lines[0]


def test_binary_key_file_is_bad_input(files: dict[str, str],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """`sild verify --key BINARYFILE`: exit 2, says the file is not text."""
    argv = ["verify", files["receipt"], "--file", files["doc.txt"], "--key", files["binary"]]
    assert main(argv) == 2
    assert "is not UTF-8 text" in _one_error_line(capsys)


def test_binary_policy_file_is_bad_input(files: dict[str, str],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """`sild verify --policy BINARYFILE`: exit 2, one line."""
    argv = ["verify", files["receipt"], "--file", files["doc.txt"], "--policy", files["binary"]]
    assert main(argv) == 2
    assert "--policy" in _one_error_line(capsys)


@pytest.mark.parametrize("which", ["folder", "missing"])
def test_unreadable_policy_file_is_one_line(which: str, files: dict[str, str],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """`sild verify --policy` naming a folder or nothing: exit 1 (cannot read), one line."""
    policy = files["folder"] if which == "folder" else files["folder"] + "-missing"
    argv = ["verify", files["receipt"], "--file", files["doc.txt"], "--policy", policy]
    assert main(argv) == 1
    assert "cannot read" in _one_error_line(capsys)


@pytest.mark.parametrize("which", ["folder", "binary"])
def test_receipt_that_is_a_folder_or_binary(which: str, files: dict[str, str],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """A folder as RECEIPT cannot be read (1); binary bytes are a receipt that FAILs (5)."""
    code = main(["verify", files[which], "--file", files["doc.txt"]])
    if which == "folder":
        assert code == 1
        _one_error_line(capsys)
    else:
        assert code == 5
        out = capsys.readouterr()
        assert out.err == ""
        assert out.out.splitlines()[-1].startswith("FAIL ")


def test_binary_witness_log_key_is_bad_input(files: dict[str, str], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """`sild ledger witness init --log BINARYFILE`: exit 2, one line, no folder made."""
    folder = tmp_path / "witness"
    assert main(["ledger", "witness", "init", str(folder), "--name", "w.test/w",
                 "--log", files["binary"]]) == 2
    assert "is not UTF-8 text" in _one_error_line(capsys)
    assert not os.path.exists(folder)
