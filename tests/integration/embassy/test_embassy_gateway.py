"""`sild embassy` on a gateway: backup, restore on a fresh machine, the drill against the
ledger, and every refusal before anything is written (docs/operations.md "Data embassy"),
on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from sild.cli import main
from sild.embassy.databases import database_is_empty
from sild.embassy.site import FolderSite
from sild.store import make_engine

from .conftest import Site, append, every_index, every_table


def _backup(gw: Path, site: Site, *extra: str) -> str:
    assert main(["embassy", "backup", "--dir", str(gw), "--site", str(site.folder),
                 "--key", str(site.home_key), *extra]) == 0
    return FolderSite(site.folder).ids()[-1]


def _target_db(request: pytest.FixtureRequest, db_url: str) -> list[str]:
    """--database for the restore: a new PostgreSQL database, or nothing (SQLite default)."""
    if db_url.startswith("sqlite"):
        return []
    make: Callable[[str], str] = request.getfixturevalue("pg_databases")
    return ["--database", make("restored")]


def _restore(site: Site, sid: str, to: Path, *extra: str, identity: Path | None = None,
             trust: Path | None = None) -> int:
    return main(["embassy", "restore", "--site", str(site.folder), sid,
                 "--trust", str(trust or site.home_pub),
                 "--identity", str(identity or site.home_key), "--to", str(to), *extra])


def _restored_url(to: Path) -> str:
    from sild.gateway.config import GatewaySettings

    return GatewaySettings.load(to).database_url


def test_restore_drill_proves_the_log_complete(
        gateway: Path, site: Site, db_url: str, request: pytest.FixtureRequest,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Restore into a fresh folder (and database): every table comes back row for row
    (message log, opmon, archive chain, service configuration, anchoring); the drill and
    `sild audit` pass."""
    before, indexes = every_table(db_url), every_index(db_url)
    sid = _backup(gateway, site)
    out = capsys.readouterr().out
    assert f"snapshot {sid}: gateway" in out
    assert "signed by home" in out
    to = site.root / "fresh" / "gw"
    (site.root / "fresh").mkdir()
    code = _restore(site, sid, to, *_target_db(request, db_url),
                    "--ledger-key", str(site.ledger_key))
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "audit: clean: 65 records in 3 rounds" in out
    assert "drill: complete: the snapshot recorded 65 records, rounds up to 3 anchored" in out
    assert (to / "keys" / "auth.key").read_text() == "not a real key\n"
    assert (to / "keys" / "auth.key").stat().st_mode & 0o777 == 0o600
    assert _restored_url(to) != db_url  # the restored gateway points at its own database
    after = every_table(_restored_url(to))
    assert after == before
    assert every_index(_restored_url(to)) == indexes
    assert ("message_log", "ux_message_log_request", True) in indexes
    for table in ("message_log", "opmon_records", "log_archives", "sc_services",
                  "sc_local_groups", "anchor_rounds", "anchor_records"):
        assert after[table], table
    assert main(["audit", "--dir", str(to), "--ledger-key", str(site.ledger_key)]) == 0
    # the restored gateway logs on after the last id (PostgreSQL: sequences moved on)
    engine = make_engine(_restored_url(to))
    asyncio.run(append(engine, 1000, 1))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT max(id) FROM message_log")).scalar() == 66
    engine.dispose()


@pytest.mark.parametrize(("sql", "line"), [
    ("UPDATE message_log SET status = 500 WHERE id = 7",
     "row 7, round 1: edited: content does not match its stored record_hash"),
    ("DELETE FROM message_log WHERE id = 33",
     "row 33, round 2: deleted: row is gone but its anchoring proof remains"),
])
def test_audit_of_restored_copy_names_an_altered_row(
        gateway: Path, site: Site, db_url: str, request: pytest.FixtureRequest,
        capsys: pytest.CaptureFixture[str], sql: str, line: str) -> None:
    """Alter or delete one row of the restored copy: `sild audit` fails and names it."""
    sid = _backup(gateway, site)
    to = site.root / "fresh"
    assert _restore(site, sid, to, *_target_db(request, db_url)) == 0
    engine = make_engine(_restored_url(to))
    with engine.begin() as conn:
        conn.execute(sa.text(sql))
    engine.dispose()
    capsys.readouterr()
    assert main(["audit", "--dir", str(to), "--ledger-key", str(site.ledger_key)]) == 5
    assert capsys.readouterr().out.splitlines()[0] == line


