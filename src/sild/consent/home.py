"""The consent service's folder in an instance (docs/operations.md, "Consent")::

    <instance>/consent/consent.toml   settings: database URL, decision maxAge
    <instance>/consent/signing.key    ES256 (P-256) artefact signing key, PKCS#8 PEM, 0600
    <instance>/consent/admin-token    the person-facing API's bearer credential, 0600
    <instance>/consent/consent.db     SQLite store (unless ``database`` points elsewhere)

The key's ``kid`` is its RFC 7638 thumbprint: stable across restarts, new for a new key.
"""

from __future__ import annotations

import json
import secrets
import shutil
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from joserfc.jwk import ECKey
from sqlalchemy.engine import Engine

from sild.clock import utc_now
from sild.consent.model import DEFAULT_MAX_AGE
from sild.consent.service import ConsentService
from sild.errors import ConfigurationError, KeyFileError
from sild.files import atomic_write
from sild.instance import Instance
from sild.store import make_engine, migrate

__all__ = ["ConsentHome"]

SETTINGS = "consent.toml"
KEY = "signing.key"
TOKEN = "admin-token"  # noqa: S105  (a file name, not a secret)


def _load_key(path: Path) -> ECKey:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise KeyFileError(f"cannot read {path}: {e.strerror}") from e
    try:
        key = ECKey.import_key(data)
    except Exception as e:  # joserfc raises several kinds for a bad file
        raise KeyFileError(f"{path} is not an EC private key") from e
    if not key.is_private or key.curve_name != "P-256":
        raise KeyFileError(f"{path} is not a P-256 private key")
    return ECKey.import_key(data, {"kid": key.thumbprint(), "use": "sig", "alg": "ES256"})


@dataclass(frozen=True)
class ConsentHome:
    root: Path  # <instance>/consent
    database_url: str
    max_age: int

    @classmethod
    def create(cls, instance: Instance, *, database_url: str | None = None) -> ConsentHome:
        """Key, admin token, store, settings; all or nothing."""
        root = instance.root / "consent"
        if root.exists():
            raise ConfigurationError(f"{root} exists: the consent service is set up here")
        home = cls(root, database_url or f"sqlite:///{root}/consent.db", DEFAULT_MAX_AGE)
        try:
            root.mkdir(mode=0o700)
            pem = ECKey.generate_key("P-256", private=True).as_pem(private=True)
            atomic_write(root / KEY, pem, private=True)
            atomic_write(root / TOKEN, secrets.token_urlsafe(32).encode() + b"\n",
                         private=True)
            engine = make_engine(home.database_url)
            try:
                migrate(engine, "consent")
            finally:
                engine.dispose()
            q = json.dumps  # TOML basic strings accept JSON string escapes
            (root / SETTINGS).write_text(f"[consent]\ndatabase = {q(home.database_url)}\n"
                                         f"max_age = {home.max_age}\n")
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        return home

    @classmethod
    def load(cls, instance: Instance) -> ConsentHome:
        root = instance.root / "consent"
        path = root / SETTINGS
        try:
            data = tomllib.loads(path.read_text())
        except OSError as e:
            raise ConfigurationError(
                f"no consent service in {instance.root}; run `sild consent init` first") from e
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigurationError(f"{path} is not valid TOML") from e
        try:
            sec = data["consent"]
            max_age = int(sec.get("max_age", DEFAULT_MAX_AGE))
            if not 0 <= max_age <= 3600:
                raise ValueError("max_age is 0-3600 seconds")
            return cls(root, str(sec["database"]), max_age)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ConfigurationError(f"{path}: missing or malformed setting ({e})") from e

    def key(self) -> ECKey:
        return _load_key(self.root / KEY)

    def admin_token(self) -> str:
        try:
            token = (self.root / TOKEN).read_text().strip()
        except OSError as e:
            raise ConfigurationError(f"cannot read the consent admin token: {e.strerror}") \
                from e
        if len(token) < 16:
            raise ConfigurationError(f"{self.root / TOKEN} holds no usable token")
        return token

    def engine(self) -> Engine:
        engine = make_engine(self.database_url)
        migrate(engine, "consent")
        return engine

    def service(self, engine: Engine,
                clock: Callable[[], datetime] = utc_now) -> ConsentService:
        return ConsentService(engine, key=self.key(), clock=clock, max_age=self.max_age)
