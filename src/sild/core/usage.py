"""Usage records of the data tracker, as pure values (docs/spec/tracker.md §1–§3).

A provider gateway writes one usage record per data subject of a request to a
personal-data service (ARCHITECTURE.md §6; research/citizen.md §1.3, §6). This module
holds what needs no I/O and no clock:

* the request headers that carry tracker facts (§1): ``Sild-Data-Subject`` (one or
  more personal codes, ``EE38001085718`` form as findUsage's ``userCode``),
  ``Sild-Purpose``, ``Sild-Emergency``, ``Sild-Consent``, ``Sild-Subject-Assertion``;
* the hashed content of a usage record and its hash (§3.1), canonical JSON as the
  message log's records (:mod:`sild.core.canonical`): ``record_hash = SHA-256(
  canonical {type, seq, logged_at, sealed, digest})`` with ``digest`` the SHA-256 of
  the canonical content, so a sealed record shows its place, time and sealing, not
  its content;
* the per-subject hash chain (§3.2): record *n* of one subject in one register
  carries ``chain_n = SHA-256(0x02 || chain_{n-1} || record_hash_n)`` with
  ``chain_0`` = 32 zero bytes, so a verifier holding the head of the chain detects
  a deleted, altered, back-dated or inserted record.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sild.core.canonical import canonical_json
from sild.core.headertext import check_header
from sild.core.personal_code import PersonalCode, parse, parse_semantics_id
from sild.errors import InvalidPersonalCode, InvalidRequest, MissingHeader

__all__ = [
    "CHAIN_START",
    "CONSENT_HEADER",
    "EMERGENCY_HEADER",
    "MAX_PURPOSE",
    "MAX_REASON",
    "PURPOSE_HEADER",
    "SUBJECT_ASSERTION_HEADER",
    "SUBJECT_HEADER",
    "TRACKER_HEADERS",
    "USAGE_TYPE",
    "UsageContent",
    "chain_next",
    "chain_over",
    "check_category",
    "content_digest",
    "parse_purpose",
    "parse_subject",
    "parse_subjects",
    "record_hash",
    "subject_text",
]

SUBJECT_HEADER = "Sild-Data-Subject"
PURPOSE_HEADER = "Sild-Purpose"
EMERGENCY_HEADER = "Sild-Emergency"
CONSENT_HEADER = "Sild-Consent"
SUBJECT_ASSERTION_HEADER = "Sild-Subject-Assertion"
# Carried in the signed envelope from consumer to provider (lower case, as signed).
TRACKER_HEADERS = frozenset(h.lower() for h in (
    SUBJECT_HEADER, PURPOSE_HEADER, EMERGENCY_HEADER, CONSENT_HEADER,
    SUBJECT_ASSERTION_HEADER))

MAX_PURPOSE = 200  # as the consent service takes it (sild.consent.model.MAX_PURPOSE)
MAX_REASON = 1024
MAX_SUBJECTS_HEADER = 64 * 1024  # the header itself; the count is the service's limit

USAGE_TYPE = "sild.tracker.usage/1"
CHAIN_START = bytes(32)
_CHAIN_PREFIX = b"\x02"  # domain separation from RFC 6962's 0x00 leaves and 0x01 nodes


def subject_text(code: PersonalCode) -> str:
    """``EE38001085718``: country then code, the form of findUsage's ``userCode``."""
    return f"{code.country}{code.code}"


def parse_subject(text: object) -> str:
    """One data subject as ``CC<code>``; ``PNOCC-<code>`` is accepted too.

    :class:`InvalidPersonalCode` for anything that is not a valid code of a known
    country (the check digit included, research/citizen.md §3.1).
    """
    if not isinstance(text, str):
        raise InvalidPersonalCode("a personal code must be text", country="?")
    value = text.strip()
    if value.startswith("PNO"):
        return subject_text(parse_semantics_id(value))
    if len(value) < 3 or not value[:2].isalpha() or not value[:2].isupper():
        shown = value[:40]
        raise InvalidPersonalCode(
            f"{shown!r} is not a personal code with its country, like EE38001085718",
            country="?")
    return subject_text(parse(value[:2], value[2:]))


