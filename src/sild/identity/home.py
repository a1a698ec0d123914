"""The identity subsystem's folder inside an instance (docs/operations.md, "Identity").

::

    <instance>/identity/identity.toml   settings: database URL, OCSP URL put into certificates
    <instance>/identity/ca/             the person CA (person-ca.pem, chain.pem, person-ca.key)
    <instance>/identity/tokens/ID.token soft tokens issued and not yet picked up (0700 folder)
    <instance>/identity/identity.db     SQLite store (unless ``database`` points elsewhere)

:func:`IdentityHome.status_source` is what an OCSP responder reads.
"""

from __future__ import annotations

import json
import shutil
import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from sild.crypto.keys import KeyType, load_private_key
from sild.errors import ConfigurationError
from sild.identity.lookup import StoreStatusSource
from sild.identity.person_ca import PersonCA
from sild.identity.service import IdentityService
from sild.identity.token import KdfParams
from sild.instance import Instance
from sild.store import make_engine, migrate

__all__ = ["IdentityHome"]

SETTINGS = "identity.toml"


@dataclass(frozen=True)
class IdentityHome:
    root: Path  # <instance>/identity
    instance_id: str
    database_url: str
    ocsp_url: str | None

    @property
    def ca_dir(self) -> Path:
        return self.root / "ca"

    @property
    def tokens_dir(self) -> Path:
        return self.root / "tokens"

    @classmethod
    def create(
        cls,
        instance: Instance,
        *,
        at: datetime,
        passphrase: bytes | None = None,
        database_url: str | None = None,
        ocsp_url: str | None = None,
        key_type: KeyType = KeyType.P256,
        name: str | None = None,
    ) -> IdentityHome:
        """Person CA (certified by the instance root), token folder, store, settings.

        All or nothing: a failure removes the ``identity`` folder again.
        """
        root = instance.root / "identity"
        if root.exists():
            raise ConfigurationError(f"{root} exists: identity is already set up here")
        if ocsp_url is not None and not ocsp_url.startswith(("http://", "https://")):
            raise ConfigurationError("--ocsp-url must be an http:// or https:// URL")
        root_key = load_private_key(instance.ca_dir / "ca.key", passphrase=passphrase)
        from sild.ca import CertificateAuthority

        root_cert = CertificateAuthority.load_certificate_only(instance.ca_dir)
        home = cls(root=root, instance_id=instance.instance_id,
                   database_url=database_url or f"sqlite:///{root}/identity.db",
                   ocsp_url=ocsp_url)
        try:
            root.mkdir(mode=0o700)
            home.tokens_dir.mkdir(mode=0o700)
            PersonCA.create(home.ca_dir, root_certificate=root_cert, root_key=root_key,
                            name=name or f"{instance.instance_id} Sild Person CA", at=at,
                            key_type=key_type, passphrase=passphrase, ocsp_url=ocsp_url)
            engine = make_engine(home.database_url)
            try:
                migrate(engine, "identity")
            finally:
                engine.dispose()
            home._write_settings()
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        return home

    @classmethod
    def load(cls, instance: Instance) -> IdentityHome:
        root = instance.root / "identity"
        path = root / SETTINGS
        try:
            data = tomllib.loads(path.read_text())
        except OSError as e:
            raise ConfigurationError(
                f"no identity subsystem in {instance.root}; run `sild identity init` first"
            ) from e
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigurationError(f"{path} is not valid TOML") from e
        try:
            sec = data["identity"]
            ocsp = sec.get("ocsp_url") or None
            return cls(root=root, instance_id=instance.instance_id,
                       database_url=str(sec["database"]),
                       ocsp_url=str(ocsp) if ocsp else None)
        except (KeyError, TypeError, AttributeError) as e:
            raise ConfigurationError(f"{path}: missing or malformed setting ({e})") from e

    def _write_settings(self) -> None:
        q = json.dumps  # TOML basic strings accept JSON string escapes
        (self.root / SETTINGS).write_text(
            "[identity]\n"
            f"database = {q(self.database_url)}\n"
            f"ocsp_url = {q(self.ocsp_url or '')}\n"
        )

    def engine(self) -> Engine:
        engine = make_engine(self.database_url)
        migrate(engine, "identity")
        return engine

    def service(self, engine: Engine, *, passphrase: bytes | None = None,
                issuing: bool = False, kdf: KdfParams | None = None) -> IdentityService:
        """The service; ``issuing`` loads the person CA key (needs the passphrase)."""
        ca = (PersonCA.load(self.ca_dir, passphrase=passphrase, ocsp_url=self.ocsp_url)
              if issuing else None)
        issuer = ca.certificate if ca else PersonCA.load_certificates(self.ca_dir)[0]
        return IdentityService(engine, issuer=issuer, ca=ca, tokens_dir=self.tokens_dir,
                               kdf=kdf)

    def status_source(self, engine: Engine) -> StoreStatusSource:
        """What the OCSP responder asks: status of a serial issued by this person CA."""
        return StoreStatusSource(engine, PersonCA.load_certificates(self.ca_dir)[0])
