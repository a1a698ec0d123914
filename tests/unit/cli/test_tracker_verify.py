"""``sild tracker verify`` (src/sild/cli/tracker_verify.py; docs/spec/tracker.md §3.4.4)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from sild.cli.tracker_verify import add_verify_parser
from sild.errors import ConfigurationError, InvalidRequest
from sild.testing.headmap import anchored_proof

PROOF, POLICY = anchored_proof(5, others={})


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="sild tracker")
    add_verify_parser(parser.add_subparsers())
    args = parser.parse_args(["verify", *argv])
    code: int = args.func(args)
    return code


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    proof = tmp_path / "proof.json"
    proof.write_text(json.dumps(PROOF))
    key = tmp_path / "ledger.vkey"
    key.write_text(POLICY.log_keys[0].vkey() + "\n")
    return proof, key


def test_ok_with_the_ledger_key(files: tuple[Path, Path],
                                capsys: pytest.CaptureFixture[str]) -> None:
    proof, key = files
    assert _run(str(proof), "--ledger-key", str(key)) == 0
    assert capsys.readouterr().out.startswith("OK: ")


def test_na_without_a_trust_anchor(files: tuple[Path, Path],
                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(str(files[0])) == 4
    assert capsys.readouterr().out.startswith("NA [GEN-01]")


def test_fail_names_the_record(files: tuple[Path, Path], tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    doc = json.loads(files[0].read_text())
    doc["records"][2]["content"]["action"] = "Forged"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    assert _run(str(bad), "--ledger-key", str(files[1])) == 5
    assert "record 3 altered" in capsys.readouterr().out


@pytest.mark.parametrize("text", ["not json", "[1, 2]", "{", ""])
def test_a_file_that_is_not_a_proof_is_bad_input(tmp_path: Path, text: str) -> None:
    path = tmp_path / "x.json"
    path.write_text(text)
    with pytest.raises(InvalidRequest):
        _run(str(path))


def test_a_missing_file_or_key(tmp_path: Path, files: tuple[Path, Path]) -> None:
    with pytest.raises(InvalidRequest):
        _run(str(tmp_path / "missing.json"))
    with pytest.raises((ConfigurationError, InvalidRequest)):
        _run(str(files[0]), "--ledger-key", "not a key")


def test_a_json_object_that_is_not_a_proof_fails(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"type": "something else"}')
    assert _run(str(path)) == 5
    assert "malformed" in capsys.readouterr().out


def test_since_an_earlier_proof(files: tuple[Path, Path], tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    """--since: the new proof must extend the head of one kept from before."""
    earlier, key = files
    later = tmp_path / "later.json"
    later.write_text(json.dumps(anchored_proof(8, others={}, round_id=9)[0]))
    assert _run(str(later), "--ledger-key", str(key), "--since", str(earlier)) == 0
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(anchored_proof(8, others={}, round_id=9, action="X")[0]))
    assert _run(str(forged), "--ledger-key", str(key)) == 0  # alone it looks fine
    capsys.readouterr()
    assert _run(str(forged), "--ledger-key", str(key), "--since", str(earlier)) == 5
    assert "record 5 rewritten since the earlier proof" in capsys.readouterr().out


def test_a_plain_proof_without_a_key_is_the_chain_check_alone(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """As before the head map: exit 0, and the output says the head was not checked."""
    plain = {k: v for k, v in PROOF.items() if k not in ("anchor", "unanchored", "current")}
    plain["records"] = PROOF["records"]
    path = tmp_path / "plain.json"
    path.write_text(json.dumps(plain))
    assert _run(str(path)) == 0
    assert "not checked against the ledger" in capsys.readouterr().out
    assert _run(str(path), "--json") == 0
    assert json.loads(capsys.readouterr().out)["anchor"] is None
