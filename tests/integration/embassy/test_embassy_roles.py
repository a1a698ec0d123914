"""`sild embassy` on the other roles: a registry instance with its identity store, and a
live ledger (snapshotted while it serves), restored into fresh folders on SQLite."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sild.cli import main
from sild.embassy.site import FolderSite
from sild.testing.anchoring import LedgerServer

from .conftest import Site

PINS = "1234\n12345\n12345678\n"


def _count(db: Path, table: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608
    finally:
        conn.close()


def _roundtrip(folder: Path, site: Site, capsys: pytest.CaptureFixture[str]) -> Path:
    assert main(["embassy", "backup", "--dir", str(folder), "--site", str(site.folder),
                 "--key", str(site.home_key)]) == 0
    sid = FolderSite(site.folder).ids()[-1]
    to = site.root / "fresh"
    assert main(["embassy", "restore", "--site", str(site.folder), sid, "--trust",
                 str(site.home_pub), "--identity", str(site.home_key), "--to", str(to)]) == 0
    capsys.readouterr()
    return to


def test_registry_with_identity_is_restored(
        tmp_path: Path, site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    """An instance (registry, CA, identity store with a citizen) comes back whole, and
    the restored instance's commands work on it."""
    inst = tmp_path / "inst"
    assert main(["init", str(inst), "--instance", "EE"]) == 0
    assert main(["identity", "init", "--dir", str(inst)]) == 0
    (tmp_path / "pins").write_text(PINS)
    assert main(["identity", "citizen", "add", "--dir", str(inst), "--code", "38001085718",
                 "--given", "Jaak", "--surname", "Jõeorg", "--pins-file",
                 str(tmp_path / "pins")]) == 0
    to = _roundtrip(inst, site, capsys)
    assert (to / "ca" / "ca.key").read_bytes() == (inst / "ca" / "ca.key").read_bytes()
    assert _count(to / "identity" / "identity.db", "identity_persons") == 1
    assert _count(to / "registry.db", "config_keys") == _count(inst / "registry.db",
                                                               "config_keys")
    assert str(to) in (to / "instance.toml").read_text()  # re-pointed at its own database
    assert str(to) in (to / "identity" / "identity.toml").read_text()
    assert main(["identity", "list", "--dir", str(to), "--code", "38001085718"]) == 0
    assert "38001085718" in capsys.readouterr().out


def test_live_ledger_is_restored(
        ledger: LedgerServer, site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    """A serving ledger's folder and database, snapshotted live (VACUUM INTO is one read
    transaction): the restored ledger opens, with the rounds the snapshot recorded."""
    from sild.ledger.home import open_ledger

    to = _roundtrip(ledger.folder, site, capsys)
    restored = to / "ledger.db"  # its database lay outside its folder: now inside
    assert restored.is_file()
    rounds = _count(restored, "ledger_rounds")
    assert 0 < rounds <= _count(ledger.folder.parent / "ledger.db", "ledger_rounds")
    assert (to / "ledger.key").read_text() == (ledger.folder / "ledger.key").read_text()
    opened = open_ledger(to)
    try:
        assert opened.settings.origin == "ledger.test/anchoring"
    finally:
        opened.close()
