"""Usage events, subscriptions and webhook signatures — the pure part of notifications.

docs/spec/notify.md. Nothing here touches a socket, a database or the clock:

* :func:`parse_event` — one usage event as a provider gateway sends it (§2), checked
  field by field; its id is ``<register>/<subject>/<seq>``, the usage record's identity
  in the register's chain (docs/spec/tracker.md §3.2), so a resent event is recognised;
* :func:`check_webhook_url` — a subscription's URL: plain http(s), a host, no user
  info, and not a loopback, private, link-local or otherwise non-public address unless
  the operator allowed that network (§3.1; names are checked again once resolved, by
  :mod:`sild.notify.delivery`);
* :func:`matches` — a subscription's rule (§3.2); break-glass always matches;
* :func:`sign` — Standard Webhooks v1 signatures (HMAC-SHA256 over
  ``<webhook-id>.<webhook-timestamp>.<body>``, §5.2);
* :func:`retry_delay` — exponential backoff with a cap and jitter (§5.3).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sild.core.headertext import storable
from sild.core.identifiers import SubsystemId, parse_client
from sild.core.usage import check_category, parse_subject
from sild.errors import InvalidRequest, InvalidWebhookUrl, SildError

__all__ = [
    "BREAK_GLASS_FLAGS",
    "EVENT_FIELDS",
    "Event",
    "Network",
    "NotifyLimits",
    "address_allowed",
    "check_webhook_url",
    "event_id",
    "matches",
    "new_secret",
    "parse_event",
    "parse_networks",
    "parse_time",
    "retry_delay",
    "sign",
]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Flags that mean break-glass (docs/spec/tracker.md §6): notified whatever the rule says.
BREAK_GLASS_FLAGS = frozenset({"emergency", "lock-overridden"})
MAX_URL = 2048
MAX_TEXT = 4096
MAX_FLAGS = 16
MAX_CATEGORIES = 32
EVENT_FIELDS = ("id", "register", "subject", "seq", "loggedAt", "action", "purposeCode",
                "legalBasis", "receiver", "receiverName", "service", "consentId",
                "categories", "flags", "reason", "recordHash")


@dataclass(frozen=True)
class NotifyLimits:
    """Limits of the notification service, each with its reason (STYLE.md rule 8)."""

    # Events per POST /v1/events: a gateway sends at most 200; 500 leaves room and keeps
    # one batch's transaction short.
    max_batch: int = 500
    # Bytes per request body: 500 events of ~1 KB, with room.
    max_body: int = 1024 * 1024
    # Webhooks per person: a person needs a few; a stranger with the token cannot make
    # one event fan out without bound.
    max_webhooks: int = 5
    # One webhook POST, connect to last byte: a hanging receiver holds one slot this long.
    webhook_timeout: float = 5.0
    # Webhook POSTs in flight, in all; and per subscription, so that one slow receiver
    # never takes every slot (§5.4).
    concurrency: int = 32
    per_subscription: int = 2
    # Backoff after a failed attempt: base·2^(n-1) seconds, at most cap (§5.3); after
    # max_attempts the delivery is dead-lettered. 15 attempts ≈ 4 h of trying.
    retry_base: float = 1.0
    retry_cap: float = 3600.0
    max_attempts: int = 15
    # How often the worker looks for due retries when nothing wakes it.
    poll: float = 0.5
    # An in-flight delivery whose process died is taken up again after its lease.
    lease: float = 60.0
    # Bytes of a webhook's answer kept as its last error.
    max_answer: int = 4096


@dataclass(frozen=True, slots=True)
class Event:
    """One usage event (§2), as checked by :func:`parse_event`."""

    register: str
    subject: str
    seq: int
    logged_at: datetime
    categories: tuple[str, ...]
    flags: tuple[str, ...]
    body: dict[str, Any]  # the whole event, as stored and delivered

    @property
    def id(self) -> str:
        return event_id(self.register, self.subject, self.seq)

    @property
    def emergency(self) -> bool:
        return bool(BREAK_GLASS_FLAGS & set(self.flags))


def event_id(register: str, subject: str, seq: int) -> str:
    """``<register>/<subject>/<seq>``: the usage record's place in its chain."""
    return f"{register}/{subject}/{seq}"


def parse_time(text: object, what: str) -> datetime:
    """An RFC 3339 date-time with a zone (§5.6 ``date-time``)."""
    when = None
    if isinstance(text, str) and len(text) <= 40 and "T" in text.upper():
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            when = None
    if when is None or when.tzinfo is None:
        raise InvalidRequest(f"{what} must be an RFC 3339 date-time with a zone")
    return when


def _text(data: dict[str, Any], name: str, limit: int = MAX_TEXT) -> str:
    value = data[name]
    if not isinstance(value, str) or not storable(value, limit=limit):
        raise InvalidRequest(f"{name} must be text of at most {limit} characters")
    return value


def _flag(value: object) -> str:
    if (not isinstance(value, str) or not 0 < len(value) <= 32
            or any(c not in "abcdefghijklmnopqrstuvwxyz-" for c in value)):
        raise InvalidRequest("a flag is 1-32 of a-z and '-'")
    return value


