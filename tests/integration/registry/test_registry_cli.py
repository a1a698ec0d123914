"""`sild registry` member/subsystem/group edit and remove, as an operator runs them:
`sild init`, the registry as a real process, each change checked through the real
configuration client (fetch, verify against anchor.json). SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from sild.cli import main
from sild.confclient import ConfClient
from sild.core.anchor import parse_anchor
from sild.core.globalconf import GlobalConf
from sild.core.identifiers import MemberId, SubsystemId
from sild.instance import find_instance
from sild.store import make_engine
from sild.store import registry_tables as t
from sild.testing.servers import free_port

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

GOV = "EE/GOV/70000001"


def sild(*args: str) -> int:
    try:
        return main(list(args))
    except SystemExit as e:  # argparse usage errors
        return int(e.code or 0)


@pytest.fixture
def root(tmp_path: Path, db_url: str) -> Path:
    """An initialised instance folder (no registry process)."""
    folder = tmp_path / "inst"
    extra = [] if db_url.startswith("sqlite") else ["--database", db_url]
    assert sild("init", str(folder), "--instance", "EE", "--listen",
                f"127.0.0.1:{free_port()}", *extra) == 0
    return folder


def _start(root: Path, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`sild registry serve` as a real process; waits until it answers."""
    inst = find_instance(str(root))
    url = f"http://{inst.registry_listen}"
    log = log_path.open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "sild.cli", "registry", "serve",
                             "--dir", str(root)], stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ})
    log.close()
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(url + "/openapi.json", timeout=1).close()
            return proc, url
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise RuntimeError(f"registry did not start: {log_path.read_text()}") from None
            time.sleep(0.1)


