"""The notification service's folder in an instance (docs/operations.md, "Notifications")::

    <instance>/notify/notify.toml    settings: database URL, allowed networks, delivery
    <instance>/notify/admin-token    the person-facing API's bearer credential, 0600
    <instance>/notify/notify.db      SQLite store (unless ``database`` points elsewhere)
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import shutil
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from sild.clock import utc_now
from sild.errors import ConfigurationError, SildError
from sild.files import atomic_write
from sild.instance import Instance
from sild.notify.model import Network, NotifyLimits, parse_networks
from sild.notify.store import NotifyStore
from sild.store import make_engine, migrate

__all__ = ["NotifyHome"]

SETTINGS = "notify.toml"
TOKEN = "admin-token"  # noqa: S105  (a file name, not a secret)


@dataclass(frozen=True)
class NotifyHome:
    root: Path  # <instance>/notify
    database_url: str
    allowed: tuple[Network, ...]
    limits: NotifyLimits

    @classmethod
    def create(cls, instance: Instance, *, database_url: str | None = None,
               allow_networks: Sequence[str] = ()) -> NotifyHome:
        """Admin token, store, settings; all or nothing."""
        root = instance.root / "notify"
        if root.exists():
            raise ConfigurationError(f"{root} exists: the notification service is set up here")
        try:
            allowed = parse_networks(allow_networks)
        except SildError as e:
            raise ConfigurationError(f"--allow-network: {e.message}") from e
        home = cls(root, database_url or f"sqlite:///{root}/notify.db", allowed, NotifyLimits())
        try:
            root.mkdir(mode=0o700)
            atomic_write(root / TOKEN, secrets.token_urlsafe(32).encode() + b"\n", private=True)
            engine = make_engine(home.database_url)
            try:
                migrate(engine, "notify")
            finally:
                engine.dispose()
            q = json.dumps  # TOML basic strings accept JSON string escapes
            lim = home.limits
            (root / SETTINGS).write_text(
                f"[notify]\ndatabase = {q(home.database_url)}\n"
                f"# networks webhooks may reach although not public, e.g. [\"10.0.0.0/8\"]\n"
                f"allow_networks = {q([str(n) for n in allowed])}\n"
                f"webhook_timeout = {lim.webhook_timeout}\n"
                f"max_attempts = {lim.max_attempts}\n"
                f"retry_base = {lim.retry_base}\n"
                f"retry_cap = {lim.retry_cap}\n")
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        return home

    @classmethod
    def load(cls, instance: Instance) -> NotifyHome:
        root = instance.root / "notify"
        path = root / SETTINGS
        try:
            data = tomllib.loads(path.read_text())
        except OSError as e:
            raise ConfigurationError(f"no notification service in {instance.root}; run "
                                     f"`sild notify init` first") from e
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigurationError(f"{path} is not valid TOML") from e
        try:
            sec = data["notify"]
            d = NotifyLimits()
            limits = dataclasses.replace(
                d, webhook_timeout=float(sec.get("webhook_timeout", d.webhook_timeout)),
                max_attempts=int(sec.get("max_attempts", d.max_attempts)),
                retry_base=float(sec.get("retry_base", d.retry_base)),
                retry_cap=float(sec.get("retry_cap", d.retry_cap)))
            if not (0 < limits.webhook_timeout <= 60 and 1 <= limits.max_attempts <= 100
                    and 0 < limits.retry_base <= limits.retry_cap <= 86400):
                raise ValueError("webhook_timeout 0-60 s, max_attempts 1-100, "
                                 "0 < retry_base <= retry_cap <= 86400")
            networks = sec.get("allow_networks", [])
            if not isinstance(networks, list):
                raise ValueError("allow_networks is a list of networks")
            allowed = parse_networks(str(n) for n in networks)
            return cls(root, str(sec["database"]), allowed, limits)
        except (KeyError, TypeError, ValueError, AttributeError, SildError) as e:
            raise ConfigurationError(f"{path}: missing or malformed setting ({e})") from e

    def admin_token(self) -> str:
        try:
            token = (self.root / TOKEN).read_text().strip()
        except OSError as e:
            raise ConfigurationError(f"cannot read the notification admin token: "
                                     f"{e.strerror}") from e
        if len(token) < 16:
            raise ConfigurationError(f"{self.root / TOKEN} holds no usable token")
        return token

    def engine(self) -> Engine:
        engine = make_engine(self.database_url)
        migrate(engine, "notify")
        return engine

    def store(self, engine: Engine, clock: Callable[[], datetime] = utc_now) -> NotifyStore:
        return NotifyStore(engine, limits=self.limits, allowed=self.allowed, clock=clock)
