"""X-Road identifiers as frozen value objects, parsed once at the edge.

Grammar (research/xroad.md §2.1; X-Road PR-REST §4.2 and §4.8):

* client:  ``INSTANCE/CLASS/MEMBER[/SUBSYSTEM]``
* service: ``INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE`` (REST needs the subsystem in
  practice, research/xroad.md §0.3)
* server:  ``INSTANCE/CLASS/MEMBER/SERVERCODE``
* global group: ``INSTANCE/GROUPCODE``

Each part is percent-decoded on its own (PR-REST §4.2: "each identifier part is
percent-encoded UTF-8"), then must consist only of ``A-Z a-z 0-9`` and
``'()+,-.=?`` (PR-REST §4.8). The text form (``str(x)``) is the decoded form;
:meth:`path` gives the percent-encoded form for URLs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar, Union
from urllib.parse import quote, unquote

from sild.errors import InvalidIdentifier

__all__ = [
    "ClientId",
    "GlobalGroupId",
    "MemberId",
    "ServerId",
    "ServiceId",
    "SubsystemId",
    "parse_client",
]

T = TypeVar("T")

# PR-REST §4.8: only these characters MUST be used in identifier values.
_PART = re.compile(r"[A-Za-z0-9'()+,\-.=?]+")
# Bound every part so a stranger cannot make us hold huge identifiers (DoS).
MAX_PART_LENGTH = 255
# Characters of §4.8 that are safe unencoded in a URL path segment.
_SAFE_IN_PATH = "'()+,-.="


# Parsed identifiers by (kind, text): the same few identifiers arrive on every request
# and the values are immutable. Bounded (cleared when full) so strangers cannot grow it.
_CACHE: dict[tuple[str, str], object] = {}
_CACHE_MAX = 8192


def _cached(kind: str, text: object, parse: Callable[[], T]) -> T:
    if not isinstance(text, str):
        return parse()
    key = (kind, text)
    hit = _CACHE.get(key)
    if hit is not None:
        return hit  # type: ignore[return-value]  # stored by this same kind
    value = parse()
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.clear()
    _CACHE[key] = value
    return value


def _split(text: object, expected: tuple[int, ...], kind: str) -> list[str]:
    if not isinstance(text, str):
        raise InvalidIdentifier(f"{kind} identifier must be text, got {type(text).__name__}")
    parts = text.split("/")
    if len(parts) not in expected:
        want = " or ".join(str(n) for n in expected)
        raise InvalidIdentifier(
            f"{kind} identifier {text!r} has {len(parts)} parts, expected {want}",
            value=text,
        )
    return [_decode_part(p, text, kind) for p in parts]


def _decode_part(raw: str, whole: str, kind: str) -> str:
    try:
        part = unquote(raw, errors="strict")
    except UnicodeDecodeError as e:
        raise InvalidIdentifier(f"{kind} identifier {whole!r}: bad percent-encoding") from e
    if not part:
        raise InvalidIdentifier(f"{kind} identifier {whole!r} has an empty part", value=whole)
    if len(part) > MAX_PART_LENGTH:
        raise InvalidIdentifier(
            f"{kind} identifier part is longer than {MAX_PART_LENGTH} characters", value=whole[:80]
        )
    if not _PART.fullmatch(part):
        raise InvalidIdentifier(
            f"{kind} identifier {whole!r}: part {part!r} may only use A-Z a-z 0-9 '()+,-.=?",
            value=whole,
        )
    return part


def _check(part: str, kind: str) -> None:
    if not isinstance(part, str) or not part or len(part) > MAX_PART_LENGTH:
        raise InvalidIdentifier(f"{kind} part must be 1-{MAX_PART_LENGTH} characters: {part!r}")
    if not _PART.fullmatch(part):
        raise InvalidIdentifier(f"{kind} part {part!r} may only use A-Z a-z 0-9 '()+,-.=?")


def _enc(part: str) -> str:
    return quote(part, safe=_SAFE_IN_PATH)


@dataclass(frozen=True, slots=True, order=True)
class MemberId:
    """``INSTANCE/CLASS/MEMBER``: an organisation in one X-Road instance."""

    instance: str
    member_class: str
    member_code: str

    def __post_init__(self) -> None:
        _check(self.instance, "instance")
        _check(self.member_class, "member class")
        _check(self.member_code, "member code")

    @classmethod
    def parse(cls, text: str) -> MemberId:
        def parse() -> MemberId:
            instance, member_class, member_code = _split(text, (3,), "member")
            return cls(instance, member_class, member_code)

        return _cached("member", text, parse)

    @property
    def member(self) -> MemberId:
        return self

    @property
    def object_type(self) -> str:
        return "MEMBER"

    def subsystem(self, code: str) -> SubsystemId:
        return SubsystemId(self, code)

    def path(self) -> str:
        return "/".join(_enc(p) for p in (self.instance, self.member_class, self.member_code))

    def __str__(self) -> str:
        return f"{self.instance}/{self.member_class}/{self.member_code}"


@dataclass(frozen=True, slots=True, order=True)
class SubsystemId:
    """``INSTANCE/CLASS/MEMBER/SUBSYSTEM``: one information system of a member."""

    member: MemberId
    subsystem_code: str

    def __post_init__(self) -> None:
        _check(self.subsystem_code, "subsystem code")

    @classmethod
    def parse(cls, text: str) -> SubsystemId:
        def parse() -> SubsystemId:
            instance, member_class, member_code, sub = _split(text, (4,), "subsystem")
            return cls(MemberId(instance, member_class, member_code), sub)

        return _cached("subsystem", text, parse)

    @property
    def instance(self) -> str:
        return self.member.instance

    @property
    def object_type(self) -> str:
        return "SUBSYSTEM"

    def service(self, code: str) -> ServiceId:
        return ServiceId(self, code)

    def path(self) -> str:
        return f"{self.member.path()}/{_enc(self.subsystem_code)}"

    def __str__(self) -> str:
        return f"{self.member}/{self.subsystem_code}"


ClientId = Union[MemberId, SubsystemId]  # noqa: UP007  (a runtime alias used in isinstance)


def parse_client(text: str) -> ClientId:
    """Parse an ``X-Road-Client`` value: a member (3 parts) or a subsystem (4 parts)."""
    def parse() -> ClientId:
        parts = _split(text, (3, 4), "client")
        member = MemberId(parts[0], parts[1], parts[2])
        return member if len(parts) == 3 else SubsystemId(member, parts[3])

    return _cached("client", text, parse)


@dataclass(frozen=True, slots=True, order=True)
class ServiceId:
    """``INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE``: a REST service of a subsystem."""

    subsystem: SubsystemId
    service_code: str

    def __post_init__(self) -> None:
        _check(self.service_code, "service code")

    @classmethod
    def parse(cls, text: str) -> ServiceId:
        def parse() -> ServiceId:
            instance, member_class, member_code, sub, service = _split(text, (5,), "service")
            return cls(SubsystemId(MemberId(instance, member_class, member_code), sub),
                       service)

        return _cached("service", text, parse)

    @property
    def member(self) -> MemberId:
        return self.subsystem.member

    @property
    def object_type(self) -> str:
        return "SERVICE"

    def path(self) -> str:
        return f"{self.subsystem.path()}/{_enc(self.service_code)}"

    def __str__(self) -> str:
        return f"{self.subsystem}/{self.service_code}"


@dataclass(frozen=True, slots=True, order=True)
class ServerId:
    """``INSTANCE/CLASS/MEMBER/SERVERCODE``: a gateway (X-Road security server)."""

    owner: MemberId
    server_code: str

    def __post_init__(self) -> None:
        _check(self.server_code, "server code")

    @classmethod
    def parse(cls, text: str) -> ServerId:
        def parse() -> ServerId:
            instance, member_class, member_code, code = _split(text, (4,), "server")
            return cls(MemberId(instance, member_class, member_code), code)

        return _cached("server", text, parse)

    @property
    def instance(self) -> str:
        return self.owner.instance

    @property
    def object_type(self) -> str:
        return "SERVER"

    def path(self) -> str:
        return f"{self.owner.path()}/{_enc(self.server_code)}"

    def __str__(self) -> str:
        return f"{self.owner}/{self.server_code}"


@dataclass(frozen=True, slots=True, order=True)
class GlobalGroupId:
    """``INSTANCE/GROUPCODE``: a group defined in the registry, shared by all gateways."""

    instance: str
    group_code: str

    def __post_init__(self) -> None:
        _check(self.instance, "instance")
        _check(self.group_code, "group code")

    @classmethod
    def parse(cls, text: str) -> GlobalGroupId:
        instance, code = _split(text, (2,), "global group")
        return cls(instance, code)

    @property
    def object_type(self) -> str:
        return "GLOBALGROUP"

    def path(self) -> str:
        return f"{_enc(self.instance)}/{_enc(self.group_code)}"

    def __str__(self) -> str:
        return f"{self.instance}/{self.group_code}"
