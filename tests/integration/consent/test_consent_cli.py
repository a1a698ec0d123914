"""`sild consent …` as an operator runs it: a real instance, the real command, a real
`sild consent serve` process asked over HTTP; bad input is one line and exit 2
(docs/guide.md "Consent and locks")."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest

from sild.embedded import free_port
from sild.testing.cli import running, sild
from sild.testing.consent import DOCTOR, PERSON, POLICE


@pytest.fixture
def inst(tmp_path: Path) -> Path:
    root = tmp_path / "inst"
    assert sild("init", str(root), "--instance", "EE") == 0
    assert sild("consent", "init", "--dir", str(root)) == 0
    return root


def consent(inst: Path, *args: str) -> int:
    return sild("consent", *args, "--dir", str(inst))


def test_init_files_and_refuses_twice(inst: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Key and admin token are 0600; a second init is one line, exit 2."""
    for name in ("signing.key", "admin-token"):
        assert (inst / "consent" / name).stat().st_mode & 0o777 == 0o600
    capsys.readouterr()
    assert consent(inst, "init") == 2
    err = capsys.readouterr().err
    assert "exists" in err
    assert len(err.strip().splitlines()) == 1


def test_lock_grant_show_revoke(inst: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The operator flow: lock, list, grant, show (signed JSON), revoke, history."""
    assert consent(inst, "lock", PERSON, "health", "--except", POLICE) == 0
    assert consent(inst, "grant", PERSON, "--consumer", DOCTOR, "--purpose", "treatment",
                   "--category", "health", "--expires", "2099-01-01T00:00:00Z") == 0
    out = capsys.readouterr().out
    cid = re.search(r"consent (\S+) ACTIVE", out).group(1)  # type: ignore[union-attr]
    assert "ACTIVE" in out
    assert "signed artefact: ey" in out
    assert consent(inst, "show", cid) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["status"], shown["detail"]["consumer"]["id"]) == ("ACTIVE", DOCTOR)
    assert consent(inst, "revoke", cid) == 0
    assert consent(inst, "resume", cid) == 2  # REVOKED is final
    assert "cannot be resumed" in capsys.readouterr().err
    assert consent(inst, "locks", PERSON, "--history") == 0
    out = capsys.readouterr().out
    assert "lock" in out
    assert "ACTIVE → REVOKED" in out
    assert consent(inst, "unlock", PERSON, "health") == 0
    assert consent(inst, "unlock", PERSON, "health") == 2


@pytest.mark.parametrize("args", [
    ("lock", "EE38001085719", "health"),
    ("lock", PERSON, "Health"),
    ("lock", PERSON, "health", "--except", "EE/GOV"),
    ("lock", PERSON, "health", "--expires", "soon"),
    ("grant", PERSON, "--consumer", DOCTOR, "--purpose", "t", "--category", "health",
     "--expires", "2020-01-01T00:00:00Z"),
    ("grant", PERSON, "--consumer", DOCTOR, "--purpose", "t", "--category", "health",
     "--expires", "2099-01-01T00:00:00Z", "--data-life", "x"),
    ("show", "no-such-consent"),
    ("revoke", "bad id"),
])
def test_bad_input_one_line_exit_2(inst: Path, capsys: pytest.CaptureFixture[str],
                                   args: tuple[str, ...]) -> None:
    """Each malformed argument: one line on stderr, exit 2, no traceback."""
    capsys.readouterr()
    assert consent(inst, *args) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_without_init(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A consent command in an instance without the service: says to run init."""
    assert sild("init", str(tmp_path / "i"), "--instance", "EE") == 0
    assert sild("consent", "locks", PERSON, "--dir", str(tmp_path / "i")) == 2
    assert "sild consent init" in capsys.readouterr().err


def test_serve_answers_decisions(inst: Path) -> None:
    """`sild consent serve`: a lock made with the CLI is refused over HTTP; Ctrl-C ends it."""
    assert consent(inst, "lock", PERSON, "health") == 0
    port = free_port()
    with running("consent", "serve", "--dir", str(inst), "--listen", f"127.0.0.1:{port}",
                 port=port) as done:
        url = (f"http://127.0.0.1:{port}/v1/decision?subject={PERSON}&category=health"
               f"&client={DOCTOR}&purpose=treatment")
        with urllib.request.urlopen(url, timeout=10) as r:
            answer = json.loads(r.read())
        assert answer["decision"] == "deny"
        assert answer["locked"] == ["health"]
        token = (inst / "consent" / "admin-token").read_text().strip()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/persons/{PERSON}/locks",
                                     headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            listed = json.loads(r.read())["locks"][0]
        assert (listed["category"], listed["active"]) == ("health", True)
    assert done["code"] == 130, done["err"]  # Ctrl-C (sild/cli/_exit.py)
    assert "Traceback" not in str(done["err"])
