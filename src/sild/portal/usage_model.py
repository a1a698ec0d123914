"""The "who used my data" timeline as pure values: merging, filtering, paging
(docs/spec/portal-usage.md §2–§3). No I/O, no clock.

Each register's tracker answers findUsage v2 (tracker.md §5.1: newest first, whole
seconds) and a usage proof (tracker.md §3.3). This module turns those answers into one
timeline across all registers, newest first:

* an :class:`Entry` per findUsage usage, marked *included* when a record of the same
  time, purpose and receiver is in that register's proof (portal-usage.md §3.2);
* an :class:`Entry` per **sealed** record of the proof (findUsage leaves them out,
  tracker.md §4): time and record hash only;
* :class:`Filters` parsed once from the query string (unknown register, oversize or
  control-character values, a page that is not a whole number → :class:`InvalidRequest`);
* :func:`timeline` filters and cuts one page.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sild.core.usage import record_hash
from sild.errors import InvalidRequest

__all__ = [
    "MAX_FILTER",
    "MAX_PAGE",
    "PAGE_SIZE",
    "Entry",
    "Filters",
    "Page",
    "RegisterAnswer",
    "entries_from_find",
    "mark_included",
    "merge",
    "sealed_from_proof",
    "timeline",
]

PAGE_SIZE = 50  # entries per page: a screen or two, still quick to read aloud
MAX_PAGE = 100_000  # 5 M entries: far beyond any person's history; bounds the number
MAX_FILTER = 200  # a purpose is at most 200 characters (tracker.md §1, Sild-Purpose)


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of the timeline."""

    register: str  # the register's label (TrackerRef.label)
    at: datetime  # UTC
    action: str = ""  # the purpose as the person sees it ("" when sealed)
    receiver_code: str = ""  # the organisation's member code
    receiver_name: str = ""
    receiver_system: str = ""
    sealed: bool = False
    record_hash: str = ""  # sealed entries: base64 of the record hash (tracker.md §3.1)
    included: bool = False  # found in the register's proof (checked separately)

    @property
    def key(self) -> tuple[str, str, str, str]:
        """What findUsage and the proof both say about a usage (whole seconds)."""
        return (self.at.strftime("%Y-%m-%dT%H:%M:%SZ"), self.action, self.receiver_code,
                self.receiver_system)


@dataclass(frozen=True, slots=True)
class RegisterAnswer:
    """What one register said, or that it did not answer."""

    label: str
    entries: tuple[Entry, ...] = ()
    total: int = 0  # findUsage's totalUsages
    error: str | None = None  # "did not answer" and why; entries are then empty
    proof: dict[str, Any] | None = None  # the sild.tracker.proof/1 document
    proof_error: str | None = None
    proof_raw: bytes = b""  # the proof as received: the verdict cache's key


def _time(text: str) -> datetime:
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.tzinfo is None:
        raise ValueError("a time without a zone")
    return when.astimezone(UTC)


def entries_from_find(label: str, answer: Any) -> tuple[int, list[Entry]]:
    """(totalUsages, entries) of a findUsage v2 answer; ValueError when malformed."""
    if not isinstance(answer, dict) or not isinstance(answer.get("usages"), list):
        raise ValueError("not a findUsage answer")
    total = answer.get("totalUsages")
    if type(total) is not int or total < 0:
        raise ValueError("totalUsages is not a count")
    out = []
    for u in answer["usages"]:
        if not isinstance(u, dict):
            raise ValueError("a usage is not an object")
        try:
            out.append(Entry(label, _time(u["logtime"]), action=str(u["action"]),
                             receiver_code=str(u["receiverCode"]),
                             receiver_name=str(u.get("receiverName") or ""),
                             receiver_system=str(u["receiverSystem"])))
        except (KeyError, TypeError) as e:
            raise ValueError(f"a usage lacks {e}") from e
    return total, out


def _receiver_parts(receiver: str) -> tuple[str, str]:
    # The client id INSTANCE/CLASS/MEMBER[/SUBSYSTEM] as findUsage splits it
    # (sild.tracker.store.receiver_parts): member code and subsystem code.
    parts = receiver.split("/")
    if len(parts) == 4:
        return parts[2], parts[3]
    if len(parts) == 3:
        return parts[2], parts[2]
    return receiver, receiver


def _proof_records(proof: Mapping[str, Any]) -> list[Any]:
    records = list(proof.get("records") or [])
    records += list(proof.get("unanchored") or [])
    return records


def sealed_from_proof(label: str, proof: Mapping[str, Any]) -> list[Entry]:
    """The proof's sealed records of the period: time and record hash only."""
    start, end = proof.get("periodStart"), proof.get("periodEnd")
    out = []
    for item in _proof_records(proof):
        if not isinstance(item, dict) or "content" in item or item.get("sealed") is not True:
            continue
        at = str(item.get("logged_at", ""))
        if (start and at < start) or (end and at > end):
            continue  # the record before the period, or after it
        try:
            digest = base64.b64decode(str(item["digest"]), validate=True)
            rh = record_hash(int(item["seq"]), at, digest, sealed=True)
            out.append(Entry(label, _time(at), sealed=True,
                             record_hash=base64.b64encode(rh).decode("ascii")))
        except (KeyError, ValueError, TypeError, binascii.Error):
            continue  # malformed: the proof's own verification reports it
    return out


