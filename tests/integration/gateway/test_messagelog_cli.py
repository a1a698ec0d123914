"""`sild gateway log export|verify|purge|stats` through main([...]) on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sild.cli import main
from sild.clock import utc_now
from sild.core.identifiers import MemberId, ServerId
from sild.core.timefmt import format_rfc3339
from sild.crypto.certs import cert_pem
from sild.crypto.keys import save_private_key
from sild.gateway.config import GatewaySettings
from sild.gateway.messagelog.log import MessageLog
from sild.store import make_engine, migrate
from sild.testing.messagelog import count_rows, make_record
from sild.testing.pki import TestPki

MEMBER = MemberId.parse("EE/GOV/70000001")


@pytest.fixture
def gwdir(db_url: str, tmp_path: Path, pki: TestPki) -> Path:
    """A gateway folder with a sign key, its certificate, and 20 logged records."""
    root = tmp_path / "gw"
    settings = GatewaySettings(root=root, server=ServerId.parse("EE/GOV/70000001/gw1"),
                               database_url=db_url)
    settings.write()
    cred = pki.sign_credential(MEMBER)
    save_private_key(settings.sign_key_path(MEMBER), cred.key)
    settings.sign_cert_path(MEMBER).write_text(cert_pem(cred.certificate))
    engine = make_engine(db_url)
    migrate(engine, "messagelog")

    async def fill() -> None:
        mlog = MessageLog(engine)
        await mlog.start()
        await asyncio.gather(*(mlog.append(make_record(i)) for i in range(20)))
        await mlog.close()

    asyncio.run(fill())
    engine.dispose()
    return root


def _export(gwdir: Path, out: Path) -> Path:
    assert main(["gateway", "log", "export", "--dir", str(gwdir), "--from",
                 "2026-11-22T00:00:00Z", "--to", "2026-11-23T00:00:00Z", "--out", str(out)]) == 0
    (archive,) = out.glob("mlog-*.zip")
    return archive


def test_export_verify_purge_stats(gwdir: Path, db_url: str, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Export writes a verifiable archive; purge then removes exactly the exported rows."""
    archive = _export(gwdir, tmp_path / "out")
    cert = gwdir / "keys" / "sign" / "EE_GOV_70000001.pem"
    assert main(["gateway", "log", "verify", str(archive), "--cert", str(cert)]) == 0
    assert "OK — 20 records" in capsys.readouterr().out
    assert main(["gateway", "log", "stats", "--dir", str(gwdir)]) == 0
    assert "archived" in capsys.readouterr().out
    assert main(["gateway", "log", "purge", "--dir", str(gwdir),
                 "--before", "2026-11-23T00:00:00Z"]) == 0
    assert "purged 20 archived" in capsys.readouterr().out
    assert count_rows(db_url) == 0


def test_default_purge_uses_retention_days(gwdir: Path, db_url: str, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Without --before, exported records older than retention_days (30) go, newer stay."""
    now = datetime.now(UTC)
    engine = make_engine(db_url)

    async def fill() -> None:
        mlog = MessageLog(engine)
        await mlog.start()
        await mlog.append(make_record(100, at=now - timedelta(days=31)),
                          make_record(101, at=now - timedelta(days=29)))
        await mlog.close()

    asyncio.run(fill())
    engine.dispose()
    start, end = format_rfc3339(utc_now() - timedelta(days=40)), format_rfc3339(utc_now())
    assert main(["gateway", "log", "export", "--dir", str(gwdir), "--from", start, "--to", end,
                 "--out", str(tmp_path / "out")]) == 0
    assert main(["gateway", "log", "purge", "--dir", str(gwdir)]) == 0
    assert "purged 1 archived" in capsys.readouterr().out
    assert count_rows(db_url) == 21  # the 20 fixture records (logged today) and the recent one


def test_tampered_archive_is_one_line_error(gwdir: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """verify of an archive with a flipped byte exits 2 with one line, no traceback."""
    archive = _export(gwdir, tmp_path / "out")
    data = bytearray(archive.read_bytes())
    data[200] ^= 0xFF
    archive.write_bytes(bytes(data))
    cert = gwdir / "keys" / "sign" / "EE_GOV_70000001.pem"
    capsys.readouterr()
    assert main(["gateway", "log", "verify", str(archive), "--cert", str(cert)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sild: error:")
    assert err.count("\n") == 1


@pytest.mark.parametrize(("argv", "needle"), [
    (["--from", "yesterday", "--to", "2026-11-23T00:00:00Z"], "RFC 3339"),
    (["--from", "2026-11-23T00:00:00Z", "--to", "2026-11-22T00:00:00Z"], "before"),
])
def test_bad_times_are_one_line_errors(gwdir: Path, tmp_path: Path, argv: list[str],
                                       needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Malformed or inverted times give one line naming the problem."""
    code = main(["gateway", "log", "export", "--dir", str(gwdir), "--out", str(tmp_path), *argv])
    err = capsys.readouterr().err
    assert code == 1
    assert needle in err
    assert err.count("\n") == 1


def test_export_without_sign_key_is_an_error(gwdir: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A gateway folder with no keys/sign/*.key cannot export."""
    for key in (gwdir / "keys" / "sign").glob("*.key"):
        key.unlink()
    code = main(["gateway", "log", "export", "--dir", str(gwdir), "--from",
                 "2026-11-22T00:00:00Z", "--to", "2026-11-23T00:00:00Z", "--out", str(tmp_path)])
    assert code == 1
    assert "no sign key" in capsys.readouterr().err
