"""A gateway's folder and settings (``gateway.toml``), and its limits.

::

    gateway.toml          settings below
    anchor.json           the instance's configuration anchor (copied in at init)
    keys/auth.key, .pem   the gateway's auth key and certificate (TLS identity)
    keys/sign/CODE.key/.pem  sign keys of the members whose clients it hosts,
                          CODE = the member id with '/' replaced by '_'
    confcache/            the configuration client's last good copy
    gateway.db            SQLite (unless [gateway].database points elsewhere)

``gateway.toml``::

    [gateway]
    server = "EE/GOV/70000001/gw1"
    database = "sqlite:////abs/gateway.db"
    is_listen = "127.0.0.1:8080"      # IS-facing, plain HTTP (X-Road 8080)
    is_tls = false                    # true: HTTPS, and every IS must present a client
                                      # certificate registered for its X-Road-Client
                                      # (`sild gateway is-client add`; files in is-clients/)
    peer_listen = "127.0.0.1:5500"    # inter-gateway mutual TLS (X-Road 5500)
    admin_listen = "127.0.0.1:5566"   # admin API + /health + /metrics, localhost only

    [limits]
    max_body = 10485760               # bytes; X-Road max-loggable-message-body-size 10 MiB
    peer_timeout = 60                 # seconds for a provider gateway to answer
    freshness = 120                   # seconds a signed request stays acceptable (replay window)

    [messagelog]
    body = "full"                     # or "digest": keep only SHA-512 of bodies
    retention_days = 30               # X-Road keep-records-for

    [anchoring]                       # docs/spec/anchoring.md; off while ledger = ""
    ledger = "http://127.0.0.1:8470"  # the ledger that anchors this gateway's log
    period = 1.0                      # seconds per local round
    max_unanchored = 14400            # seconds; X-Road acceptable-timestamp-failure-period

    [tracker]                         # docs/spec/tracker.md: usage records, locks
    covert_group = "covert"           # global group: lawfully covert consumers (sealed records)
    emergency_group = "emergency"     # global group: may send Sild-Emergency (break-glass)
    exception_group = "lock-exempt"   # global group: legal exceptions to a person's lock
    consent = ""                      # consent service base URL; "" = locks not enforced
    consent_client = ""               # X-Road-Client to send when `consent` is a gateway's /r1/…
    consent_cache = 5.0               # seconds a consent decision is reused
    retention_days = 365              # usage records older than this are expired
    notify = ""                       # notification service id (or URL); "" = no events
    notify_client = ""                # X-Road-Client the notifier sends usage events as
    notify_interval = 0.2             # seconds between looks at new usage records
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sild.core.identifiers import MemberId, ServerId, ServiceId, parse_client
from sild.errors import ConfigurationError, InvalidIdentifier, SildError
from sild.instance import parse_listen

__all__ = ["GATEWAY_FILE", "AnchoringSettings", "GatewayLimits", "GatewaySettings",
           "TrackerSettings", "sign_key_stem"]

GATEWAY_FILE = "gateway.toml"


@dataclass(frozen=True)
class GatewayLimits:
    """Limits of one gateway, each with its reason (STYLE.md rule 8)."""

    # Largest request or response body accepted and logged (X-Road: 10 MiB loggable).
    max_body: int = 10 * 1024 * 1024
    # A provider gateway slower than this gets Server.ClientProxy.NetworkError.
    peer_timeout: float = 60.0
    # Signed requests older or newer than this are refused; message ids are remembered
    # this long, so the replay cache is bounded by rate × window.
    freshness: int = 120


@dataclass(frozen=True)
class AnchoringSettings:
    """Anchoring of the message log in a ledger (docs/spec/anchoring.md §6)."""

    # The ledger's base URL; empty: anchoring is off.
    ledger_url: str = ""
    # One local round (one ledger submission) per period, like the ledger's 1 s rounds.
    period: float = 1.0
    # Traffic stops with TimestampingFailed when a round waits longer than this for its
    # receipt (X-Road acceptable-timestamp-failure-period, default 14400 s).
    max_unanchored: float = 14400.0
    # A file holding the API key the ledger's operator issued (`sild ledger key add`),
    # relative to the gateway folder; empty: submit without one (docs/spec/ledger.md §8.1).
    credential: str = ""

    @property
    def enabled(self) -> bool:
        return bool(self.ledger_url)


@dataclass(frozen=True)
class TrackerSettings:
    """The data tracker and consent enforcement (docs/spec/tracker.md §6)."""

    covert_group: str = "covert"
    emergency_group: str = "emergency"
    exception_group: str = "lock-exempt"
    consent_url: str = ""
    consent_client: str = ""
    consent_cache: float = 5.0
    retention_days: int = 365
    # Usage events to the notification service (docs/spec/notify.md §4): its service id
    # (sent through this gateway's own IS port) or an http(s) URL; "" = off.
    notify: str = ""
    notify_client: str = ""  # the X-Road-Client the notifier sends as
    notify_interval: float = 0.2  # seconds between looks at new usage records

    @classmethod
    def from_toml(cls, data: dict[str, Any]) -> TrackerSettings:
        d = cls()
        return cls(
            covert_group=str(data.get("covert_group", d.covert_group)),
            emergency_group=str(data.get("emergency_group", d.emergency_group)),
            exception_group=str(data.get("exception_group", d.exception_group)),
            consent_url=str(data.get("consent", d.consent_url)),
            consent_client=str(data.get("consent_client", d.consent_client)),
            consent_cache=float(data.get("consent_cache", d.consent_cache)),
            retention_days=int(data.get("retention_days", d.retention_days)),
            notify=str(data.get("notify", d.notify)),
            notify_client=str(data.get("notify_client", d.notify_client)),
            notify_interval=float(data.get("notify_interval", d.notify_interval)))

    def toml(self) -> str:
        q = json.dumps
        return ("[tracker]\n"
                f"covert_group = {q(self.covert_group)}\n"
                f"emergency_group = {q(self.emergency_group)}\n"
                f"exception_group = {q(self.exception_group)}\n"
                f"consent = {q(self.consent_url)}\n"
                f"consent_client = {q(self.consent_client)}\n"
                f"consent_cache = {self.consent_cache}\n"
                f"retention_days = {self.retention_days}\n"
                f"notify = {q(self.notify)}\n"
                f"notify_client = {q(self.notify_client)}\n"
                f"notify_interval = {self.notify_interval}\n")

    def validate(self) -> None:
        from sild.core.identifiers import GlobalGroupId, parse_client

        for name in ("covert_group", "emergency_group", "exception_group"):
            try:
                GlobalGroupId("X", getattr(self, name))
            except InvalidIdentifier as e:
                raise ConfigurationError(f"[tracker] {name}: {e.message}") from e
        if self.consent_client:
            try:
                parse_client(self.consent_client)
            except InvalidIdentifier as e:
                raise ConfigurationError(f"[tracker] consent_client: {e.message}") from e
        if self.consent_url and not self.consent_url.startswith(("http://", "https://")):
            raise ConfigurationError("[tracker] consent must be an http:// or https:// URL")
        if not 0 <= self.consent_cache <= 3600 or self.retention_days < 1:
            raise ConfigurationError(
                "[tracker] consent_cache must be 0-3600 s and retention_days at least 1")
        self._validate_notify()

    def _validate_notify(self) -> None:
        if not 0.01 <= self.notify_interval <= 60:
            raise ConfigurationError("[tracker] notify_interval must be 0.01-60 s")
        if not self.notify or self.notify.startswith(("http://", "https://")):
            return
        try:
            ServiceId.parse(self.notify)
        except SildError as e:
            raise ConfigurationError("[tracker] notify must be the notification service's "
                                     "id (INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE) or an "
                                     "http:// or https:// URL") from e
        try:
            parse_client(self.notify_client)
        except SildError as e:
            raise ConfigurationError("[tracker] notify_client must name the client the "
                                     "gateway sends usage events as") from e


@dataclass(frozen=True)
class GatewaySettings:
    root: Path
    server: ServerId
    database_url: str
    is_listen: str = "127.0.0.1:8080"
    peer_listen: str = "127.0.0.1:5500"
    admin_listen: str = "127.0.0.1:5566"
    limits: GatewayLimits = field(default_factory=GatewayLimits)
    log_body: str = "full"
    retention_days: int = 30
    is_tls: bool = False
    anchoring: AnchoringSettings = field(default_factory=AnchoringSettings)
    tracker: TrackerSettings = field(default_factory=TrackerSettings)

    @property
    def anchor_path(self) -> Path:
        return self.root / "anchor.json"

    @property
    def auth_key_path(self) -> Path:
        return self.root / "keys" / "auth.key"

    @property
    def auth_cert_path(self) -> Path:
        return self.root / "keys" / "auth.pem"

    @property
    def sign_dir(self) -> Path:
        return self.root / "keys" / "sign"

    @property
    def is_clients_dir(self) -> Path:
        """Certificates of information systems, one file per (client, certificate)."""
        return self.root / "is-clients"

    @property
    def conf_cache(self) -> Path:
        return self.root / "confcache"

    def sign_key_path(self, member: MemberId) -> Path:
        return self.sign_dir / f"{sign_key_stem(member)}.key"

    def sign_cert_path(self, member: MemberId) -> Path:
        return self.sign_dir / f"{sign_key_stem(member)}.pem"

    @classmethod
    def load(cls, root: Path) -> GatewaySettings:
        path = root / GATEWAY_FILE
        try:
            data = tomllib.loads(path.read_text())
        except OSError as e:
            raise ConfigurationError(
                f"{root} is not a gateway folder ({GATEWAY_FILE} missing); "
                "run `sild gateway init` first") from e
        except tomllib.TOMLDecodeError as e:
            raise ConfigurationError(f"{path}: {e}") from e
        except UnicodeDecodeError as e:  # a binary file in its place
            raise ConfigurationError(f"{path} is not a text (TOML) file") from e
        try:
            gw: dict[str, Any] = data["gateway"]
            lim: dict[str, Any] = data.get("limits", {})
            d = GatewayLimits()
            mlog: dict[str, Any] = data.get("messagelog", {})
            anc: dict[str, Any] = data.get("anchoring", {})
            da = AnchoringSettings()
            settings = cls(
                root=root.resolve(),
                server=ServerId.parse(str(gw["server"])),
                database_url=str(gw.get("database", f"sqlite:///{root.resolve()}/gateway.db")),
                is_listen=str(gw.get("is_listen", "127.0.0.1:8080")),
                peer_listen=str(gw.get("peer_listen", "127.0.0.1:5500")),
                admin_listen=str(gw.get("admin_listen", "127.0.0.1:5566")),
                is_tls=bool(gw.get("is_tls", False)),
                limits=GatewayLimits(
                    max_body=int(lim.get("max_body", d.max_body)),
                    peer_timeout=float(lim.get("peer_timeout", d.peer_timeout)),
                    freshness=int(lim.get("freshness", d.freshness)),
                ),
                log_body=str(mlog.get("body", "full")),
                retention_days=int(mlog.get("retention_days", 30)),
                anchoring=AnchoringSettings(
                    ledger_url=str(anc.get("ledger", da.ledger_url)),
                    credential=_under(root, str(anc.get("credential", da.credential))),
                    period=float(anc.get("period", da.period)),
                    max_unanchored=float(anc.get("max_unanchored", da.max_unanchored)),
                ),
                tracker=TrackerSettings.from_toml(data.get("tracker", {})),
            )
        except (KeyError, TypeError, ValueError, AttributeError, InvalidIdentifier) as e:
            raise ConfigurationError(f"{path}: missing or malformed setting ({e})") from e
        settings.validate()
        return settings

    def validate(self) -> None:
        for listen in (self.is_listen, self.peer_listen, self.admin_listen):
            parse_listen(listen)
        if self.log_body not in ("full", "digest"):
            raise ConfigurationError("[messagelog] body must be 'full' or 'digest'")
        if self.limits.max_body <= 0 or self.limits.freshness <= 0:
            raise ConfigurationError("[limits] values must be positive")
        anc = self.anchoring
        if not 0 < anc.period <= 3600 or anc.max_unanchored <= 0:
            raise ConfigurationError(
                "[anchoring] period must be in (0, 3600] and max_unanchored positive")
        if anc.ledger_url and not anc.ledger_url.startswith(("http://", "https://")):
            raise ConfigurationError("[anchoring] ledger must be an http:// or https:// URL")
        self.tracker.validate()

    def write(self) -> None:
        q = json.dumps  # TOML basic strings accept JSON string escapes
        lim = self.limits
        anc = self.anchoring
        text = (
            "[gateway]\n"
            f"server = {q(str(self.server))}\n"
            f"database = {q(self.database_url)}\n"
            f"is_listen = {q(self.is_listen)}\n"
            f"peer_listen = {q(self.peer_listen)}\n"
            f"admin_listen = {q(self.admin_listen)}\n"
            f"is_tls = {'true' if self.is_tls else 'false'}\n\n"
            "[limits]\n"
            f"max_body = {lim.max_body}\n"
            f"peer_timeout = {lim.peer_timeout}\n"
            f"freshness = {lim.freshness}\n\n"
            "[messagelog]\n"
            f"body = {q(self.log_body)}\n"
            f"retention_days = {self.retention_days}\n\n"
            "[anchoring]\n"
            f"ledger = {q(anc.ledger_url)}\n"
            f"credential = {q(anc.credential)}\n"
            f"period = {anc.period}\n"
            f"max_unanchored = {anc.max_unanchored}\n\n"
            + self.tracker.toml()
        )
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / GATEWAY_FILE).write_text(text)


def _under(root: Path, name: str) -> str:
    """A file setting relative to the gateway folder, made absolute ("" stays "")."""
    return str((root / name).resolve()) if name else ""


def sign_key_stem(member: MemberId) -> str:
    return str(member).replace("/", "_")
