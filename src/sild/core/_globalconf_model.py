"""The global configuration document as frozen values (docs/spec/globalconf.md §2).

Constructors sort every list the way the spec orders it on the wire ("Lists are
sorted by id (or name/serial) so that the bytes are stable"), so two equal
documents are equal values and encode to the same bytes. Validation of foreign
input lives in the codec; these constructors only refuse programming errors
(naive or sub-second times) with :class:`ValueError`.

The *field rules* (§2.1) say what each text field may hold. They are defined here,
once, and applied both by the codec when it parses a document (§4 step 3) and by
the registry before it stores an input, so the registry cannot sign a document
that gateways refuse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sild.core.identifiers import ClientId, GlobalGroupId, MemberId, ServerId, SubsystemId
from sild.errors import InvalidRequest

__all__ = [
    "ALGORITHM",
    "CA_CERTIFICATE",
    "CA_NAME",
    "FINGERPRINT",
    "GATEWAY_ADDRESS",
    "GROUP_DESCRIPTION",
    "INSTANCE",
    "KEY_ID",
    "LEDGER_VALUE",
    "LIST_VALUE",
    "MEMBER_NAME",
    "PUBLIC_KEY",
    "PURPOSE_CODE",
    "PURPOSE_TEXT",
    "REVOKED_SERIAL",
    "AddressRule",
    "CaEntry",
    "GatewayEntry",
    "GlobalConf",
    "GlobalGroupEntry",
    "LedgerSettings",
    "MemberEntry",
    "PurposeEntry",
    "RevokedCert",
    "SigningKey",
    "TextRule",
]


# --- field rules (docs/spec/globalconf.md §2.1) ----------------------------------------------

# C0 and C1 control characters (Unicode Cc; NUL also breaks PostgreSQL text) and lone
# surrogates (Cs: not encodable as UTF-8, so not text at all).
_NOT_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class TextRule:
    """A text field: 1-``max_len`` characters, no control characters or lone surrogates;
    with a ``pattern``, exactly that form instead (described by ``form`` in errors)."""

    max_len: int
    pattern: re.Pattern[str] | None = None
    form: str = ""

    def problem(self, value: object) -> str | None:
        """What is wrong with ``value``, as words that follow the field's name; or ``None``."""
        if not isinstance(value, str):
            return f"must be a string, got {type(value).__name__}"
        if not value or len(value) > self.max_len:
            return f"must be 1-{self.max_len} characters"
        if self.pattern is not None:
            if self.pattern.fullmatch(value):
                return None
            return f"must be {self.form}" if self.form else (
                f"{value[:40]!r} is not in the expected form")
        bad = _NOT_TEXT.search(value)
        if bad is not None:
            return f"must not contain control characters (U+{ord(bad.group()):04X})"
        return None

    def check(self, value: object, what: str) -> str:
        """``value`` if it obeys the rule, else :class:`InvalidRequest` ``"<what> <problem>"``."""
        problem = self.problem(value)
        if problem is not None:
            raise InvalidRequest(f"{what} {problem}")
        assert isinstance(value, str)  # problem() said so
        return value


@dataclass(frozen=True, slots=True)
class AddressRule(TextRule):
    """Where a gateway is reached: ``host:port`` — a DNS name or IP address (IPv6 in
    brackets) and a port 1-65535; no user, path, query or whitespace."""

    def problem(self, value: object) -> str | None:
        text_problem = TextRule.problem(self, value)
        if text_problem is not None:
            return text_problem
        assert isinstance(value, str)
        shown = repr(value[:80])
        try:
            parts = urlsplit(f"//{value}")
        except ValueError:  # e.g. an unbalanced "[" of an IPv6 literal
            return f"{shown} must be host:port"
        try:
            port = parts.port
        except ValueError:
            return f"{shown} has a bad port"
        if (not parts.hostname or port is None or parts.netloc != value
                or "@" in value or any(c.isspace() for c in value)):
            return f"{shown} must be host:port"
        if port == 0:
            return f"{shown} has a bad port"
        return None