def test_drill_finds_a_log_cut_after_a_round(
        gateway: Path, site: Site, db_url: str, request: pytest.FixtureRequest) -> None:
    """A snapshot whose last round (rows and round) was cut: audit alone is clean, the
    drill names the missing round against the signed snapshot's record."""
    from datetime import UTC, datetime

    from sild.core.note import parse_verifier_key
    from sild.core.verification import TrustPolicy
    from sild.embassy import load_key, restore
    from sild.embassy.drill import drill

    sid = _backup(gateway, site)
    to = site.root / "fresh"
    key = load_key(site.home_key)
    res = restore(FolderSite(site.folder), sid, trusted=[key.signer.verifier()],
                  identities=[key.identity], target=to,
                  databases=dict(zip(["gateway"], _target_db(request, db_url)[1:], strict=False)))
    url = res.urls["gateway"]
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM anchor_records WHERE round_id = 3"))
        conn.execute(sa.text("DELETE FROM anchor_rounds WHERE id = 3"))
        conn.execute(sa.text("DELETE FROM message_log WHERE id > 40"))
    engine.dispose()
    vkey = parse_verifier_key(site.ledger_key.read_text().strip())
    policy = TrustPolicy(log_keys=(vkey,))  # type: ignore[arg-type]
    db = res.meta["databases"][0]
    report = drill(url, db["anchoring"], policy=policy, at=datetime.now(UTC))
    assert report.audit.clean  # the audit alone cannot see it
    assert [f.line() for f in report.tail] == [
        "round 3: round: round 3, anchored before the snapshot, is not in the restored log"]


def test_tampered_snapshot_is_refused_before_writing(
        gateway: Path, site: Site, db_url: str, request: pytest.FixtureRequest,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Flip one byte of one chunk: verify says FAIL (5); restore refuses (2), writes
    nothing: no folder, and the target database stays empty."""
    sid = _backup(gateway, site, "--chunk-mib", "1")
    chunk = site.folder / sid / "chunks" / "000000.age"
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 1
    chunk.write_bytes(bytes(data))
    capsys.readouterr()
    assert main(["embassy", "verify", "--site", str(site.folder), sid,
                 "--trust", str(site.home_pub)]) == 5
    assert "chunk 0 does not match the signed manifest" in capsys.readouterr().out
    to = site.root / "fresh"
    target = _target_db(request, db_url)
    assert _restore(site, sid, to, *target) == 2
    assert "chunk 0 does not match the signed manifest" in capsys.readouterr().err
    assert not to.exists()
    if target:
        assert database_is_empty(target[1])
    assert [p.name for p in site.root.iterdir() if "restoring" in p.name] == []


def test_forged_manifest_and_untrusted_signer_are_refused(
        gateway: Path, site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    """An edited manifest, or one signed by a site not trusted: refused (2), nothing written."""
    sid = _backup(gateway, site)
    to = site.root / "fresh"
    assert _restore(site, sid, to, trust=site.other_pub) == 2
    assert "not signed by a trusted site key" in capsys.readouterr().err
    manifest = site.folder / sid / "manifest.note"
    manifest.write_bytes(manifest.read_bytes().replace(b'"kind":"gateway"', b'"kind":"ledger"'))
    assert _restore(site, sid, to) == 2
    assert "manifest" in capsys.readouterr().err
    assert not to.exists()


def test_wrongly_keyed_restore_is_refused_before_writing(
        gateway: Path, site: Site, db_url: str, request: pytest.FixtureRequest,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A key the snapshot was not encrypted to: exit 1, one line, nothing written."""
    sid = _backup(gateway, site)
    to = site.root / "fresh"
    capsys.readouterr()
    target = _target_db(request, db_url)
    assert _restore(site, sid, to, *target, identity=site.other_key) == 1
    err = capsys.readouterr().err
    if target:
        assert database_is_empty(target[1])
    assert "not encrypted to the given --identity key" in err
    assert len(err.strip().splitlines()) == 1
    assert not to.exists()


def test_a_second_recipient_can_restore(
        gateway: Path, site: Site, db_url: str, request: pytest.FixtureRequest) -> None:
    """Encrypted to another site's public key too: that site restores with its own key."""
    sid = _backup(gateway, site, "--recipient", str(site.other_pub))
    to = site.root / "fresh"
    assert _restore(site, sid, to, *_target_db(request, db_url), identity=site.other_key) == 0
    assert (to / "gateway.toml").is_file()


def test_restore_into_non_empty_target_is_refused(
        gateway: Path, site: Site, db_url: str, request: pytest.FixtureRequest,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A folder with files in it, or a database with tables: refused, left untouched."""
    sid = _backup(gateway, site)
    to = site.root / "busy"
    to.mkdir()
    (to / "keep.txt").write_text("mine")
    assert _restore(site, sid, to) == 1
    assert "is not empty" in capsys.readouterr().err
    assert [p.name for p in to.iterdir()] == ["keep.txt"]
    # the database: the source itself is certainly not empty
    fresh = site.root / "fresh"
    assert _restore(site, sid, fresh, "--database", db_url) == 1
    err = capsys.readouterr().err
    assert "exists" in err or "not empty" in err, err
    assert not fresh.exists()


def test_site_holds_only_ciphertext(gateway: Path, site: Site) -> None:
    """No row content, key or setting appears in clear at the site."""
    sid = _backup(gateway, site)
    blob = b"".join(p.read_bytes() for p in (site.folder / sid).rglob("*") if p.is_file())
    for clear in (b"not a real key", b"body 7", b"EE/COM/10000001/his", b"[gateway]"):
        assert clear not in blob
    assert b"age-encryption.org/v1" in blob
