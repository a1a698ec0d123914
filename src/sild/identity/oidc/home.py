"""The provider's folder in an instance (docs/operations.md, "Identity")::

    <instance>/identity/oidc/oidc.toml    issuer URL
    <instance>/identity/oidc/signing.key  ES256 (P-256) private key, PKCS#8 PEM, 0600

The key's ``kid`` is its RFC 7638 thumbprint, so it is stable across restarts and a new
key gets a new ``kid``.
"""

from __future__ import annotations

import json
import os
import shutil
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from joserfc.jwk import ECKey

from sild.errors import ConfigurationError, KeyFileError
from sild.identity.home import IdentityHome
from sild.identity.oidc.provider import Provider, ProviderConfig
from sild.identity.oidc.store import OidcStore
from sild.identity.person_ca import PersonCA
from sild.instance import Instance

__all__ = ["OidcHome", "check_issuer"]

SETTINGS = "oidc.toml"
KEY = "signing.key"


def check_issuer(url: str) -> str:
    """An http(s) URL with a host, no query or fragment (OIDC Discovery §3); no slash at end."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query \
            or parts.fragment or not url.isprintable():
        raise ConfigurationError("--issuer must be an http:// or https:// URL without query")
    return url.rstrip("/")


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
class OidcHome:
    identity: IdentityHome
    issuer: str

    @property
    def root(self) -> Path:
        return self.identity.root / "oidc"

    @classmethod
    def create(cls, instance: Instance, *, issuer: str) -> OidcHome:
        identity = IdentityHome.load(instance)
        home = cls(identity, check_issuer(issuer))
        if home.root.exists():
            raise ConfigurationError(f"{home.root} exists: the OIDC provider is set up here")
        try:
            home.root.mkdir(mode=0o700)
            pem = ECKey.generate_key("P-256", private=True).as_pem(private=True)
            fd = os.open(home.root / KEY, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
                f.flush()
                os.fsync(f.fileno())
            (home.root / SETTINGS).write_text(f"[oidc]\nissuer = {json.dumps(home.issuer)}\n")
        except BaseException:
            shutil.rmtree(home.root, ignore_errors=True)
            raise
        return home

    @classmethod
    def load(cls, instance: Instance) -> OidcHome:
        identity = IdentityHome.load(instance)
        path = identity.root / "oidc" / SETTINGS
        try:
            data = tomllib.loads(path.read_text())
            issuer = str(data["oidc"]["issuer"])
        except OSError as e:
            raise ConfigurationError(
                "no OIDC provider in this instance; run `sild identity oidc init` first") from e
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, KeyError, TypeError) as e:
            raise ConfigurationError(f"{path}: missing or malformed setting") from e
        return cls(identity, check_issuer(issuer))

    def key(self) -> ECKey:
        return _load_key(self.root / KEY)

    def provider(self, *, demo: bool = False,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> Provider:
        """The provider on the identity store (the engine lives as long as the process)."""
        engine = self.identity.engine()
        return Provider(ProviderConfig(issuer=self.issuer, demo=demo), key=self.key(),
                        store=OidcStore(engine, clock),
                        person_ca=PersonCA.load_certificates(self.identity.ca_dir)[0],
                        status=self.identity.status_source(engine), clock=clock)