# One rule per field of §2; the registry checks its inputs with the same objects.
INSTANCE = TextRule(255)  # and the identifier grammar (sild.core.identifiers)
ALGORITHM = TextRule(32)
KEY_ID = TextRule(32, re.compile(r"[0-9a-f]{32}"))
PUBLIC_KEY = TextRule(64)
MEMBER_NAME = TextRule(255)
CA_NAME = TextRule(255)
# A PEM certificate is a few KiB; 64 KiB bounds what one entry can make gateways hold.
CA_CERTIFICATE = TextRule(
    64 * 1024,
    re.compile(
        r"-----BEGIN CERTIFICATE-----\r?\n([A-Za-z0-9+/=\r\n]+?)\r?\n?"
        r"-----END CERTIFICATE-----\r?\n?"
    ),
    "one PEM CERTIFICATE block",
)
FINGERPRINT = TextRule(64, re.compile(r"[0-9a-f]{64}"), "64 lower-case hex digits (SHA-256)")
# RFC 5280 §4.1.2.2: a serial is at most 20 octets; 64 hex digits leave room to spare.
REVOKED_SERIAL = TextRule(64, re.compile(r"[0-9a-f]{1,64}"), "lower-case hex digits")
# A 253-character DNS name, or an IPv6 address in brackets, + ":" + 5 digits.
GATEWAY_ADDRESS = AddressRule(261)
GROUP_DESCRIPTION = TextRule(1024)
LEDGER_VALUE = TextRule(255)  # ledger endpoints, keys and witnesses
PURPOSE_CODE = TextRule(64)  # a registered purpose's code, as Sild-Purpose names it
PURPOSE_TEXT = TextRule(200)  # what the person sees as findUsage's action
LIST_VALUE = TextRule(255)  # entries of plain string lists (subsystem codes)


def _set(obj: object, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)  # normalising a frozen dataclass in __post_init__


def _aware_whole_seconds(when: datetime, what: str) -> None:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware")
    if when.microsecond:
        raise ValueError(f"{what} must be whole seconds")


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A configuration-signing public key (§1 anchor ``keys``, §2 ``signing_keys``)."""

    key_id: str
    algorithm: str
    public_key: bytes


@dataclass(frozen=True, slots=True)
class RevokedCert:
    """One revoked certificate of an approved CA, by serial number in lower-case hex."""

    serial: str
    revoked_at: datetime

    def __post_init__(self) -> None:
        _aware_whole_seconds(self.revoked_at, "revoked_at")


@dataclass(frozen=True, slots=True)
class CaEntry:
    """An approved certification authority and its revocations (§2 ``cas``)."""

    name: str
    certificate_pem: str
    fingerprint: str
    revoked: tuple[RevokedCert, ...] = ()

    def __post_init__(self) -> None:
        _set(self, "revoked", tuple(sorted(self.revoked, key=lambda r: r.serial)))


@dataclass(frozen=True, slots=True)
class MemberEntry:
    """A member organisation and the codes of its subsystems (§2 ``members``)."""

    id: MemberId
    name: str
    subsystems: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _set(self, "subsystems", tuple(sorted(self.subsystems)))


@dataclass(frozen=True, slots=True)
class GatewayEntry:
    """A gateway: where to reach it, its auth certificate, whom it hosts (§2 ``gateways``)."""

    id: ServerId
    address: str
    auth_fingerprint: str
    clients: tuple[ClientId, ...] = ()

    def __post_init__(self) -> None:
        _set(self, "clients", tuple(sorted(self.clients, key=str)))


@dataclass(frozen=True, slots=True)
class GlobalGroupEntry:
    """A registry-defined group of clients (§2 ``global_groups``)."""

    id: GlobalGroupId
    description: str
    members: tuple[ClientId, ...] = ()

    def __post_init__(self) -> None:
        _set(self, "members", tuple(sorted(self.members, key=str)))


@dataclass(frozen=True, slots=True)
class PurposeEntry:
    """A purpose of processing personal data registered in the registry (§2 ``purposes``):
    a request's ``Sild-Purpose`` may name its code (docs/spec/tracker.md §1)."""

    code: str
    text: str

    def __post_init__(self) -> None:
        PURPOSE_CODE.check(self.code, "purpose code")
        PURPOSE_TEXT.check(self.text, "purpose text")


@dataclass(frozen=True, slots=True)
class LedgerSettings:
    """Ledger endpoints, keys and witnesses: a placeholder until the ledger spec fills it."""

    endpoints: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    witnesses: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("endpoints", "keys", "witnesses"):
            _set(self, name, tuple(sorted(getattr(self, name))))


