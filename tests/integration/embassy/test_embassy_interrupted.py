"""An interrupted backup leaves no half snapshot: Ctrl-C (a real SIGINT to a real
`sild` process, and in-process), and kill -9 (its leftover is ignored, then removed)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sild.cli import main
from sild.embassy.site import FolderSite, SnapshotWriter
from sild.testing.cli import default_sigint

from .conftest import Site


def _big(gw: Path, mib: int) -> None:
    """Incompressible bulk in the folder, so the payload spans many 1 MiB chunks."""
    (gw / "confcache").mkdir(exist_ok=True)
    (gw / "confcache" / "bulk.bin").write_bytes(os.urandom(mib << 20))


def _left(folder: Path) -> list[str]:
    """What a backup left at the site, besides the site's lock file."""
    return sorted(p.name for p in folder.iterdir() if p.name != ".lock")


def _argv(gw: Path, site: Site) -> list[str]:
    return ["embassy", "backup", "--dir", str(gw), "--site", str(site.folder),
            "--key", str(site.home_key), "--chunk-mib", "1"]


def test_ctrl_c_in_process_leaves_nothing(
        gateway: Path, site: Site, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """KeyboardInterrupt after two chunks: exit 130, no snapshot, no partial folder."""
    _big(gateway, 4)
    real = SnapshotWriter.put_chunk
    calls = []

    def interrupted(self: SnapshotWriter, index: int, data: bytes) -> None:
        calls.append(index)
        if len(calls) == 3:
            raise KeyboardInterrupt
        real(self, index, data)

    monkeypatch.setattr(SnapshotWriter, "put_chunk", interrupted)
    assert main(_argv(gateway, site)) == 130
    assert "sild: interrupted" in capsys.readouterr().err
    assert calls == [0, 1, 2]
    assert _left(site.folder) == []


def _wait_for_chunk(folder: Path, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(folder.glob(".partial-*/chunks/*.age")):
            return
        # (checked every 2 ms: the first chunk is written well before the 48th)
        assert proc.poll() is None, "backup ended before it could be interrupted"
        time.sleep(0.002)
    pytest.fail("no chunk appeared")


# The interruption is of the site writer, the same for every database: SQLite only.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sigint_to_a_running_backup_leaves_nothing(gateway: Path, site: Site) -> None:
    """A real Ctrl-C (SIGINT) mid-backup: exit 130, one line, no snapshot, no partial."""
    _big(gateway, 48)
    site.folder.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "sild.cli", *_argv(gateway, site)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=default_sigint)
    _wait_for_chunk(site.folder, proc)
    # Freeze it, then Ctrl-C, then let it go: the SIGINT is pending when it resumes, so
    # a quiet machine cannot finish the backup before the signal lands (was flaky).
    proc.send_signal(signal.SIGSTOP)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.decode().strip() == "sild: interrupted"
    assert _left(site.folder) == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_kill_9_leftover_is_ignored_then_removed(
        gateway: Path, site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    """kill -9 mid-backup leaves a .partial- folder: never listed as a snapshot nor
    restorable, and the next backup removes it."""
    _big(gateway, 48)
    site.folder.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "sild.cli", *_argv(gateway, site)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for_chunk(site.folder, proc)
    proc.kill()
    proc.wait(timeout=30)
    fs = FolderSite(site.folder)
    assert fs.ids() == []
    assert len(fs.partials()) == 1
    assert main(["embassy", "list", "--site", str(site.folder)]) == 0
    out = capsys.readouterr().out
    assert "incomplete (an interrupted backup; ignored)" in out
    assert main(["embassy", "restore", "--site", str(site.folder), "latest", "--trust",
                 str(site.home_pub), "--identity", str(site.home_key), "--to",
                 str(site.root / "fresh")]) == 1
    assert "no snapshot at" in capsys.readouterr().err
    (gateway / "confcache" / "bulk.bin").unlink()
    assert main(_argv(gateway, site)) == 0
    assert len(fs.ids()) == 1
    assert fs.partials() == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_backups_to_one_site_take_turns(
        gateway: Path, site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    """While one backup holds the site, a second is refused (its partial is not removed)."""
    fs = FolderSite.open(site.folder, create=True)
    with fs.lock():
        (site.folder / ".partial-20261206T120000Z-0000beef").mkdir()
        assert main(_argv(gateway, site)) == 1
        assert "another backup to" in capsys.readouterr().err
        assert fs.partials() == [".partial-20261206T120000Z-0000beef"]
    assert main(_argv(gateway, site)) == 0
    assert fs.partials() == []


def test_ctrl_c_during_restore_leaves_nothing(
        gateway: Path, site: Site, db_url: str, request: pytest.FixtureRequest,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Ctrl-C while the database loads: exit 130; no folder, no staging folder, and a
    PostgreSQL target still empty (one transaction)."""
    from collections.abc import Callable

    from sild.embassy import snapshot
    from sild.embassy.databases import database_is_empty

    assert main(_argv(gateway, site)) == 0
    target: list[str] = []
    if not db_url.startswith("sqlite"):
        make: Callable[[str], str] = request.getfixturevalue("pg_databases")
        target = ["--database", make("restored")]
        real = snapshot.restore_postgres

        def interrupted_pg(url: str, info: object, folder: Path) -> None:
            from sild.embassy import databases

            real_copy = databases._copy_in
            calls = []

            def copy_then_stop(cur: object, table: str, path: Path) -> None:
                real_copy(cur, table, path)
                calls.append(table)
                if len(calls) == 2:  # rows already loaded into two tables
                    raise KeyboardInterrupt

            monkeypatch.setattr(databases, "_copy_in", copy_then_stop)
            real(url, info, folder)  # type: ignore[arg-type]

        monkeypatch.setattr(snapshot, "restore_postgres", interrupted_pg)
    else:
        def interrupted_repoint(*args: object) -> None:
            raise KeyboardInterrupt

        monkeypatch.setattr(snapshot, "repoint", interrupted_repoint)
    to = site.root / "fresh"
    capsys.readouterr()
    assert main(["embassy", "restore", "--site", str(site.folder), "latest", "--trust",
                 str(site.home_pub), "--identity", str(site.home_key), "--to", str(to),
                 *target]) == 130
    assert not to.exists()
    assert [p.name for p in site.root.iterdir() if "restoring" in p.name] == []
    if target:
        assert database_is_empty(target[1])
