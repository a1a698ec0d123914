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
    processes = 1                     # gateway processes sharing the IS and peer ports
                                      # (SO_REUSEPORT), kept running; `serve --processes`

    [limits]
    max_body = 10485760               # bytes; X-Road max-loggable-message-body-size 10 MiB
    peer_timeout = 60                 # seconds for a provider gateway to answer
    freshness = 120                   # seconds a signed request stays acceptable (replay window)
    header_timeout = 10               # seconds for a request head, from connect or from its
                                      # first byte; slower connections are closed
    body_timeout = 30                 # seconds for a request body once its head is in
    keepalive_timeout = 75            # seconds an idle kept-alive connection stays open
    peer_connection_lifetime = 120    # seconds a peer connection is reused, then renewed
                                      # (spreads peers over nodes behind a TCP balancer)

    [admission]                       # docs/spec/exchange.md §8; 0 = no limit
    max_in_flight = 1024              # per side; past it 503 + Retry-After (load shed)
    client_concurrency = 64           # IS port, per X-Road-Client subsystem
    client_rate = 0                   # requests/s per client (token bucket), 0 = off
    client_burst = 0                  # bucket size; 0 = max(1, rate)
    peer_concurrency = 256            # peer port, per calling gateway
    peer_rate = 0
    peer_burst = 0
    retry_after = 1                   # seconds, in Retry-After of 429 and 503
    accept_rate = 1000                # new connections/s per port and process; more
    accept_burst = 1000               # wait in the kernel's queue (0 = no limit)

    [admission.clients."EE/GOV/70000001/rr"]   # per-client override (same for
    concurrency = 16                           # [admission.peers."EE/COM/1/gw2"])
    rate = 50
    burst = 100

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
    assertion_issuer = ""             # OpenID provider whose Sild-Subject-Assertion is accepted
    assertion_jwks = ""               # its JWKS (file, relative to the gateway folder)

    [tracker.retention]               # per register, overriding retention_days
    "EE/GOV/70000001/rr" = 730
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

