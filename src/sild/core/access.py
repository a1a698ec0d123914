"""Access rights of a provider gateway as values, and the decision (docs/spec/access.md).

X-Road enforces access on the provider side, per service code, deny by default
(research/xroad.md §4.1). A right is granted to a subject (a client, a global
group or a local group) for a whole service or for one REST endpoint
(method + path pattern). This module is pure (STYLE.md rule 1): rules, a client,
a method and a path go in, an :class:`AccessDecision` comes out; group
membership arrives as a function and a mapping.

Endpoint semantics follow X-Road's implementation (``XR:`` =
github.com/nordic-institute/X-Road, docs/spec/access.md §2):

* ``EndpointType.matches``: method ``*`` matches any method, otherwise methods
  compare case-insensitively; path ``**`` matches any path, otherwise the path
  is a glob (``serverconf/model/EndpointType.java``).
* ``PathGlob``: ``*`` matches zero or more characters other than ``/``, possessively
  (``[^/]*+``: it takes the rest of the segment, so ``/a/*.json`` never matches); ``**``
  (two or more stars) matches any characters including ``/``; ``\\*`` is a
  literal star and ``\\\\`` a literal backslash; everything else is literal; the
  whole path must match (``serverconf/PathGlob.java`` and its ``PathGlobTest``).
* ``ServerConfImpl.checkAccessRights``: the request path is percent-decoded and
  normalised (``UriUtils.decodeAndNormalize``) and refused if it still contains
  ``..``.
* A service-level grant is X-Road's base endpoint ``* **``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Union
from urllib.parse import unquote_to_bytes

from sild.core.identifiers import ClientId, GlobalGroupId, MemberId, SubsystemId, parse_client
from sild.errors import InvalidIdentifier, InvalidRequest

__all__ = [
    "ANY_METHOD",
    "ANY_PATH",
    "HTTP_METHODS",
    "MAX_PATH_LENGTH",
    "AccessDecision",
    "AccessRule",
    "Endpoint",
    "LocalGroupId",
    "Subject",
    "allowed_endpoints",
    "decide",
    "normalise_request_path",
    "parse_subject",
    "path_matches",
]

# EndpointType.ANY_METHOD / ANY_PATH (docs/spec/access.md §2).
ANY_METHOD = "*"
ANY_PATH = "**"
# RestRequest.Verb: the verbs X-Road's REST interface accepts (research/xroad.md §2.2).
HTTP_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE")
# An endpoint pattern or request path longer than this is refused: bounds the regex
# work a stranger can cause per request, and is far above real API paths.
MAX_PATH_LENGTH = 2048

_LOCAL_GROUP_CODE = re.compile(r"[A-Za-z0-9'()+,\-.=?_]{1,255}")
# UriUtils.safeChar: characters allowed unencoded in a request path (RFC 3986 pchar + '/').
_SAFE_PATH = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*")
_HEX = "0123456789abcdefABCDEF"


@dataclass(frozen=True, slots=True, order=True)
class LocalGroupId:
    """A local group: a code defined by the service's owner on this gateway (research §2.1)."""

    code: str

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or not _LOCAL_GROUP_CODE.fullmatch(self.code):
            raise InvalidIdentifier(
                f"local group code {self.code!r} must be 1-255 of A-Z a-z 0-9 '()+,-.=?_")

    @property
    def object_type(self) -> str:
        return "LOCALGROUP"

    def __str__(self) -> str:
        return self.code


Subject = Union[MemberId, SubsystemId, GlobalGroupId, LocalGroupId]  # noqa: UP007  (runtime alias)


def parse_subject(text: str) -> Subject:
    """An operator's subject: ``group:INSTANCE/CODE``, ``local:CODE`` or a client id."""
    kind, sep, rest = text.partition(":")
    if sep and kind == "group":
        return GlobalGroupId.parse(rest)
    if sep and kind == "local":
        return LocalGroupId(rest)
    return parse_client(text)


