"""The portal's configuration file, ``portal.toml`` (docs/spec/portal.md §2).

```toml
listen = "127.0.0.1:8487"
public_url = "http://127.0.0.1:8487"     # https:// → cookies are Secure
gateway_url = "http://127.0.0.1:8080"    # the portal's OWN gateway (IS side)
client = "DEMO/GOV/70006317/portal"      # the portal's member subsystem (X-Road-Client)
demo = false                             # true: the marked "demo login" is offered

[registers]                              # register label → service id on the exchange
population = "DEMO/GOV/70008440/rr/population"
health = "DEMO/GOV/70009770/tis/health"

[trackers]                               # register label → its findUsage service id
population = "DEMO/GOV/70008440/rr/findUsage"

[consent]                                # the consent service's person-facing API
url = "http://127.0.0.1:8483"
token_file = "consent-admin-token"

[notify]                                 # the notification service's person-facing API
url = "http://127.0.0.1:8484"
token_file = "notify-admin-token"

[oidc]                                   # Sild's OpenID Connect provider
issuer = "http://127.0.0.1:8482"
client_id = "portal"
client_secret_file = "oidc-client-secret"   # optional (public client with PKCE)

[[doctors]]                              # named doctors a person may let through a lock
name = "Clinic Ltd — family doctor"
client = "DEMO/COM/10000001/his"

[eservice_apis]                          # e-services the portal's own pages use (§8),
company = "DEMO/GOV/70000310/company/company"   # called through the exchange
"tax-return" = "DEMO/GOV/70000310/taxreturn/taxreturn"
family = "DEMO/GOV/70006317/family/family"

[[eservices]]                            # links to other e-services' own pages
name = "Register a company"
url = "http://127.0.0.1:8490/"

[[demo_persons]]                         # only with demo = true
code = "EE38001085718"
name = "Mari Maasikas"

trust_files = ["root-ca.pem"]            # anchors for verifying documents
ledger_keys = ["ledger.vkey"]            # proof badges check anchors against the ledger

[signing]                                # signing with the person's soft token + PIN2
tokens_dir = "tokens"                    # <CC code>.token per person
tsa_url = "http://127.0.0.1:8489/tsa"
ocsp_url = "http://127.0.0.1:8488/ocsp"
ca_files = ["person-ca.pem", "root-ca.pem"]
```

Relative file names are read next to the configuration file. Everything is checked
here, once: a bad value is a :class:`~sild.errors.ConfigurationError` naming it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sild.core.identifiers import ServiceId, SubsystemId
from sild.core.note import Ed25519Verifier, parse_verifier_key
from sild.core.usage import parse_subject
from sild.core.verification import TrustPolicy
from sild.errors import ConfigurationError, LedgerFormatError, SildError

__all__ = [
    "DEFAULT_PORT",
    "ESERVICE_LABELS",
    "REGISTER_LABELS",
    "DemoPerson",
    "Link",
    "OidcSettings",
    "PortalConfig",
    "ServiceApi",
    "SigningSettings",
    "load_config",
]

DEFAULT_PORT = 8487
# The base registries the "My data" page knows how to show (docs/spec/registers.md §4).
REGISTER_LABELS = ("population", "health", "business", "tax", "vehicles", "land")
# The e-services the portal has pages for (docs/spec/portal.md §8, docs/spec/eservices.md §5).
ESERVICE_LABELS = ("company", "tax-return", "family")


@dataclass(frozen=True)
class ServiceApi:
    """A person-facing management API (consent, notify) and its bearer token."""

    url: str
    token: str


@dataclass(frozen=True)
class Link:
    name: str
    target: str  # a client id (doctors) or a URL (e-services)


@dataclass(frozen=True)
class DemoPerson:
    code: str
    name: str


@dataclass(frozen=True)
class OidcSettings:
    issuer: str
    client_id: str
    client_secret: str | None = None


@dataclass(frozen=True)
class SigningSettings:
    tokens_dir: Path  # <CC code>.token per person
    tsa_url: str
    ocsp_url: str
    ca_files: tuple[Path, ...]  # the signing certificates' chain (person CA, root)


@dataclass(frozen=True)
class PortalConfig:
    gateway_url: str
    client: SubsystemId
    listen: str = f"127.0.0.1:{DEFAULT_PORT}"
    public_url: str = f"http://127.0.0.1:{DEFAULT_PORT}"
    demo: bool = False
    registers: dict[str, ServiceId] = field(default_factory=dict)
    trackers: dict[str, ServiceId] = field(default_factory=dict)
    consent: ServiceApi | None = None
    notify: ServiceApi | None = None
    oidc: OidcSettings | None = None
    doctors: tuple[Link, ...] = ()
    eservices: tuple[Link, ...] = ()
    eservice_apis: dict[str, ServiceId] = field(default_factory=dict)  # label → service
    demo_persons: tuple[DemoPerson, ...] = ()
    signing: SigningSettings | None = None
    trust_files: tuple[Path, ...] = ()  # anchors for verifying documents (root CAs)
    # The ledger's verification keys (`ledger.vkey`): with them the timeline's proof badges
    # check each usage chain's anchor against the ledger (docs/spec/portal-usage.md).
    ledger_keys: tuple[Path, ...] = ()

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")


def _url(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise ConfigurationError(f"{what} must be an http:// or https:// URL")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query \
            or parts.fragment:
        raise ConfigurationError(f"{what} must be an http:// or https:// URL, not "
                                 f"{value[:60]!r}")
    return value.rstrip("/")


def _text(value: object, what: str, limit: int = 200) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit \
            or not value.isprintable():
        raise ConfigurationError(f"{what} must be printable text of 1–{limit} characters")
    return value


def _table(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigurationError(f"[{key}] must be a table")
    return value


def _services(data: dict[str, Any], key: str,
              labels: tuple[str, ...] = REGISTER_LABELS) -> dict[str, ServiceId]:
    out: dict[str, ServiceId] = {}
    for label, sid in _table(data, key).items():
        if label not in labels:
            raise ConfigurationError(f"[{key}] {label[:30]!r}: one of "
                                     f"{', '.join(labels)}")
        try:
            out[label] = ServiceId.parse(_text(sid, f"[{key}] {label}"))
        except SildError as e:
            raise ConfigurationError(f"[{key}] {label}: {e.message}") from e
    return out


def _secret(base: Path, table: dict[str, Any], key: str, what: str) -> str:
    name = _text(table.get(key), f"{what} {key}", 500)
    try:
        secret = (base / name).read_text().strip()
    except OSError as e:
        raise ConfigurationError(f"{what} {key}: cannot read {name}: {e.strerror}") from e
    if not secret:
        raise ConfigurationError(f"{what} {key}: {name} is empty")
    return secret


def _api(base: Path, data: dict[str, Any], key: str) -> ServiceApi | None:
    if key not in data:
        return None
    table = _table(data, key)
    return ServiceApi(_url(table.get("url"), f"[{key}] url"),
                      _secret(base, table, "token_file", f"[{key}]"))


def _links(data: dict[str, Any], key: str, target: str) -> tuple[Link, ...]:
    items = data.get(key, [])
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ConfigurationError(f"[[{key}]] must be an array of tables")
    out = []
    for item in items:
        value = item.get(target)
        if target == "client":
            try:
                value = str(SubsystemId.parse(_text(value, f"[[{key}]] client")))
            except SildError as e:
                raise ConfigurationError(f"[[{key}]] client: {e.message}") from e
        else:
            value = _url(value, f"[[{key}]] {target}")
        out.append(Link(_text(item.get("name"), f"[[{key}]] name"), value))
    return tuple(out)


def _demo_persons(data: dict[str, Any]) -> tuple[DemoPerson, ...]:
    items = data.get("demo_persons", [])
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ConfigurationError("[[demo_persons]] must be an array of tables")
    out = []
    for item in items:
        try:
            code = parse_subject(item.get("code"))
        except SildError as e:
            raise ConfigurationError(f"[[demo_persons]] code: {e.message}") from e
        out.append(DemoPerson(code, _text(item.get("name"), "[[demo_persons]] name")))
    return tuple(out)


def _paths(base: Path, value: object, what: str) -> tuple[Path, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigurationError(f"{what} must be a list of file names")
    paths = tuple(base / v for v in value)
    for p in paths:
        if not p.is_file():
            raise ConfigurationError(f"{what}: {p} is not a file")
    return paths


def ledger_policy(config: PortalConfig) -> TrustPolicy | None:
    """The trust policy of the proof badges: the configured ledger keys, or None (badges
    then say "complete, not yet anchored" at best)."""
    if not config.ledger_keys:
        return None
    keys = []
    for path in config.ledger_keys:
        try:
            key = parse_verifier_key(path.read_text(encoding="utf-8").strip())
        except (OSError, UnicodeDecodeError, ValueError, LedgerFormatError) as e:
            raise ConfigurationError(f"ledger_keys: {path} is not a ledger key") from e
        if not isinstance(key, Ed25519Verifier):
            raise ConfigurationError(f"ledger_keys: {path} is not an Ed25519 ledger key")
        keys.append(key)
    return TrustPolicy(log_keys=tuple(keys))


def _signing(base: Path, data: dict[str, Any]) -> SigningSettings | None:
    if "signing" not in data:
        return None
    t = _table(data, "signing")
    tokens = base / _text(t.get("tokens_dir"), "[signing] tokens_dir", 500)
    if not tokens.is_dir():
        raise ConfigurationError(f"[signing] tokens_dir: {tokens} is not a folder")
    return SigningSettings(tokens, _url(t.get("tsa_url"), "[signing] tsa_url"),
                           _url(t.get("ocsp_url"), "[signing] ocsp_url"),
                           _paths(base, t.get("ca_files", []), "[signing] ca_files"))


def parse_config(data: dict[str, Any], base: Path) -> PortalConfig:
    """The configuration from a parsed TOML document; files relative to ``base``."""
    known = {"listen", "public_url", "gateway_url", "client", "demo", "registers", "trackers",
             "consent", "notify", "oidc", "doctors", "eservices", "eservice_apis",
             "demo_persons", "signing", "trust_files", "ledger_keys"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigurationError(f"unknown setting {unknown[0][:40]!r}")
    try:
        client = SubsystemId.parse(_text(data.get("client"), "client"))
    except SildError as e:
        raise ConfigurationError(f"client: {e.message}") from e
    demo = data.get("demo", False)
    if not isinstance(demo, bool):
        raise ConfigurationError("demo must be true or false")
    listen = _text(data.get("listen", f"127.0.0.1:{DEFAULT_PORT}"), "listen")
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigurationError(f"listen must be HOST:PORT, not {listen[:60]!r}")
    oidc = None
    if "oidc" in data:
        table = _table(data, "oidc")
        oidc = OidcSettings(
            _url(table.get("issuer"), "[oidc] issuer"),
            _text(table.get("client_id"), "[oidc] client_id"),
            _secret(base, table, "client_secret_file", "[oidc]")
            if "client_secret_file" in table else None)
    persons = _demo_persons(data)
    if persons and not demo:
        raise ConfigurationError("[[demo_persons]] needs demo = true")
    config = PortalConfig(
        gateway_url=_url(data.get("gateway_url"), "gateway_url"), client=client,
        listen=listen, public_url=_url(data.get("public_url", f"http://{listen}"),
                                       "public_url"),
        demo=demo, registers=_services(data, "registers"),
        trackers=_services(data, "trackers"), consent=_api(base, data, "consent"),
        notify=_api(base, data, "notify"), oidc=oidc,
        doctors=_links(data, "doctors", "client"), eservices=_links(data, "eservices", "url"),
        eservice_apis=_services(data, "eservice_apis", ESERVICE_LABELS),
        demo_persons=persons, signing=_signing(base, data),
        trust_files=_paths(base, data.get("trust_files", []), "trust_files"),
        ledger_keys=_paths(base, data.get("ledger_keys", []), "ledger_keys"))
    ledger_policy(config)  # a bad key file is refused at start, with its name
    return config


def load_config(path: Path) -> PortalConfig:
    try:
        data = tomllib.loads(path.read_text())
    except OSError as e:
        raise ConfigurationError(f"cannot read {path}: {e.strerror}") from e
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigurationError(f"{path} is not TOML: {e}") from e
    return parse_config(data, path.parent)
