"""``sild init``: create a working instance in one folder (see :mod:`sild.instance`).

An instance owns its registry database. ``init`` refuses a folder that is not empty and,
just as well, a database that already holds a registry's rows: initialising into it would
merge two instances (two root CAs, two active configuration keys), and the first one
would no longer start (issue 7 §1; docs/guide.md §7, docs/operations.md "Failure
behaviour"). An empty database, or one whose registry tables exist but hold no row, is
used.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.exc import SQLAlchemyError

from sild.ca import CertificateAuthority
from sild.core.anchor import Anchor, encode_anchor
from sild.core.identifiers import MemberId
from sild.crypto.keys import KeyType, key_id, save_private_key, write_private_file
from sild.errors import ConfigurationError, SildError, StorageError
from sild.instance import CONFIG_FILE, Instance, parse_listen
from sild.registry.service import Registry
from sild.store import make_engine, migrate
from sild.store.engine import normalise_url
from sild.store.registry_tables import metadata as registry_metadata

__all__ = ["create_instance", "new_config_key", "write_anchor"]


def new_config_key(registry: Registry, instance: Instance, passphrase: bytes | None) -> str:
    """Generate an Ed25519 configuration key, store it 0600 and register it as active."""
    key = Ed25519PrivateKey.generate()
    kid = key_id(key.public_key())
    save_private_key(instance.config_keys_dir / f"{kid}.key", key, passphrase=passphrase)
    registry.add_config_key(key.public_key())
    return kid


def write_anchor(registry: Registry, instance: Instance, at: datetime) -> Anchor:
    """(Re)write ``anchor.json`` with every active configuration key."""
    conf = registry.snapshot(at=at, expire_after=timedelta(seconds=instance.expire_seconds),
                             refresh_interval=instance.refresh_interval)
    anchor = Anchor(
        instance=instance.instance_id,
        generated_at=at.replace(microsecond=0),
        sources=(instance.registry_url.rstrip("/") + "/globalconf",),
        keys=conf.signing_keys,
    )
    instance.anchor_path.write_bytes(encode_anchor(anchor))
    return anchor


def create_instance(
    root: Path,
    *,
    instance_id: str,
    at: datetime,
    listen: str = "127.0.0.1:4000",
    public_url: str | None = None,
    database_url: str | None = None,
    passphrase: bytes | None = None,
    ca_key_type: KeyType = KeyType.P256,
    ca_name: str | None = None,
) -> Instance:
    """Folder, settings, CA, configuration key, database, admin token and anchor."""
    if root.exists() and not root.is_dir():
        raise ConfigurationError(f"{root} is a file, not a folder; choose a new folder")
    if (root / CONFIG_FILE).exists():
        raise ConfigurationError(f"{root} already holds an instance; choose another folder")
    if root.exists() and any(root.iterdir()):
        raise ConfigurationError(f"{root} is not empty; choose a new or empty folder")
    MemberId(instance_id, "X", "X")  # validates the instance code before anything is written
    host, port = parse_listen(listen)
    new_file: Path | None = None  # a SQLite file this init creates
    if database_url is not None:
        refuse_used_database(database_url)  # before anything is written
        if database_url.startswith("sqlite"):
            path = _sqlite_file(database_url)
            new_file = path if path is not None and not path.exists() else None
    created = not root.exists()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigurationError(f"cannot create {root}: {e.strerror or e}") from e
    try:
        return _populate(root, instance_id=instance_id, at=at, host=host, port=port,
                         listen=listen, public_url=public_url, database_url=database_url,
                         passphrase=passphrase, ca_key_type=ca_key_type, ca_name=ca_name)
    except BaseException:
        # Nothing half-written: a failed init leaves no folder behind to trip the next one,
        # and no registry rows in a database that had none (checked above).
        if new_file is not None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{new_file}{suffix}").unlink(missing_ok=True)
        elif database_url is not None:
            _clear_registry_rows(database_url)
        if created:
            shutil.rmtree(root, ignore_errors=True)
        else:
            for child in root.iterdir():
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        raise


def _sqlite_file(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL (``None`` for memory databases)."""
    database = sa.engine.make_url(normalise_url(url)).database
    return Path(database) if database and database != ":memory:" else None


def refuse_used_database(url: str) -> None:
    """:class:`ConfigurationError` if the database at ``url`` holds any registry row.

    Reads only: a SQLite file that does not exist yet is not created here.
    """
    if url.startswith("sqlite"):
        path = _sqlite_file(url)
        if path is None or not path.exists():
            return
    engine = make_engine(url)
    shown = sa.engine.make_url(normalise_url(url)).render_as_string(hide_password=True)
    try:
        with engine.connect() as conn:
            present = set(sa.inspect(conn).get_table_names())
            used = [t.name for t in registry_metadata.sorted_tables if t.name in present
                    and conn.execute(sa.select(sa.literal(1)).select_from(t).limit(1)).first()
                    is not None]
    except SQLAlchemyError as e:
        cause = getattr(e, "orig", None) or e
        raise StorageError(f"cannot read the database {shown}: "
                           f"{str(cause).strip().splitlines()[0]}") from e
    finally:
        engine.dispose()
    if used:
        raise ConfigurationError(
            f"database {shown} already holds a Sild registry (rows in {', '.join(used)}); "
            "init would merge two instances: give an empty database")


def _clear_registry_rows(url: str) -> None:
    """Delete what a failed init wrote into registry tables that were empty before it."""
    with contextlib.suppress(SQLAlchemyError, SildError):
        engine = make_engine(url)
        try:
            with engine.begin() as conn:
                present = set(sa.inspect(conn).get_table_names())
                for t in reversed(registry_metadata.sorted_tables):
                    if t.name in present:
                        conn.execute(t.delete())
        finally:
            engine.dispose()


def _populate(
    root: Path, *, instance_id: str, at: datetime, host: str, port: int, listen: str,
    public_url: str | None, database_url: str | None, passphrase: bytes | None,
    ca_key_type: KeyType, ca_name: str | None,
) -> Instance:
    instance = Instance(
        root=root.resolve(),
        instance_id=instance_id,
        registry_listen=listen,
        registry_url=public_url or f"http://{host}:{port}",
        database_url=database_url or f"sqlite:///{root.resolve()}/registry.db",
        expire_seconds=600,
        refresh_interval=60,
    )
    engine = make_engine(instance.database_url)
    try:
        migrate(engine)
        registry = Registry(engine, instance_id, clock=lambda: at)
        ca = CertificateAuthority.create(
            instance.ca_dir, name=ca_name or f"{instance_id} Sild Root CA", at=at,
            key_type=ca_key_type, passphrase=passphrase,
        )
        registry.add_ca(ca.certificate, ca_name or f"{instance_id} Sild Root CA")
        new_config_key(registry, instance, passphrase)
        write_private_file(instance.admin_token_path,
                           secrets.token_urlsafe(32).encode() + b"\n")
        write_anchor(registry, instance, at)
        instance.write_config()
    finally:
        engine.dispose()  # also on failure: no connection left open to the database
    return instance