def parse_subjects(values: Sequence[str], *, max_subjects: int) -> tuple[str, ...]:
    """The subjects of ``Sild-Data-Subject`` (repeatable, comma-separated), in order,
    without duplicates; :class:`MissingHeader` when none, :class:`InvalidRequest`
    when more than ``max_subjects``, :class:`InvalidPersonalCode` for a bad one."""
    out: dict[str, None] = {}
    for value in values:
        check_header(SUBJECT_HEADER, value, limit=MAX_SUBJECTS_HEADER)
        for part in value.split(","):
            if not part.strip():
                continue
            out[parse_subject(part)] = None
            if len(out) > max_subjects:
                raise InvalidRequest(
                    f"too many data subjects: this service takes at most {max_subjects} "
                    f"per request", limit=max_subjects)
    if not out:
        raise MissingHeader(f"this service carries personal data: the {SUBJECT_HEADER} "
                            f"header must name the data subject(s)")
    return tuple(out)


def parse_purpose(values: Sequence[str]) -> str:
    """The one ``Sild-Purpose`` of a request: a registered code or text (§1)."""
    if not values or not values[0].strip():
        raise MissingHeader(f"this service carries personal data: the {PURPOSE_HEADER} "
                            f"header must say why the data is used")
    if len(values) > 1:
        raise InvalidRequest(f"{PURPOSE_HEADER} must be given once")
    return check_header(PURPOSE_HEADER, values[0].strip(), limit=MAX_PURPOSE)


def check_category(text: object) -> str:
    """A data category code: 1-32 of ``a-z 0-9 -`` (``health``, ``population``)."""
    if (not isinstance(text, str) or not 0 < len(text) <= 32
            or any(c not in "abcdefghijklmnopqrstuvwxyz0123456789-" for c in text)):
        shown = text[:40] if isinstance(text, str) else type(text).__name__
        raise InvalidRequest(f"{shown!r} is not a data category (1-32 of a-z, 0-9, '-')")
    return text


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageContent:
    """What one usage record says; its hash is what the chain and the proofs bind.

    ``logged_at`` is the log timestamp text (``2026-12-06T12:00:00.000000Z``,
    :func:`sild.gateway.messagelog.log.format_ts`). ``flags`` is sorted.
    """

    register: str  # the provider subsystem whose data was used
    subject: str  # CC<code>
    seq: int  # 1, 2, 3, … per (register, subject)
    logged_at: str
    action: str  # the purpose as shown to the person
    purpose_code: str  # "" when the purpose was free text
    legal_basis: str
    receiver: str  # the client subsystem (or member) that received the data
    receiver_name: str
    user_id: str  # the acting person (X-Road-UserId)
    service: str
    message_id: str  # X-Road-Id
    consent_id: str
    categories: tuple[str, ...]
    flags: tuple[str, ...]
    reason: str = ""  # the break-glass reason, or the release's court decision

    def content(self) -> dict[str, Any]:
        """Everything but the position (seq) and time, which :meth:`record_hash` binds
        beside this content's digest (§3.1)."""
        return {
            "type": USAGE_TYPE, "register": self.register, "subject": self.subject,
            "action": self.action, "purpose_code": self.purpose_code,
            "legal_basis": self.legal_basis, "receiver": self.receiver,
            "receiver_name": self.receiver_name, "user_id": self.user_id,
            "service": self.service, "message_id": self.message_id,
            "consent_id": self.consent_id, "categories": list(self.categories),
            "flags": list(self.flags), "reason": self.reason,
        }

    def digest(self) -> bytes:
        return content_digest(self.content())

    @property
    def sealed(self) -> bool:
        return "sealed" in self.flags

    def record_hash(self) -> bytes:
        return record_hash(self.seq, self.logged_at, self.digest(), sealed=self.sealed)


def content_digest(content: dict[str, Any]) -> bytes:
    """§3.1: SHA-256 of the canonical JSON of a record's content."""
    return hashlib.sha256(canonical_json(content)).digest()


def record_hash(seq: int, logged_at: str, digest: bytes, *, sealed: bool) -> bytes:
    """§3.1: a record's hash binds its place, its time, whether it is sealed and its
    content's digest, so a sealed record's time and sealing can be checked without
    its content."""
    if len(digest) != 32:
        raise ValueError("a content digest is 32 bytes")
    return hashlib.sha256(canonical_json({
        "type": USAGE_TYPE, "seq": seq, "logged_at": logged_at, "sealed": sealed,
        "digest": base64.b64encode(digest).decode("ascii")})).digest()


def chain_next(previous: bytes, record_hash: bytes) -> bytes:
    """§3.2: the next link of a subject's chain."""
    if len(previous) != 32 or len(record_hash) != 32:
        raise ValueError("chain links and record hashes are 32 bytes")
    return hashlib.sha256(_CHAIN_PREFIX + previous + record_hash).digest()


def chain_over(start: bytes, hashes: Iterable[bytes]) -> bytes:
    """The chain value after ``hashes``, starting from ``start``."""
    value = start
    for h in hashes:
        value = chain_next(value, h)
    return value