from sild.core.identifiers import MemberId, ServerId, ServiceId, SubsystemId, parse_client
from sild.errors import ConfigurationError, InvalidIdentifier, SildError
from sild.gateway.admission import AdmissionSettings, Quota
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
    # A request head (from connect, or from its first byte on a kept-alive connection)
    # slower than this closes the connection: slow-loris senders cannot hold sockets.
    header_timeout: float = 10.0
    # A request body slower than this (once the head is in) gets 408 / is closed.
    body_timeout: float = 30.0
    # An idle kept-alive connection is closed after this; above the peers' pool idle
    # time (60 s, sild.gateway.runtime) so that the closing side is the client's.
    keepalive_timeout: float = 75.0
    # A peer connection older than this gets `Connection: close` on its next answer, so
    # that the peer opens a new one: behind a TCP load balancer that is how several
    # nodes of a gateway share the peers, and a restarted node gets its share back
    # (one TLS handshake per connection per lifetime; 0 = keep connections for ever).
    peer_connection_lifetime: float = 120.0


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
    # Sild-Subject-Assertion (docs/spec/tracker.md §1, identity.md §8): the OpenID
    # provider whose assertions say the person asked, and its JWKS file; "" = not accepted.
    assertion_issuer: str = ""
    assertion_jwks: str = ""
    # Retention per register (provider subsystem id → days), [tracker.retention]; the
    # others keep retention_days (docs/spec/tracker.md §5.3).
    register_retention: tuple[tuple[str, int], ...] = ()

    def retention_for(self, register: str | None) -> int:
        """Days the usage records of ``register`` are kept."""
        return dict(self.register_retention).get(register or "", self.retention_days)

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
            notify_interval=float(data.get("notify_interval", d.notify_interval)),
            assertion_issuer=str(data.get("assertion_issuer", d.assertion_issuer)),
            assertion_jwks=str(data.get("assertion_jwks", d.assertion_jwks)),
            register_retention=tuple(sorted(
                (str(k), int(v)) for k, v in dict(data.get("retention", {})).items())))

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
                f"notify_interval = {self.notify_interval}\n"
                f"assertion_issuer = {q(self.assertion_issuer)}\n"
                f"assertion_jwks = {q(self.assertion_jwks)}\n"
                + ("\n[tracker.retention]\n" + "".join(
                    f"{q(k)} = {v}\n" for k, v in self.register_retention)
                   if self.register_retention else ""))

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
        for register, days in self.register_retention:
            try:
                SubsystemId.parse(register)
            except InvalidIdentifier as e:
                raise ConfigurationError(f"[tracker.retention] {register!r}: {e.message}") \
                    from e
            if days < 1:
                raise ConfigurationError(f"[tracker.retention] {register}: at least 1 day")
        if bool(self.assertion_issuer) != bool(self.assertion_jwks):
            raise ConfigurationError(
                "[tracker] assertion_issuer and assertion_jwks are set together")

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
    processes: int = 1
    anchoring: AnchoringSettings = field(default_factory=AnchoringSettings)
    admission: AdmissionSettings = field(default_factory=AdmissionSettings)
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
                processes=_processes(gw.get("processes", 1)),
                limits=GatewayLimits(
                    max_body=int(lim.get("max_body", d.max_body)),
                    peer_timeout=float(lim.get("peer_timeout", d.peer_timeout)),
                    freshness=int(lim.get("freshness", d.freshness)),
                    header_timeout=_number(lim, "header_timeout", d.header_timeout,
                                           where="limits"),
                    body_timeout=_number(lim, "body_timeout", d.body_timeout, where="limits"),
                    keepalive_timeout=_number(lim, "keepalive_timeout", d.keepalive_timeout,
                                              where="limits"),
                    peer_connection_lifetime=_number(
                        lim, "peer_connection_lifetime", d.peer_connection_lifetime,
                        where="limits"),
                ),
                admission=_admission(data.get("admission", {})),
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
        lim = self.limits
        if (lim.max_body <= 0 or lim.freshness <= 0 or lim.header_timeout <= 0
                or lim.body_timeout <= 0 or lim.keepalive_timeout <= 0):
            raise ConfigurationError("[limits] values must be positive")
        if lim.peer_connection_lifetime < 0:
            raise ConfigurationError("[limits] peer_connection_lifetime must be 0 (no limit) "
                                     "or positive")
        adm = self.admission
        if adm.max_in_flight <= 0 or adm.retry_after <= 0 or adm.max_callers <= 0:
            raise ConfigurationError(
                "[admission] max_in_flight, retry_after and max_callers must be positive")
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
            f"is_tls = {'true' if self.is_tls else 'false'}\n"
            f"processes = {self.processes}\n\n"
            "[limits]\n"
            f"max_body = {lim.max_body}\n"
            f"peer_timeout = {lim.peer_timeout}\n"
            f"freshness = {lim.freshness}\n"
            f"header_timeout = {lim.header_timeout}\n"
            f"body_timeout = {lim.body_timeout}\n"
            f"keepalive_timeout = {lim.keepalive_timeout}\n"
            f"peer_connection_lifetime = {lim.peer_connection_lifetime}\n\n"
            "[messagelog]\n"
            f"body = {q(self.log_body)}\n"
            f"retention_days = {self.retention_days}\n\n"
            "[anchoring]\n"
            f"ledger = {q(anc.ledger_url)}\n"
            f"credential = {q(anc.credential)}\n"
            f"period = {anc.period}\n"
            f"max_unanchored = {anc.max_unanchored}\n\n"
            + self.tracker.toml()
            + _admission_text(self.admission)
        )
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / GATEWAY_FILE).write_text(text)


def _under(root: Path, name: str) -> str:
    """A file setting relative to the gateway folder, made absolute ("" stays "")."""
    return str((root / name).resolve()) if name else ""


MAX_PROCESSES = 256


def _processes(value: object) -> int:
    """``[gateway] processes``: a whole number of gateway processes, 1 to 256."""
    if isinstance(value, bool) or not isinstance(value, int) \
            or not 1 <= value <= MAX_PROCESSES:
        raise ConfigurationError(f"[gateway] processes must be a whole number from 1 to "
                                 f"{MAX_PROCESSES}, not {value!r}")
    return value


def sign_key_stem(member: MemberId) -> str:
    return str(member).replace("/", "_")


