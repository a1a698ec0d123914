"""`sild registers generate` and `sild registers serve` (docs/spec/registers.md §6)."""

from __future__ import annotations

import json
import tomllib
import urllib.request
from pathlib import Path

import pytest

from sild.embedded import free_port
from sild.registers.generate import generate
from sild.registers.openapi import openapi_json
from sild.testing.cli import running, sild


def _get(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=10) as r:
        out: dict[str, object] = json.loads(r.read())
    return out


def test_generate_then_serve(db_url: str, tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    """generate writes the seed's persons to the database; serve answers them; a second
    generate into the same folder is refused (exit 2) and changes nothing."""
    folder = tmp_path / "registers"
    assert sild("registers", "generate", "--dir", str(folder), "--seed", "9",
                "--size", "small", "--database", db_url) == 0
    assert "100 pop_persons" in capsys.readouterr().out
    conf = tomllib.loads((folder / "registers.toml").read_text())["registers"]
    assert (conf["seed"], conf["size"]) == (9, "small")
    assert (folder / "openapi" / "tax.json").read_bytes() == openapi_json("tax")
    assert sild("registers", "generate", "--dir", str(folder), "--seed", "10") == 2
    assert "already holds registers" in capsys.readouterr().err
    person = generate(seed=9, size="small")["pop_persons"][5]
    port = free_port()
    with running("registers", "serve", "--dir", str(folder), "--listen",
                 f"127.0.0.1:{port}", port=port) as done:
        body = _get(f"http://127.0.0.1:{port}/population/persons/{person['code']}")
        assert body["givenName"] == person["given_name"]
        index = _get(f"http://127.0.0.1:{port}/")
        assert set(index["registers"]) == {  # type: ignore[arg-type]
            "population", "health", "business", "tax", "vehicles", "land"}
    assert done["code"] == 130, done["err"]  # Ctrl-C (sild/cli/_exit.py)
    assert "Traceback" not in str(done["err"])


@pytest.mark.parametrize("argv", [
    ["registers", "generate", "--dir", "{d}", "--size", "huge"],
    ["registers", "generate", "--dir", "{d}", "--seed", "x"],
    ["registers", "generate", "--dir", "{d}", "--database", "mysql://x"],
    ["registers", "serve", "--dir", "{d}"],  # nothing generated there
    ["registers", "serve", "--dir", "{d}", "--listen", "nowhere"],
])
def test_bad_input_is_one_line_and_exit_2(argv: list[str], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Bad sizes, seeds, URLs, folders and listen addresses: one line, no traceback."""
    try:
        code = sild(*(a.replace("{d}", str(tmp_path / "r")) for a in argv))
    except SystemExit as e:  # argparse's own usage errors
        code = int(str(e.code))
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2  # argparse prints usage + one error line