@lru_cache(maxsize=1024)  # PathGlob.PATTERN_CACHE keeps 1000 compiled globs
def _compile_glob(glob: str) -> re.Pattern[str]:
    """Translate a path glob to a regex exactly as X-Road's ``PathGlob.toPattern``."""
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        ch = glob[i]
        nxt = glob[i + 1] if i + 1 < n else ""
        if ch == "\\":
            if nxt in ("*", "\\"):
                out.append("\\" + nxt)
                i += 2
                continue
            out.append("\\\\")  # a lone backslash is literal; the next char is read normally
        elif ch == "*":
            if nxt == "*":
                out.append(".*")
                while i + 1 < n and glob[i + 1] == "*":
                    i += 1
            else:
                out.append("[^/]*+")
        else:
            # PathGlob escapes only ".^$+{[]|()"; escaping every other character too
            # keeps '?' literal (in Java it stays a regex quantifier; §2 deviation)
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def path_matches(pattern: str, path: str) -> bool:
    """Whether ``path`` matches the endpoint path ``pattern`` (``**`` = any path)."""
    return pattern == ANY_PATH or _compile_glob(pattern).fullmatch(path) is not None


@dataclass(frozen=True, slots=True, order=True)
class Endpoint:
    """A REST endpoint: an HTTP method (or ``*``) and a path pattern (or ``**``).

    ``Endpoint("*", "**")`` is X-Road's base endpoint, i.e. the whole service.
    """

    method: str
    path: str

    def __post_init__(self) -> None:
        method = self.method.upper() if isinstance(self.method, str) else self.method
        if method != ANY_METHOD and method not in HTTP_METHODS:
            raise InvalidRequest(
                f"endpoint method {self.method!r} must be * or one of {', '.join(HTTP_METHODS)}")
        object.__setattr__(self, "method", method)
        path = self.path
        if not isinstance(path, str) or not path or len(path) > MAX_PATH_LENGTH:
            raise InvalidRequest(f"endpoint path must be 1-{MAX_PATH_LENGTH} characters")
        if path != ANY_PATH and not path.startswith("/"):
            raise InvalidRequest(f"endpoint path {path!r} must start with / (or be **)")
        if any(c.isspace() or not c.isprintable() for c in path):
            raise InvalidRequest(f"endpoint path {path!r} must not contain spaces or controls")

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        """Parse ``"GET /path/*"`` (method, one space, path)."""
        method, sep, path = text.strip().partition(" ")
        if not sep:
            raise InvalidRequest(f"endpoint {text!r} must be written 'METHOD /path'")
        return cls(method, path.strip())

    @property
    def is_whole_service(self) -> bool:
        return self.method == ANY_METHOD and self.path == ANY_PATH

    def matches(self, method: str, path: str) -> bool:
        """``EndpointType.matches``: method (``*`` or case-insensitive) and path glob."""
        return (self.method == ANY_METHOD or self.method == method.upper()) and path_matches(
            self.path, path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True, slots=True)
class AccessRule:
    """``subject`` may call ``service_code``: all of it (``endpoint=None``) or one endpoint."""

    subject: Subject
    service_code: str
    endpoint: Endpoint | None = None


@dataclass(frozen=True, slots=True)
class AccessDecision:
    """The outcome of :func:`decide`; truthy when allowed. ``rule`` is the granting rule."""

    allowed: bool
    reason: str
    rule: AccessRule | None = None

    def __bool__(self) -> bool:
        return self.allowed


def _decode_path(raw: str) -> str | None:
    """``UriUtils.uriPathPercentDecode``: decode %XX, keep an encoded ``/`` encoded."""
    if not _SAFE_PATH.fullmatch(raw):
        return None
    out = bytearray()
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == "%":
            hx = raw[i + 1:i + 3]
            if len(hx) != 2 or hx[0] not in _HEX or hx[1] not in _HEX:
                return None
            if hx.upper() == "2F":
                out += b"%2F"  # an encoded slash must not become a separator
            else:
                out += unquote_to_bytes(raw[i:i + 3])
            i += 3
        else:
            out += ch.encode("ascii")
            i += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _remove_dot_segments(path: str) -> str:
    """``java.net.URI.normalize`` on a path: drop ``.``, resolve ``..``, fold ``//``."""
    if not path:
        return path
    absolute = path.startswith("/")
    parts = path.split("/")
    trailing = path.endswith("/") or parts[-1] in (".", "..")
    stack: list[str] = []
    for seg in parts:
        if seg in ("", "."):
            continue
        if seg == ".." and stack and stack[-1] != "..":
            stack.pop()
        else:
            stack.append(seg)
    body = "/".join(stack)
    if absolute:
        body = "/" + body
    if trailing and stack:
        body += "/"
    return body


