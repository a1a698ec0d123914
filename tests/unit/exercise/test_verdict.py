"""The drill's verdict (sild/exercise): one undetected attack fails it (exit 5), an
attack that breaks counts as undetected, and the CLI reports both forms."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from sild.cli import main
from sild.cli.exercise import report
from sild.exercise import ATTACKS, Attack, Outcome, Result, exit_code, run_attacks


def _attack(outcome: Outcome | None) -> Attack:
    async def run(_: Any) -> Result:
        if outcome is None:
            raise RuntimeError("the target did not answer")
        return FAKE[outcome].result(outcome, "a fake", "made up")

    return Attack(f"fake.{outcome}", "fakes", "a deliberately judged fake", run)


FAKE: dict[Outcome, Attack] = {}
for _o in Outcome:
    FAKE[_o] = _attack(_o)


def _run(*attacks: Attack) -> list[Result]:
    return asyncio.run(run_attacks(None, attacks))  # type: ignore[arg-type]


def test_every_attack_stopped_or_detected_passes() -> None:
    results = _run(FAKE[Outcome.STOPPED], FAKE[Outcome.DETECTED], FAKE[Outcome.SKIPPED])
    assert [r.outcome for r in results] == [Outcome.STOPPED, Outcome.DETECTED, Outcome.SKIPPED]
    assert exit_code(results) == 0


def test_one_undetected_attack_fails_the_drill() -> None:
    results = _run(FAKE[Outcome.STOPPED], FAKE[Outcome.UNDETECTED], FAKE[Outcome.DETECTED])
    assert exit_code(results) == 5


def test_an_attack_that_breaks_counts_as_undetected() -> None:
    """A drill that could not judge an attack must not pass silently."""
    results = _run(FAKE[Outcome.STOPPED], _attack(None))
    assert results[1].outcome is Outcome.UNDETECTED
    assert "RuntimeError: the target did not answer" in results[1].evidence
    assert exit_code(results) == 5


def test_json_report(capsys: pytest.CaptureFixture[str]) -> None:
    report(_run(FAKE[Outcome.STOPPED], FAKE[Outcome.UNDETECTED]), as_json=True)
    doc = json.loads(capsys.readouterr().out)
    assert doc["passed"] is False
    assert doc["counts"] == {"stopped": 1, "detected": 0, "undetected": 1, "skipped": 0}
    assert doc["attacks"][1] == {"attack": "fake.undetected", "family": "fakes",
                                 "outcome": "undetected", "by": "a fake",
                                 "evidence": "made up"}


def test_table_report_names_the_undetected(capsys: pytest.CaptureFixture[str]) -> None:
    report(_run(FAKE[Outcome.STOPPED], FAKE[Outcome.UNDETECTED]), as_json=False)
    assert "FAILED: undetected: fake.undetected" in capsys.readouterr().out


def test_attack_names_are_unique_and_listed(capsys: pytest.CaptureFixture[str]) -> None:
    names = [a.name for a in ATTACKS]
    assert len(names) == len(set(names)) >= 13
    assert main(["exercise", "--demo-dir", "x", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(n in out for n in names)


def test_not_a_demo_folder_is_one_line(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["exercise", "--demo-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1, err  # ConfigurationError: a local problem (sild/cli/_exit.py)
    assert err.startswith("sild: error:")
    assert "not a `sild demo` folder" in err
    assert "Traceback" not in err


def test_only_and_skip_that_leave_nothing(capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path) -> None:
    assert main(["exercise", "--demo-dir", str(tmp_path), "--only", "nosuch"]) != 0
    assert "leave no attack" in capsys.readouterr().err