@dataclass(frozen=True, slots=True)
class GlobalConf:
    """One version of the global configuration (docs/spec/globalconf.md §2).

    Lookups are answered from indexes built once at construction, because
    gateways consult them on every exchange.
    """

    instance: str
    version: int
    issued_at: datetime
    expires_at: datetime
    refresh_interval: int
    signing_keys: tuple[SigningKey, ...]
    cas: tuple[CaEntry, ...] = ()
    members: tuple[MemberEntry, ...] = ()
    gateways: tuple[GatewayEntry, ...] = ()
    global_groups: tuple[GlobalGroupEntry, ...] = ()
    ledger: LedgerSettings = field(default_factory=LedgerSettings)
    purposes: tuple[PurposeEntry, ...] = ()
    _members: dict[MemberId, MemberEntry] = field(init=False, repr=False, compare=False, hash=False)
    _gateways: dict[ServerId, GatewayEntry] = field(
        init=False, repr=False, compare=False, hash=False
    )
    _hosts: dict[ClientId, tuple[GatewayEntry, ...]] = field(
        init=False, repr=False, compare=False, hash=False
    )
    _groups: dict[GlobalGroupId, GlobalGroupEntry] = field(
        init=False, repr=False, compare=False, hash=False
    )
    _revoked: dict[str, frozenset[str]] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        _aware_whole_seconds(self.issued_at, "issued_at")
        _aware_whole_seconds(self.expires_at, "expires_at")
        _set(self, "signing_keys", tuple(sorted(self.signing_keys, key=lambda k: k.key_id)))
        _set(self, "cas", tuple(sorted(self.cas, key=lambda c: (c.name, c.fingerprint))))
        _set(self, "members", tuple(sorted(self.members, key=lambda m: str(m.id))))
        _set(self, "gateways", tuple(sorted(self.gateways, key=lambda g: str(g.id))))
        _set(self, "global_groups", tuple(sorted(self.global_groups, key=lambda g: str(g.id))))
        _set(self, "purposes", tuple(sorted(self.purposes, key=lambda p: p.code)))
        _set(self, "_members", {m.id: m for m in self.members})
        _set(self, "_gateways", {g.id: g for g in self.gateways})
        hosts: dict[ClientId, list[GatewayEntry]] = {}
        for g in self.gateways:
            for c in g.clients:
                hosts.setdefault(c, []).append(g)
        _set(self, "_hosts", {c: tuple(gs) for c, gs in hosts.items()})
        _set(self, "_groups", {g.id: g for g in self.global_groups})
        _set(
            self,
            "_revoked",
            {ca.fingerprint: frozenset(r.serial for r in ca.revoked) for ca in self.cas},
        )

    def purpose(self, code: str) -> PurposeEntry | None:
        """The registered purpose with this code, or ``None`` (free text)."""
        return next((p for p in self.purposes if p.code == code), None)

    def member(self, member_id: MemberId) -> MemberEntry | None:
        """The registered member, or ``None``."""
        return self._members.get(member_id)

    def has_client(self, client_id: ClientId) -> bool:
        """Whether the member (and, for a subsystem, the subsystem) is registered."""
        if isinstance(client_id, SubsystemId):
            entry = self._members.get(client_id.member)
            return entry is not None and client_id.subsystem_code in entry.subsystems
        return client_id in self._members

    def gateway(self, server_id: ServerId) -> GatewayEntry | None:
        """The registered gateway, or ``None``."""
        return self._gateways.get(server_id)

    def gateways_for(self, client_id: ClientId) -> tuple[GatewayEntry, ...]:
        """The gateways that host ``client_id``, sorted by id; empty if none."""
        return self._hosts.get(client_id, ())

    def group_members(self, group_id: GlobalGroupId) -> tuple[ClientId, ...]:
        """Members of a global group; empty for an unknown group."""
        group = self._groups.get(group_id)
        return group.members if group is not None else ()

    def ca(self, fingerprint: str) -> CaEntry | None:
        """The approved CA with this certificate fingerprint, or ``None``."""
        for ca in self.cas:
            if ca.fingerprint == fingerprint:
                return ca
        return None

    def is_revoked(self, ca_fingerprint: str, serial: int | str) -> bool:
        """Whether the CA lists ``serial`` (an int, or hex text in any case) as revoked."""
        text = format(serial, "x") if isinstance(serial, int) else serial.lower()
        return text in self._revoked.get(ca_fingerprint, frozenset())