def _number(table: dict[str, Any], key: str, default: float, *, where: str,
            whole: bool = False) -> float:
    """A non-negative number from ``table``; a one-line ConfigurationError otherwise."""
    value = table.get(key, default)
    kind = "a whole number" if whole else "a number"
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or (whole and not isinstance(value, int))):
        raise ConfigurationError(f"[{where}] {key} must be {kind}, not {value!r}")
    if value < 0 or value != value or value == float("inf"):
        raise ConfigurationError(f"[{where}] {key} must be {kind} ≥ 0, not {value!r}")
    return value


def _quota(table: Any, where: str, default: Quota, prefix: str = "") -> Quota:
    if not isinstance(table, dict):
        raise ConfigurationError(f"[{where}] must be a table, not {table!r}")
    known = {f"{prefix}concurrency", f"{prefix}rate", f"{prefix}burst"}
    if not prefix:  # an override table holds these three keys only
        unknown = sorted(set(table) - known)
        if unknown:
            raise ConfigurationError(f"[{where}] unknown setting {unknown[0]!r} "
                                     "(concurrency, rate, burst)")
    return Quota(
        concurrency=int(_number(table, f"{prefix}concurrency", default.concurrency,
                                where=where, whole=True)),
        rate=float(_number(table, f"{prefix}rate", default.rate, where=where)),
        burst=float(_number(table, f"{prefix}burst", default.burst, where=where)))


def _admission(table: Any) -> AdmissionSettings:
    """``[admission]``, checked key by key (docs/operations.md "Admission")."""
    if not isinstance(table, dict):
        raise ConfigurationError(f"[admission] must be a table, not {table!r}")
    d = AdmissionSettings()
    top = {"max_in_flight", "retry_after", "max_callers", "clients", "peers", "accept_rate",
           "accept_burst"} | {
        f"{who}_{k}" for who in ("client", "peer") for k in ("concurrency", "rate", "burst")}
    unknown = sorted(set(table) - top)
    if unknown:
        raise ConfigurationError(f"[admission] unknown setting {unknown[0]!r}")
    client = _quota(table, "admission", d.client, "client_")
    peer = _quota(table, "admission", d.peer, "peer_")

    def overrides(name: str, default: Quota) -> dict[str, Quota]:
        given = table.get(name, {})
        if not isinstance(given, dict):
            raise ConfigurationError(f"[admission.{name}] must be a table, not {given!r}")
        out = {}
        for key, value in given.items():
            try:  # the same canonical text as the admission key at the port
                canonical = (str(ServerId.parse(key)) if name == "peers"
                             else str(parse_client(key)))
            except InvalidIdentifier as e:
                raise ConfigurationError(
                    f"[admission.{name}] {key!r} is not a valid id: {e}") from e
            out[canonical] = _quota(value, f"admission.{name}.{json.dumps(key)}", default)
        return out

    return AdmissionSettings(
        max_in_flight=int(_number(table, "max_in_flight", d.max_in_flight,
                                  where="admission", whole=True)),
        client=client, clients=overrides("clients", client),
        peer=peer, peers=overrides("peers", peer),
        retry_after=int(_number(table, "retry_after", d.retry_after, where="admission",
                                whole=True)),
        max_callers=int(_number(table, "max_callers", d.max_callers, where="admission",
                                whole=True)),
        accept_rate=_number(table, "accept_rate", d.accept_rate, where="admission"),
        accept_burst=_number(table, "accept_burst", d.accept_burst, where="admission"))


def _admission_text(a: AdmissionSettings) -> str:
    q = json.dumps
    lines = ["", "[admission]", f"max_in_flight = {a.max_in_flight}"]
    for who, quota in (("client", a.client), ("peer", a.peer)):
        lines += [f"{who}_concurrency = {quota.concurrency}", f"{who}_rate = {quota.rate}",
                  f"{who}_burst = {quota.burst}"]
    lines += [f"retry_after = {a.retry_after}", f"max_callers = {a.max_callers}",
              f"accept_rate = {a.accept_rate}", f"accept_burst = {a.accept_burst}"]
    for name, table in (("clients", a.clients), ("peers", a.peers)):
        for key, quota in table.items():
            lines += ["", f"[admission.{name}.{q(key)}]", f"concurrency = {quota.concurrency}",
                      f"rate = {quota.rate}", f"burst = {quota.burst}"]
    return "\n".join(lines) + "\n"
