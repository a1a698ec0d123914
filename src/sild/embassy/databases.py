"""Consistent database snapshots and their restore (docs/operations.md, "Data embassy").

* SQLite: ``VACUUM INTO`` a new file. It runs in one read transaction, so the image is
  one consistent point in time even while the gateway keeps writing (WAL mode lets
  writers go on), and it is a complete, compacted database file with its
  ``sqlite_sequence`` (ids are never reused after a restore). Restoring is placing that
  file. Chosen over the online-backup API because it is one statement, copies no free
  pages, and restarts nothing when writers commit during the copy.
* PostgreSQL: one ``REPEATABLE READ READ ONLY`` transaction (one snapshot for every
  table) streaming each table of the role's components with
  ``COPY … TO STDOUT (FORMAT binary)`` into a spool file, through the SQLAlchemy
  connection's psycopg driver (binary: bytea as bytes, not hex; restored by the same
  schema revision, so the types match exactly). Chosen over
  ``pg_dump`` because it needs no client binary matching the server's major version
  on either machine, and copies only Sild's own tables of a database that several
  roles may share. Restoring runs, in **one transaction** on an empty database: the
  Alembic migrations up to the snapshot's revision, ``COPY … FROM STDIN`` per table
  (indexes that back no constraint dropped first and built again after, from their own
  ``pg_get_indexdef``), ``setval`` of every id sequence; then the migrations up to the
  code's head. A failure anywhere leaves the database as empty as it was.

Restores are engine-to-engine (SQLite image → SQLite file, PostgreSQL tables → an empty
PostgreSQL database); a cross-engine restore is not offered yet.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from sild.errors import ConfigurationError, SnapshotInvalid, StorageError
from sild.store.engine import alembic_config, make_engine, normalise_url

__all__ = ["DatabaseSpec", "component_tables", "dump_postgres", "image_sqlite",
           "restore_postgres", "sqlite_path"]


@dataclass(frozen=True)
class DatabaseSpec:
    """One database of a role: a name in the snapshot, its URL, its components."""

    name: str  # gateway | registry | identity | ledger
    url: str
    components: tuple[str, ...]  # candidates; only those with a version table are taken
    relpath: str | None = None  # a SQLite file inside the role's folder: its path there

    @property
    def engine_kind(self) -> str:
        return "sqlite" if normalise_url(self.url).startswith("sqlite") else "postgresql"


def sqlite_path(url: str) -> Path:
    u = sa.engine.make_url(normalise_url(url))
    if not u.database or u.database == ":memory:":
        raise ConfigurationError(f"{url}: not a SQLite file")
    return Path(u.database)


def component_tables(component: str) -> list[sa.Table]:
    """The tables a component's migrations create, parents before children."""
    from sild.store import (
        anchoring_tables,
        identity_tables,
        ledger_tables,
        messagelog_tables,
        registry_tables,
        serverconf_tables,
    )

    metadata: Mapping[str, sa.MetaData] = {
        "registry": registry_tables.metadata, "messagelog": messagelog_tables.metadata,
        "serverconf": serverconf_tables.metadata, "anchoring": anchoring_tables.metadata,
        "ledger": ledger_tables.metadata, "witness": ledger_tables.witness_metadata,
        "identity": identity_tables.metadata}
    return list(metadata[component].sorted_tables)


def _versions(conn: Any, components: tuple[str, ...], tables: set[str]) -> dict[str, str]:
    """component → Alembic revision, for the components present in this database."""
    out = {}
    for c in components:
        t = f"alembic_version_{c}"
        if t in tables:
            row = conn.execute(f"SELECT version_num FROM {t}").fetchone()  # noqa: S608 (fixed names)
            if row is not None:
                out[c] = str(row[0])
    return out


def _anchoring_state(conn: Any, tables: set[str]) -> dict[str, Any] | None:
    """What the snapshot holds of the anchoring, to prove completeness after a restore."""
    if "anchor_rounds" not in tables or "message_log" not in tables:
        return None
    rounds, last_round = conn.execute(
        "SELECT count(*), max(id) FROM anchor_rounds").fetchone()
    anchored = conn.execute(
        "SELECT id, last_record_id, root FROM anchor_rounds WHERE receipt IS NOT NULL "
        "ORDER BY id DESC LIMIT 1").fetchone()
    rows, last_row = conn.execute("SELECT count(*), max(id) FROM message_log").fetchone()
    return {"rounds": int(rounds), "last_round": last_round,
            "last_anchored_round": None if anchored is None else int(anchored[0]),
            "last_anchored_record": None if anchored is None else int(anchored[1]),
            "last_anchored_root": None if anchored is None else bytes(anchored[2]).hex(),
            "records": int(rows), "last_record": last_row}