def normalise_request_path(raw: str) -> str | None:
    """The request path as access checks see it, or ``None`` if it must be refused.

    docs/spec/access.md §3 step (2): percent-decode (``%2F`` stays encoded),
    normalise dot segments and repeated slashes, refuse anything still holding
    ``..`` ("Explicitly reject any remaining traversal sequences",
    ``ServerConfImpl.checkAccessRights``), a query part, bad encoding or
    over-long input. The empty path (a request for the service root) stays empty.
    """
    if len(raw) > MAX_PATH_LENGTH:
        return None
    if raw == "":
        return raw
    if not raw.startswith("/"):
        return None
    decoded = _decode_path(raw)
    if decoded is None or any(c.isspace() or not c.isprintable() for c in decoded):
        return None
    normal = _remove_dot_segments(decoded)
    if ".." in normal:
        return None
    return normal


def _subject_matches(
    subject: Subject,
    client: ClientId,
    global_groups: Callable[[GlobalGroupId], tuple[ClientId, ...]],
    local_groups: Mapping[str, frozenset[ClientId]],
) -> bool:
    """``ServerConfImpl.subjectMatches``: exact client, global or local group member."""
    if isinstance(subject, GlobalGroupId):
        return client in global_groups(subject)
    if isinstance(subject, LocalGroupId):
        return client in local_groups.get(subject.code, frozenset())
    return subject == client


def decide(
    rules: Iterable[AccessRule],
    *,
    client: ClientId,
    service_code: str,
    method: str,
    path: str,
    global_groups: Callable[[GlobalGroupId], tuple[ClientId, ...]],
    local_groups: Mapping[str, frozenset[ClientId]],
) -> AccessDecision:
    """May ``client`` call ``method path`` on ``service_code``? Deny by default.

    docs/spec/access.md §3 steps (2)-(6): normalise the path, keep the rules of
    this service code whose subject is the client or a group holding it; a
    service-level rule allows everything, an endpoint rule a matching method and
    path; otherwise denied.
    """
    # (2) the path as X-Road compares it
    normal = normalise_request_path(path)
    if normal is None:
        return AccessDecision(False, "request path refused (encoding, query or '..')")
    # (3) rules of this service code only (PR-MESS §3.1: ACLs ignore the version)
    for rule in (r for r in rules if r.service_code == service_code):
        # (4) subject: the client itself, or a global or local group holding it
        if not _subject_matches(rule.subject, client, global_groups, local_groups):
            continue
        # (5) whole service
        if rule.endpoint is None:
            return AccessDecision(True, f"granted to {rule.subject} for the whole service", rule)
        # (6) a matching endpoint
        if rule.endpoint.matches(method, normal):
            return AccessDecision(True, f"granted to {rule.subject} for {rule.endpoint}", rule)
    # (6) nothing matched: deny by default
    return AccessDecision(False, f"no rule allows {client} to call {method.upper()} {normal}")


def allowed_endpoints(
    rules: Iterable[AccessRule],
    endpoints: Iterable[Endpoint],
    *,
    client: ClientId,
    service_code: str,
    global_groups: Callable[[GlobalGroupId], tuple[ClientId, ...]],
    local_groups: Mapping[str, frozenset[ClientId]],
) -> tuple[Endpoint, ...] | None:
    """For ``allowedMethods``: ``None`` when no rule of the service applies to the client;
    else the service's endpoints that some applicable rule matches.

    ``ServerConfImpl.getAllowedRestServices``: an endpoint is listed when an ACL
    endpoint ``matches(e.method, e.path)``; the service is listed even with none.
    """
    applicable = [
        r for r in rules
        if r.service_code == service_code
        and _subject_matches(r.subject, client, global_groups, local_groups)
    ]
    if not applicable:
        return None
    listed = [e for e in endpoints if not e.is_whole_service]
    return tuple(
        e for e in listed
        if any(r.endpoint is None or r.endpoint.matches(e.method, e.path) for r in applicable)
    )