def mark_included(entries: Sequence[Entry], proof: Mapping[str, Any]) -> list[Entry]:
    """Mark the entries that a record with content in ``proof`` accounts for: same
    second, purpose, receiver code and system, each record used once (portal-usage.md
    §3.2), and give them the record's time to the microsecond, so usages of one second
    in different registers merge in their true order. The caller shows the marks only
    when the proof verified."""
    available: dict[tuple[str, str, str, str], list[str]] = {}
    for item in _proof_records(proof):
        content = item.get("content") if isinstance(item, dict) else None
        if not isinstance(content, dict):
            continue
        at = str(item.get("logged_at", ""))
        code, system = _receiver_parts(str(content.get("receiver", "")))
        key = (at[:19] + "Z", str(content.get("action", "")), code, system)
        available.setdefault(key, []).append(at)
    for texts in available.values():
        texts.sort()  # oldest first: pop() takes the newest, as findUsage lists them
    out = []
    for e in entries:
        found = available.get(e.key)
        if found:
            try:
                when = _time(found.pop())
            except ValueError:
                when = e.at
            out.append(Entry(e.register, when, e.action, e.receiver_code, e.receiver_name,
                             e.receiver_system, e.sealed, e.record_hash, included=True))
        else:
            out.append(e)
    return out


def merge(answers: Iterable[Iterable[Entry]]) -> list[Entry]:
    """One timeline, newest first; equal times keep the registers' order (stable)."""
    every = [e for entries in answers for e in entries]
    every.sort(key=lambda e: e.at, reverse=True)
    return every


def _value(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = params.get(name) or []
    if len(values) > 1:
        raise InvalidRequest(f"{name} is given more than once")
    if not values or values[0] == "":
        return None  # "all" in the form
    text = values[0]
    if len(text) > MAX_FILTER:
        raise InvalidRequest(f"{name} is longer than {MAX_FILTER} characters")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in text):
        raise InvalidRequest(f"{name} contains control characters")
    return text


@dataclass(frozen=True, slots=True)
class Filters:
    """The timeline's query: ``register``, ``org`` (receiver member code), ``purpose``
    (exact text) and ``page`` (from 1)."""

    register: str | None = None
    org: str | None = None
    purpose: str | None = None
    page: int = 1

    @classmethod
    def parse(cls, params: Mapping[str, Sequence[str]], *, registers: Sequence[str]
              ) -> Filters:
        """From the query string (name → values); InvalidRequest with a message a
        person can act on."""
        register = _value(params, "register")
        if register is not None and register not in registers:
            raise InvalidRequest(f"there is no register called {register!r}")
        org = _value(params, "org")
        purpose = _value(params, "purpose")
        page_text = _value(params, "page")
        page = 1
        if page_text is not None:
            if not (page_text.isascii() and page_text.isdigit()) or len(page_text) > 6 \
                    or not 1 <= int(page_text) <= MAX_PAGE:
                raise InvalidRequest(f"page must be a whole number from 1 to {MAX_PAGE}")
            page = int(page_text)
        return cls(register, org, purpose, page)

    def keep(self, e: Entry) -> bool:
        if self.register is not None and e.register != self.register:
            return False
        if self.org is not None and (e.sealed or e.receiver_code != self.org):
            return False
        return self.purpose is None or (not e.sealed and e.action == self.purpose)

    def query(self, **change: Any) -> dict[str, str]:
        """The query string of these filters with ``change`` applied (links, forms)."""
        values = {"register": self.register, "org": self.org, "purpose": self.purpose,
                  "page": self.page}
        values.update(change)
        return {k: str(v) for k, v in values.items()
                if v is not None and not (k == "page" and v == 1)}


@dataclass(frozen=True, slots=True)
class Page:
    entries: tuple[Entry, ...]
    number: int
    pages: int  # at least 1
    matching: int  # entries that pass the filters
    organisations: tuple[tuple[str, str], ...] = field(default=())  # (code, name), sorted
    purposes: tuple[str, ...] = field(default=())  # sorted

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def timeline(entries: Sequence[Entry], filters: Filters, *, size: int = PAGE_SIZE) -> Page:
    """The filtered page; the choices offered by the form come from every entry."""
    kept = [e for e in entries if filters.keep(e)]
    pages = max(1, -(-len(kept) // size))
    number = min(filters.page, pages)
    orgs: dict[str, str] = {}
    purposes: set[str] = set()
    for e in entries:
        if not e.sealed:
            orgs[e.receiver_code] = orgs.get(e.receiver_code) or e.receiver_name
            purposes.add(e.action)
    start = (number - 1) * size
    return Page(tuple(kept[start:start + size]), number, pages, len(kept),
                tuple(sorted(orgs.items(), key=lambda kv: (kv[1] or kv[0], kv[0]))),
                tuple(sorted(purposes)))
