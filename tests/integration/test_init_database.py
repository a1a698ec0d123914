"""`sild init --database` into a database that already holds an instance is refused with one
line and nothing written (issue 7 §1), on SQLite and on real PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

import sild.bootstrap
from sild.cli import main
from sild.store import make_engine, migrate
from sild.store.registry_tables import cas, config_keys
from sild.testing.cli import own_lines


def _counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t))
                                .scalar_one()) for t in (cas, config_keys)}
    finally:
        engine.dispose()


def test_second_init_into_the_same_database_is_refused(
        tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The second init exits 1 with one line; no folder, no rows; the first still works."""
    assert main(["init", str(tmp_path / "a"), "--instance", "EE", "--database", db_url]) == 0
    before = _counts(db_url)
    capsys.readouterr()
    assert main(["init", str(tmp_path / "b"), "--instance", "LV", "--database", db_url]) == 1
    err = capsys.readouterr().err
    assert "already holds a Sild registry" in err
    assert len(own_lines(err).splitlines()) == 1
    assert "Traceback" not in err
    assert not (tmp_path / "b").exists()
    assert _counts(db_url) == before == {"cas": 1, "config_keys": 1}
    assert main(["registry", "status", "--dir", str(tmp_path / "a")]) == 0


def test_init_into_an_empty_migrated_database_is_allowed(tmp_path: Path, db_url: str) -> None:
    """Registry tables that exist but hold no row (prepared by an operator) are used."""
    engine = make_engine(db_url)
    migrate(engine)
    engine.dispose()
    assert main(["init", str(tmp_path / "a"), "--database", db_url]) == 0
    assert _counts(db_url) == {"cas": 1, "config_keys": 1}


def test_failed_init_leaves_no_rows_behind(tmp_path: Path, db_url: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """An init that fails half-way removes its registry rows, so the next init works."""
    def boom(*_a: object, **_k: object) -> None:
        raise OSError("disk full (simulated)")

    engine = make_engine(db_url)  # the tables stay; only the rows must go
    migrate(engine)
    engine.dispose()
    monkeypatch.setattr(sild.bootstrap, "write_anchor", boom)
    # one line, exit 1 (issue 12: it was a traceback)
    assert main(["init", str(tmp_path / "a"), "--database", db_url]) == 1
    monkeypatch.undo()
    assert not (tmp_path / "a").exists()
    assert _counts(db_url) == {"cas": 0, "config_keys": 0}
    assert main(["init", str(tmp_path / "a"), "--database", db_url]) == 0


def test_failed_init_into_a_new_sqlite_file_removes_it(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A SQLite file that init created is gone again when init fails."""
    db = tmp_path / "shared" / "registry.db"
    db.parent.mkdir()
    monkeypatch.setattr(sild.bootstrap, "write_anchor",
                        lambda *_a, **_k: (_ for _ in ()).throw(OSError("simulated")))
    assert main(["init", str(tmp_path / "a"), "--database", f"sqlite:///{db}"]) == 1
    assert list(db.parent.iterdir()) == []


def test_refusal_reads_only(tmp_path: Path) -> None:
    """Checking a SQLite URL whose file does not exist creates no file."""
    db = tmp_path / "none.db"
    sild.bootstrap.refuse_used_database(f"sqlite:///{db}")
    assert not db.exists()


@pytest.mark.parametrize("content", [b"this is not a database" * 100, None])
def test_unreadable_database_is_one_line(tmp_path: Path, content: bytes | None,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """A file that is not SQLite, or a folder, as --database: one line, exit 1, no folder."""
    target = tmp_path / "x.db"
    if content is None:
        target.mkdir()
    else:
        target.write_bytes(content)
    assert main(["init", str(tmp_path / "a"), "--database", f"sqlite:///{target}"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("sild: error: ")
    assert len(own_lines(err).splitlines()) == 1
    assert not (tmp_path / "a").exists()


@pytest.mark.postgres
def test_unreachable_postgres_is_one_line(tmp_path: Path, pg_url: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A PostgreSQL database that does not exist: one line, exit 1, nothing created."""
    url = sa.engine.make_url(pg_url).set(database="sild_no_such_db_msglog")
    assert main(["init", str(tmp_path / "a"), "--database",
                 url.render_as_string(hide_password=False)]) == 1
    err = capsys.readouterr().err
    assert "cannot read the database" in err
    assert len(own_lines(err).splitlines()) == 1
    assert not (tmp_path / "a").exists()