@pytest.fixture
def served(root: Path, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    proc, url = _start(root, tmp_path / "registry.log")
    try:
        yield root, url
    finally:
        proc.terminate()
        proc.wait(10)


def _fetch(client: ConfClient) -> GlobalConf:
    """What a gateway gets: downloaded and verified against anchor.json (§4)."""
    return asyncio.run(client.refresh()).conf


def test_guide_section_5_group_commands_run_as_printed(
    served: tuple[Path, str], tmp_path: Path
) -> None:
    """docs/guide.md §5: `group add EE/security-servers` (no --description) publishes a
    document every gateway accepts."""
    root, _ = served
    d = ["--dir", str(root)]
    client = ConfClient(parse_anchor((root / "anchor.json").read_bytes()), tmp_path / "gw")
    assert sild("registry", "member", "add", GOV, "--name", "Population Register", *d) == 0
    assert sild("registry", "subsystem", "add", f"{GOV}/rr", *d) == 0
    assert sild("registry", "group", "add", "EE/security-servers", *d) == 0
    assert sild("registry", "group", "add-member", "EE/security-servers", f"{GOV}/rr", *d) == 0
    assert sild("registry", "group", "list", *d) == 0
    conf = _fetch(client)
    (group,) = conf.global_groups
    assert (str(group.id), group.description) == ("EE/security-servers", "security-servers")
    assert [str(m) for m in group.members] == [f"{GOV}/rr"]


def test_each_edit_and_removal_reaches_the_gateways(
    served: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """member edit/remove, subsystem remove, group edit/remove: each is in the next
    document that the configuration client fetches and verifies."""
    root, _ = served
    d = ["--dir", str(root)]
    client = ConfClient(parse_anchor((root / "anchor.json").read_bytes()), tmp_path / "gw")
    gov = MemberId.parse(GOV)
    assert sild("registry", "member", "add", GOV, "--name", "Ministry", *d) == 0
    assert sild("registry", "subsystem", "add", f"{GOV}/rr", *d) == 0
    assert sild("registry", "group", "add", "EE/g", "--description", "Group", *d) == 0
    assert sild("registry", "group", "add-member", "EE/g", f"{GOV}/rr", *d) == 0
    first = _fetch(client)

    assert sild("registry", "member", "edit", GOV, "--name", "Population Register", *d) == 0
    assert sild("registry", "group", "edit", "EE/g", "--description", "All of them", *d) == 0
    conf = _fetch(client)
    assert conf.version == first.version + 2
    assert conf.member(gov).name == "Population Register"  # type: ignore[union-attr]
    assert conf.global_groups[0].description == "All of them"

    capsys.readouterr()
    assert sild("registry", "subsystem", "remove", f"{GOV}/rr", *d) == 0
    assert "with 1 group membership(s)" in capsys.readouterr().out
    conf = _fetch(client)
    assert not conf.has_client(SubsystemId(gov, "rr"))
    assert conf.group_members(conf.global_groups[0].id) == ()

    assert sild("registry", "group", "remove", "EE/g", *d) == 0
    assert sild("registry", "member", "remove", GOV, *d) == 0
    conf = _fetch(client)
    assert conf.global_groups == ()
    assert conf.member(gov) is None


def test_member_with_subsystems_needs_cascade(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """member remove refuses a member with subsystems (exit 2, one line); --cascade removes."""
    d = ["--dir", str(root)]
    assert sild("registry", "member", "add", GOV, "--name", "Ministry", *d) == 0
    assert sild("registry", "subsystem", "add", f"{GOV}/rr", *d) == 0
    capsys.readouterr()
    assert sild("registry", "member", "remove", GOV, *d) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"sild: error: member {GOV} still has subsystem(s) {GOV}/rr;")
    assert "--cascade" in err
    assert sild("registry", "member", "remove", GOV, "--cascade", *d) == 0
    assert "removed (with 1 subsystem(s))" in capsys.readouterr().out


def _state(root: Path) -> tuple[object, ...]:
    """Everything the commands could change, read straight from the database."""
    engine = make_engine(find_instance(str(root)).database_url)
    try:
        with engine.connect() as conn:
            return tuple(tuple(sorted(map(tuple, conn.execute(sa.select(table)).all())))
                         for table in (t.conf_state, t.members, t.subsystems, t.global_groups,
                                       t.global_group_members))
    finally:
        engine.dispose()


LONG = "x" * 256


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["member", "edit", "EE/GOV/404", "--name", "x"], "member EE/GOV/404 is not registered"),
        (["member", "edit", "EE/GOV", "--name", "x"], "member identifier 'EE/GOV' has 2 parts"),
        (["member", "edit", GOV, "--name", LONG], "member name must be 1-255 characters"),
        (["member", "edit", GOV, "--name", ""], "member name must be 1-255 characters"),
        (["member", "edit", GOV, "--name", "  "], "member name must be 1-255 characters"),
        (["member", "edit", GOV, "--name", "a\x1bb"], "must not contain control characters"),
        (["member", "edit", GOV], "the following arguments are required: --name"),
        (["member", "add", "EE/COM/1", "--name", LONG], "member name must be 1-255 characters"),
        (["member", "remove", "EE/GOV/404"], "member EE/GOV/404 is not registered"),
        (["member", "remove", "EE/GOV/7 1"], "may only use A-Z a-z 0-9"),
        (["member", "remove", "FI/GOV/1"], "FI/GOV/1 is not in instance EE"),
        (["subsystem", "remove", f"{GOV}/nope"], f"subsystem {GOV}/nope is not registered"),
        (["subsystem", "remove", GOV], "subsystem identifier"),
        (["subsystem", "remove", f"{GOV}/{'s' * 256}"], "longer than 255 characters"),
        (["group", "edit", "EE/nope", "--description", "x"], "no global group EE/nope"),
        (["group", "edit", "EE/g", "--description", ""], "group description must be 1-1024"),
        (["group", "edit", "EE/g", "--description", "d" * 1025],
         "group description must be 1-1024"),
        (["group", "edit", "EE/g/x", "--description", "x"], "global group identifier"),
        (["group", "add", "EE/h", "--description", ""], "group description must be 1-1024"),
        (["group", "remove", "EE/nope"], "no global group EE/nope"),
        (["group", "remove", ""], "global group identifier"),
        (["group", "remove-member", "EE/g", f"{GOV}/rr"], f"{GOV}/rr is not in global group"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_changes_nothing(
    root: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    """Unknown, malformed or over-long input: exit 2, one line, no traceback, no change."""
    d = ["--dir", str(root)]
    assert sild("registry", "member", "add", GOV, "--name", "Ministry", *d) == 0
    assert sild("registry", "group", "add", "EE/g", *d) == 0
    before = _state(root)
    capsys.readouterr()
    assert sild("registry", *argv, *d) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2  # argparse adds a usage line
    assert _state(root) == before


def test_registry_started_on_bad_data_says_so_and_can_be_repaired(
    root: Path, tmp_path: Path
) -> None:
    """A registry whose database holds a record gateways would refuse still starts (with a
    warning), /healthz is 500 with the reason, and the new commands repair it."""
    engine = make_engine(find_instance(str(root)).database_url)
    with engine.begin() as conn:  # what an older release let through
        conn.execute(t.global_groups.insert().values(id="EE/security-servers", description=""))
        conn.execute(t.conf_state.update().values(version=t.conf_state.c.version + 1))
    engine.dispose()
    proc, url = _start(root, tmp_path / "registry.log")
    try:
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(url + "/healthz", timeout=5)
        assert e.value.code == 500
        assert "description: must be 1-1024 characters" in json.loads(e.value.read())["reason"]
        assert sild("registry", "group", "edit", "EE/security-servers", "--description",
                    "Security servers", "--dir", str(root)) == 0
        with urllib.request.urlopen(url + "/healthz", timeout=5) as r:
            assert json.loads(r.read())["status"] == "ok"
    finally:
        proc.terminate()
        proc.wait(10)
    assert "sild: warning:" in (tmp_path / "registry.log").read_text()


def test_purposes_reach_the_gateways(served: tuple[Path, str], tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """`sild registry purpose add|list|remove` (docs/spec/tracker.md §1): a registered
    purpose is in the next signed configuration; bad input is one line, exit 2."""
    root, _ = served
    d = ["--dir", str(root)]
    client = ConfClient(parse_anchor((root / "anchor.json").read_bytes()), tmp_path / "gw")
    assert sild("registry", "purpose", "add", "tx-101", "Treatment of the patient", *d) == 0
    assert sild("registry", "purpose", "list", *d) == 0
    assert "Treatment of the patient" in capsys.readouterr().out
    conf = _fetch(client)
    assert [(p.code, p.text) for p in conf.purposes] == [("tx-101", "Treatment of the patient")]
    for bad in (["add", "tx-101", "again"], ["add", "x" * 65, "t"], ["add", "c", ""],
                ["remove", "nope"]):
        assert sild("registry", "purpose", *bad, *d) in (1, 2)
        err = capsys.readouterr().err
        assert "sild: error:" in err
        assert "Traceback" not in err
    assert sild("registry", "purpose", "remove", "tx-101", *d) == 0
    assert _fetch(client).purposes == ()