def parse_event(data: object) -> Event:
    """One event of a ``POST /v1/events`` batch (§2); :class:`InvalidRequest` (or
    :class:`~sild.errors.InvalidPersonalCode`) naming the first fault."""
    if not isinstance(data, dict):
        raise InvalidRequest("an event is a JSON object")
    missing = [f for f in EVENT_FIELDS if f not in data]
    if missing:
        raise InvalidRequest(f"event field {missing[0]!r} is missing")
    unknown = sorted(set(data) - set(EVENT_FIELDS))
    if unknown:
        raise InvalidRequest(f"unknown event field {unknown[0][:40]!r}")
    register = _text(data, "register", 1100)
    try:
        client = parse_client(register)
    except SildError as e:
        raise InvalidRequest(f"register is not a subsystem id: {e.message}") from e
    if not isinstance(client, SubsystemId) or str(client) != register:
        raise InvalidRequest("register must be a subsystem id like EE/GOV/70000562/rr")
    subject = parse_subject(data["subject"])
    if subject != data["subject"]:
        raise InvalidRequest("subject must be written CC<code>, like EE38001085718")
    seq = data["seq"]
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 < seq < 2**63:
        raise InvalidRequest("seq must be a whole number from 1")
    if data["id"] != event_id(register, subject, seq):
        raise InvalidRequest("id must be <register>/<subject>/<seq>")
    logged_at = parse_time(data["loggedAt"], "loggedAt")
    for name in ("action", "legalBasis", "receiverName", "reason"):
        _text(data, name)
    for name, limit in (("purposeCode", 64), ("receiver", 1100), ("service", 1400),
                        ("consentId", 255)):
        _text(data, name, limit)
    cats, flags = data["categories"], data["flags"]
    if not isinstance(cats, list) or len(cats) > MAX_CATEGORIES:
        raise InvalidRequest(f"categories is a list of at most {MAX_CATEGORIES} categories")
    if not isinstance(flags, list) or len(flags) > MAX_FLAGS:
        raise InvalidRequest(f"flags is a list of at most {MAX_FLAGS} flags")
    categories = tuple(sorted({check_category(c) for c in cats}))
    flag_set = tuple(sorted({_flag(f) for f in flags}))
    if "sealed" in flag_set:  # docs/spec/tracker.md §4: never sent, refused if it is
        raise InvalidRequest("a sealed usage record is never notified (docs/spec/notify.md "
                             "§2.2)")
    digest = data["recordHash"]
    if not isinstance(digest, str) or len(digest) != 64 or any(
            c not in "0123456789abcdef" for c in digest):
        raise InvalidRequest("recordHash is 64 lower-case hex digits")
    body = {k: data[k] for k in EVENT_FIELDS}
    body["categories"], body["flags"] = list(categories), list(flag_set)
    return Event(register, subject, seq, logged_at, categories, flag_set, body)


def matches(categories: Sequence[str], emergency_only: bool, event: Event) -> bool:
    """A subscription's rule (§3.2): break-glass always; otherwise every use, or only
    break-glass, or only uses of the named categories."""
    if event.emergency:
        return True
    if emergency_only:
        return False
    return not categories or bool(set(categories) & set(event.categories))


# -- §3.1 webhook URLs and where they may point --------------------------------------------


def parse_networks(texts: Iterable[str]) -> tuple[Network, ...]:
    """CIDR blocks the operator allows webhooks to reach although they are not public."""
    out = []
    for text in texts:
        try:
            out.append(ipaddress.ip_network(text, strict=False))
        except ValueError as e:
            raise InvalidRequest(f"{text!r} is not a network like 10.0.0.0/8") from e
    return tuple(out)


def address_allowed(address: str, allowed: Sequence[Network]) -> bool:
    """Public unicast addresses always; any other only inside an allowed network."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if any(ip.version == n.version and ip in n for n in allowed):
        return True
    return ip.is_global and not ip.is_multicast


def check_webhook_url(url: object, allowed: Sequence[Network] = ()) -> str:
    """The URL if it is fit to receive notifications, else :class:`InvalidWebhookUrl`."""
    if not isinstance(url, str) or not 0 < len(url) <= MAX_URL or not url.isascii() \
            or not url.isprintable() or " " in url:
        raise InvalidWebhookUrl(f"a webhook URL is printable ASCII, at most {MAX_URL} "
                                f"characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise InvalidWebhookUrl("a webhook URL must start with http:// or https://")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise InvalidWebhookUrl("a webhook URL may not carry a user name or password")
    if parts.fragment:
        raise InvalidWebhookUrl("a webhook URL has no #fragment")
    host = parts.hostname
    if not host:
        raise InvalidWebhookUrl("a webhook URL names a host")
    try:
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError as e:
        raise InvalidWebhookUrl("the webhook URL's port is not a number from 0 to 65535") \
            from e
    try:
        ipaddress.ip_address(host)
        literal = True
    except ValueError:
        literal = False
    if literal and not address_allowed(host, allowed):
        raise InvalidWebhookUrl(f"the webhook URL points at {host}, which is not a public "
                                f"address (the operator may allow a network)")
    if not literal and (host == "localhost" or host.endswith((".localhost", ".local"))) \
            and not allowed:
        raise InvalidWebhookUrl(f"the webhook URL points at {host}, a local name")
    return url


# -- §5.2 signatures (Standard Webhooks v1) -------------------------------------------------


def new_secret() -> str:
    """A subscription's signing secret: ``whsec_`` + base64 of 24 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def sign(secret: str, *, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`` (Standard Webhooks)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


# -- §5.3 backoff -----------------------------------------------------------------------------


def retry_delay(attempts: int, *, base: float, cap: float, jitter: float) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones: ``base·2^(n-1)``
    capped at ``cap``, then scaled into its upper half by ``jitter`` ∈ [0, 1) so that
    many deliveries failing together do not retry together."""
    delay: float = min(cap, base * 2.0 ** min(max(attempts - 1, 0), 62))
    return delay * (0.5 + jitter / 2)