def image_sqlite(spec: DatabaseSpec, dest: Path) -> dict[str, Any]:
    """``VACUUM INTO dest``; returns what the image holds (from the image itself)."""
    src = sqlite_path(spec.url)
    if not src.is_file():
        raise ConfigurationError(f"database {src} does not exist")
    try:
        conn = sqlite3.connect(src, timeout=10)  # VACUUM INTO only reads the source
        try:
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("VACUUM INTO ?", (str(dest),))
        finally:
            conn.close()
        img = sqlite3.connect(f"file:{dest}?mode=ro", uri=True)
        try:
            tables = {r[0] for r in img.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            versions = _versions(img, spec.components, tables)
            rows = {t.name: int(img.execute(f'SELECT count(*) FROM "{t.name}"')  # noqa: S608
                                .fetchone()[0])
                    for c in versions for t in component_tables(c) if t.name in tables}
            anchoring = _anchoring_state(img, tables)
        finally:
            img.close()
    except sqlite3.Error as e:
        raise StorageError(f"cannot snapshot {src}: {e}") from e
    os.chmod(dest, 0o600)
    return {"name": spec.name, "engine": "sqlite", "format": "sqlite-image",
            "relpath": spec.relpath, "versions": versions, "rows": rows,
            "anchoring": anchoring}


class _DbapiAdapter:
    """``conn.execute(sql).fetchone()`` over a psycopg cursor, as sqlite3 offers it."""

    def __init__(self, cur: Any) -> None:
        self._cur = cur

    def execute(self, sql: str) -> Any:
        self._cur.execute(sql)
        return self._cur


def dump_postgres(spec: DatabaseSpec, dest: Path) -> dict[str, Any]:
    """Every table of the present components, ``COPY`` to ``dest/TABLE.copy``, in one
    REPEATABLE READ READ ONLY transaction."""
    engine = make_engine(spec.url)
    dest.mkdir(mode=0o700)
    try:
        with engine.connect() as sconn:
            sconn = sconn.execution_options(isolation_level="REPEATABLE READ")
            with sconn.begin():
                sconn.exec_driver_sql("SET TRANSACTION READ ONLY")
                raw: Any = sconn.connection.dbapi_connection
                tables = set(sa.inspect(sconn).get_table_names())
                with raw.cursor() as cur:
                    ad = _DbapiAdapter(cur)
                    versions = _versions(ad, spec.components, tables)
                    anchoring = _anchoring_state(ad, tables)
                    rows: dict[str, int] = {}
                    for c in versions:
                        for t in component_tables(c):
                            if t.name in tables:
                                rows[t.name] = _copy_out(cur, t.name, dest / f"{t.name}.copy")
    except SQLAlchemyError as e:
        raise StorageError(f"cannot snapshot the {spec.name} database: {e}") from e
    finally:
        engine.dispose()
    return {"name": spec.name, "engine": "postgresql", "format": "pg-copy-binary",
            "relpath": None, "versions": versions, "rows": rows, "anchoring": anchoring}


def _copy_out(cur: Any, table: str, path: Path) -> int:
    cur.execute(f'SELECT count(*) FROM "{table}"')  # noqa: S608 (names from our metadata)
    rows = int(cur.fetchone()[0])
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb", buffering=1 << 20) as f, \
            cur.copy(f'COPY "{table}" TO STDOUT (FORMAT binary)') as copy:
        for block in copy:
            f.write(block)
    return rows


def database_is_empty(url: str) -> bool:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return not sa.inspect(conn).get_table_names()
    except SQLAlchemyError as e:
        raise StorageError(f"cannot reach the target database: {e}") from e
    finally:
        engine.dispose()


def _upgrade(conn: Connection, component: str, revision: str) -> None:
    from alembic import command

    cfg = alembic_config(component)
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, revision)


def restore_postgres(url: str, info: Mapping[str, Any], folder: Path) -> None:
    """Load a ``pg-copy-binary`` dump into an empty database, all or nothing."""
    engine: Engine = make_engine(url)
    try:
        with engine.connect() as conn, conn.begin():
            if sa.inspect(conn).get_table_names():
                raise ConfigurationError("the target database is not empty; restore only "
                                         "into a new, empty database")
            versions: dict[str, str] = dict(info["versions"])
            for component, revision in versions.items():
                _upgrade(conn, component, revision)  # the schema the rows were dumped from
            raw: Any = conn.connection.dbapi_connection
            with raw.cursor() as cur:
                for component in versions:
                    for t in component_tables(component):
                        path = folder / f"{t.name}.copy"
                        if t.name not in info["rows"]:
                            continue
                        if not path.is_file():
                            raise SnapshotInvalid(f"snapshot lacks the table {t.name}")
                        indexes = _drop_plain_indexes(cur, t.name)
                        _copy_in(cur, t.name, path)
                        for ddl in indexes:  # built once over all rows, as pg_restore does
                            cur.execute(ddl)
                        _reset_sequences(cur, t)
            for component in versions:
                _upgrade(conn, component, "head")
    except SQLAlchemyError as e:
        raise StorageError(f"cannot restore into the target database: {e}") from e
    finally:
        engine.dispose()


def _drop_plain_indexes(cur: Any, table: str) -> list[str]:
    """Drop the table's indexes that back no constraint; their exact DDL
    (``pg_get_indexdef``) is returned to build them again after the load."""
    cur.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) "
        "FROM pg_index i WHERE i.indrelid = %s::regclass AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)", (f'"{table}"',))
    found = [(str(name), str(ddl)) for name, ddl in cur.fetchall()]
    for name, _ in found:
        cur.execute(f"DROP INDEX {name}")  # a regclass name, quoted by PostgreSQL itself
    return [ddl for _, ddl in found]


def _copy_in(cur: Any, table: str, path: Path) -> None:
    with path.open("rb") as f, cur.copy(f'COPY "{table}" FROM STDIN (FORMAT binary)') as copy:
        while block := f.read(1 << 20):
            copy.write(block)


def _reset_sequences(cur: Any, table: sa.Table) -> None:
    """After COPY the id sequences still start at 1: move them past the largest id."""
    for col in table.primary_key.columns:
        if not isinstance(col.type, sa.Integer):
            continue
        cur.execute("SELECT pg_get_serial_sequence(%s, %s)", (table.name, col.name))
        seq = cur.fetchone()[0]
        if seq is not None:
            cur.execute(f'SELECT setval(%s, COALESCE(max("{col.name}"), 1), '  # noqa: S608
                        f'max("{col.name}") IS NOT NULL) FROM "{table.name}"', (seq,))
