"""``sild tracker …`` and ``sild gateway service personal`` as an operator runs them
(docs/guide.md "Data tracker"), with their bad-input answers (one line, exit 2)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sild.core.identifiers import ServerId
from sild.core.usage_proof import verify_usage_proof
from sild.gateway.config import GatewaySettings
from sild.gateway.messagelog.log import MessageLog
from sild.gateway.messagelog.usage import UsageRecord
from sild.store import make_engine, migrate
from sild.testing.cli import own_lines, sild

REG = "EE/GOV/70000001/rr"
ANN = "EE60001017869"


@pytest.fixture
def gwdir(tmp_path: Path, db_url: str) -> Path:
    root = tmp_path / "gw"
    GatewaySettings(root=root, server=ServerId.parse("EE/GOV/70000001/gw1"),
                    database_url=db_url).write()
    engine = make_engine(db_url)
    migrate(engine, "messagelog")
    now = datetime.now(UTC)

    async def write() -> None:
        mlog = MessageLog(engine)
        await mlog.start()
        for i, age in enumerate((400, 30, 2, 1)):  # days ago; the first is past retention
            await mlog.append(UsageRecord(
                register=REG, subject=ANN, logged_at=now - timedelta(days=age),
                action=f"Lookup {i}", receiver="EE/GOV/70008747/polis",
                receiver_name="Police", service=f"{REG}/person",
                flags=("sealed",) if i == 2 else ()))
        await mlog.close()
    asyncio.run(write())
    engine.dispose()
    return root


def test_find_proof_unseal_and_expire(gwdir: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert sild("tracker", "find", "--dir", str(gwdir), REG, ANN, "--json") == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["totalUsages"] == 3  # the sealed one is left out
    assert answer["usages"][0]["action"] == "Lookup 3"
    out = tmp_path / "proof.json"
    assert sild("tracker", "proof", "--dir", str(gwdir), REG, ANN, "--out", str(out),
                "--from", "2000-01-01T00:00:00Z") == 0
    result = verify_usage_proof(json.loads(out.read_text()))
    assert result.ok
    assert (result.records, result.sealed) == (3, 1)
    capsys.readouterr()
    assert sild("tracker", "verify", str(out)) == 0
    assert "OK: EE60001017869" in capsys.readouterr().out
    broken = json.loads(out.read_text())
    broken["records"][1]["content"]["action"] = "Something else"
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    assert sild("tracker", "verify", str(tmp_path / "broken.json")) == 5
    assert "record 2 altered" in capsys.readouterr().out
    for bad in (tmp_path, tmp_path / "none.json", gwdir / "gateway.toml"):
        assert sild("tracker", "verify", str(bad)) == 2
        err = capsys.readouterr().err
        assert err.startswith("sild: error:")
    assert sild("tracker", "sealed", "--dir", str(gwdir)) == 0
    listing = capsys.readouterr().out
    assert "EE/GOV/70008747/polis" in listing
    record_id = next(line.split("│")[1].strip() for line in listing.splitlines()
                     if "polis" in line)
    assert sild("tracker", "unseal", "--dir", str(gwdir), record_id,
                "--decision", "Harju Maakohus 1-26-77") == 0
    assert sild("tracker", "find", "--dir", str(gwdir), REG, ANN, "--json") == 0
    assert json.loads(capsys.readouterr().out.split("\n", 1)[1])["totalUsages"] == 5
    assert sild("tracker", "expire", "--dir", str(gwdir)) == 0
    assert "1 usage records older than 365 days deleted" in capsys.readouterr().out
    assert sild("tracker", "proof", "--dir", str(gwdir), REG, ANN, "--out", str(out)) == 0
    assert verify_usage_proof(json.loads(out.read_text())).ok


@pytest.mark.parametrize(("argv", "message"), [
    (["find", REG, "EE60001017860"], "check digit"),
    (["find", REG, "nobody"], "personal code"),
    (["find", "not/a/subsystem", ANN], ""),
    (["find", REG, ANN, "--from", "yesterday"], "RFC 3339"),
    (["proof", REG, ANN, "--out", "."], "is a folder"),
    (["proof", REG, ANN, "--out", "/no/such/folder/p.json"], "does not exist"),
    (["unseal", "999999", "--decision", "x"], "no usage record"),
    (["unseal", "1", "--decision", "  "], "court decision"),
])
def test_bad_input_is_one_line(gwdir: Path, argv: list[str], message: str,
                               capsys: pytest.CaptureFixture[str]) -> None:
    code = sild("tracker", argv[0], "--dir", str(gwdir), *argv[1:])
    err = own_lines(capsys.readouterr().err)
    assert code in (1, 2)
    assert "Traceback" not in err
    assert err.startswith("sild: error:") or "usage:" in err
    assert message in err


def test_a_missing_gateway_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert sild("tracker", "sealed", "--dir", str(tmp_path / "none")) == 1
    assert "not a gateway folder" in capsys.readouterr().err


def test_declaring_a_personal_data_service(gwdir: Path, capsys: pytest.CaptureFixture[str]
                                           ) -> None:
    d = str(gwdir)
    assert sild("gateway", "service", "add", "--dir", d, REG, "person",
                "http://127.0.0.1:9/person") == 0
    assert sild("gateway", "service", "personal", "--dir", d, f"{REG}/person",
                "--category", "population", "--legal-basis", "RRS §27") == 0
    assert "carries personal data (population)" in capsys.readouterr().out
    for bad, message in ((["--category", "Health!"], "data category"), ([], "at least one"),
                         (["--category", "x", "--max-subjects", "0"], "max subjects"),
                         (["--none", "--bulk"], "--none takes")):
        assert sild("gateway", "service", "personal", "--dir", d, f"{REG}/person", *bad) == 2
        assert message in capsys.readouterr().err
    assert sild("gateway", "service", "personal", "--dir", d, f"{REG}/person", "--none") == 0


def test_retention_per_register(gwdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """[tracker.retention] overrides retention_days for one register (§5.3)."""
    toml = gwdir / "gateway.toml"
    toml.write_text(toml.read_text() + f'\n[tracker.retention]\n"{REG}" = 20\n')
    assert sild("tracker", "expire", "--dir", str(gwdir)) == 0
    out = capsys.readouterr().out
    assert "0 usage records older than 365 days deleted" in out
    assert f"{REG}: 2 usage records older than 20 days deleted" in out
    assert sild("tracker", "find", "--dir", str(gwdir), REG, ANN, "--json") == 0
    assert json.loads(capsys.readouterr().out)["totalUsages"] == 1  # the sealed one hidden
