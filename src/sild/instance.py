"""An instance folder: the files ``sild init`` creates and every command reads.

::

    instance.toml              settings (below); the only file to edit by hand
    anchor.json                the configuration anchor gateways start from
    ca/ca.pem, ca/ca.key       the instance root CA (ca.key 0600, encrypted with a passphrase)
    ca/issued/SERIAL.pem       certificates the CA issued
    registry/config-keys/*.key the registry's Ed25519 configuration-signing keys (0600)
    registry/admin-token       the management API's bearer credential (0600)
    registry.db                SQLite database (unless [registry].database points elsewhere)

``instance.toml``::

    [instance]
    id = "EE"
    [registry]
    listen = "127.0.0.1:4000"
    public_url = "http://127.0.0.1:4000"
    database = "sqlite:////abs/path/registry.db"
    expire_seconds = 600        # X-Road confExpireIntervalSeconds
    refresh_interval = 60       # how often gateways poll, and the registry re-signs
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from sild.core.identifiers import MemberId
from sild.errors import ConfigurationError, InvalidIdentifier

__all__ = ["Instance", "find_instance", "parse_listen", "read_passphrase"]

CONFIG_FILE = "instance.toml"


def parse_listen(text: str) -> tuple[str, int]:
    """``host:port`` → (host, port); :class:`ConfigurationError` when malformed."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigurationError(f"listen address {text!r} must be host:port")
    return host.strip("[]"), int(port)


def read_passphrase(path: str | None) -> bytes | None:
    """A passphrase from a file (first line), or from ``$SILD_PASSPHRASE_FILE``."""
    path = path or os.environ.get("SILD_PASSPHRASE_FILE")
    if not path:
        return None
    try:
        text = Path(path).read_bytes().splitlines()
    except OSError as e:
        raise ConfigurationError(f"cannot read passphrase file {path}: {e.strerror}") from e
    if not text or not text[0]:
        raise ConfigurationError(f"passphrase file {path} is empty")
    return text[0]


@dataclass(frozen=True)
class Instance:
    root: Path
    instance_id: str
    registry_listen: str
    registry_url: str
    database_url: str
    expire_seconds: int
    refresh_interval: int

    @property
    def anchor_path(self) -> Path:
        return self.root / "anchor.json"

    @property
    def ca_dir(self) -> Path:
        return self.root / "ca"

    @property
    def config_keys_dir(self) -> Path:
        return self.root / "registry" / "config-keys"

    @property
    def admin_token_path(self) -> Path:
        return self.root / "registry" / "admin-token"

    def admin_token(self) -> str:
        try:
            return self.admin_token_path.read_text().strip()
        except UnicodeDecodeError as e:
            raise ConfigurationError("the admin token file is not text") from e
        except OSError as e:
            raise ConfigurationError(f"cannot read admin token: {e.strerror}") from e

    @classmethod
    def load(cls, root: Path) -> Instance:
        path = root / CONFIG_FILE
        try:
            data = tomllib.loads(path.read_text())
        except OSError as e:
            raise ConfigurationError(
                f"{root} is not a Sild instance ({CONFIG_FILE} missing); run `sild init` first"
            ) from e
        except tomllib.TOMLDecodeError as e:
            raise ConfigurationError(f"{path}: {e}") from e
        except UnicodeDecodeError as e:  # a binary file in its place
            raise ConfigurationError(f"{path} is not a text (TOML) file") from e
        try:
            inst = data["instance"]
            reg = data.get("registry", {})
            instance_id = str(inst["id"])
            MemberId(instance_id, "X", "X")  # validates the instance code's characters
            return cls(
                root=root.resolve(),
                instance_id=instance_id,
                registry_listen=str(reg.get("listen", "127.0.0.1:4000")),
                registry_url=str(reg.get("public_url", "http://127.0.0.1:4000")),
                database_url=str(reg.get("database", f"sqlite:///{root.resolve()}/registry.db")),
                expire_seconds=int(reg.get("expire_seconds", 600)),
                refresh_interval=int(reg.get("refresh_interval", 60)),
            )
        except (KeyError, TypeError, ValueError, InvalidIdentifier) as e:
            raise ConfigurationError(f"{path}: missing or malformed setting ({e})") from e

    def write_config(self) -> None:
        q = json.dumps  # TOML basic strings accept JSON string escapes
        text = (
            "[instance]\n"
            f"id = {q(self.instance_id)}\n\n"
            "[registry]\n"
            f"listen = {q(self.registry_listen)}\n"
            f"public_url = {q(self.registry_url)}\n"
            f"database = {q(self.database_url)}\n"
            f"expire_seconds = {self.expire_seconds}\n"
            f"refresh_interval = {self.refresh_interval}\n"
        )
        (self.root / CONFIG_FILE).write_text(text)


def find_instance(path: str | None) -> Instance:
    """The instance in ``path``, ``$SILD_HOME`` or the current folder."""
    root = Path(path or os.environ.get("SILD_HOME") or ".")
    return Instance.load(root)
