"""The signed exchange envelope between gateways (docs/spec/exchange.md §2).

A request carries a canonical *request header* signed with the client member's
sign key; the response carries a canonical *response header* signed with the
provider member's sign key and bound to the request by the X-Road request hash.
Bodies travel as they are; the headers hold their SHA-512 digests, so one
signature covers header and body (X-Road signs a hash chain over message parts
for the same reason, research/xroad.md §3.3).

Nothing here is REST-only except the ``protocol: "rest"`` value and the REST
fields (method, path, query): a SOAP message fills the same header with
``protocol: "soap"`` and leaves them empty.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from sild.core.canonical import canonical_json
from sild.core.dsse import pae
from sild.core.identifiers import ClientId, ServerId, ServiceId, parse_client
from sild.core.timefmt import format_rfc3339, parse_rfc3339
from sild.errors import InvalidIdentifier, InvalidMessage, InvalidRequest

__all__ = [
    "REQUEST_TYPE",
    "RESPONSE_TYPE",
    "RequestHeader",
    "ResponseHeader",
    "body_digest",
    "request_hash",
]

FORMAT = "sild-exchange/1"
REQUEST_TYPE = "application/vnd.sild.request+json"
RESPONSE_TYPE = "application/vnd.sild.response+json"
# A signed header carries ids, a path and forwarded headers; 64 KiB is far above any
# real one and bounds what a peer can make us parse (DoS).
MAX_HEADER_BYTES = 64 * 1024
MAX_FORWARDED_HEADERS = 100

Headers = tuple[tuple[str, str], ...]


def body_digest(body: bytes) -> bytes:
    """SHA-512 of a body (X-Road's default digest, research/xroad.md §2.2)."""
    return hashlib.sha512(body).digest()


def request_hash(header_bytes: bytes, body: bytes | None) -> str:
    """X-Road-Request-Hash: base64(SHA-512(SHA-512(header part) ‖ SHA-512(body))),
    or base64(SHA-512(header part)) without a body (PR-REST §4.3)."""
    h = hashlib.sha512(header_bytes).digest()
    if body:
        h = hashlib.sha512(h + hashlib.sha512(body).digest()).digest()
    return base64.b64encode(h).decode()


def _headers_json(headers: Headers) -> list[list[str]]:
    return [[k, v] for k, v in headers]


def _parse_headers(value: object) -> Headers:
    if not isinstance(value, list) or len(value) > MAX_FORWARDED_HEADERS:
        raise InvalidMessage("envelope headers must be a list of at most 100 pairs")
    out: list[tuple[str, str]] = []
    for pair in value:
        if (not isinstance(pair, list) or len(pair) != 2
                or not all(isinstance(x, str) for x in pair)):
            raise InvalidMessage("envelope header entries must be [name, value] text pairs")
        out.append((pair[0], pair[1]))
    return tuple(out)


# Fields stored in fixed-size log columns (sild.store.messagelog_tables): longer values
# are refused here rather than failing the log commit later.
MAX_FIELD = {"message_id": 255, "request_id": 64, "user_id": 255, "represented_party": 255,
             "method": 16}


def _str(obj: dict[str, Any], key: str, *, optional: bool = False) -> str:
    value = obj.get(key, "" if optional else None)
    if not isinstance(value, str):
        raise InvalidMessage(f"envelope field {key!r} missing or not text")
    limit = MAX_FIELD.get(key)
    if limit is not None and len(value) > limit:
        raise InvalidMessage(f"envelope field {key!r} is longer than {limit} characters")
    return value


def _int(obj: dict[str, Any], key: str) -> int:
    value = obj.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidMessage(f"envelope field {key!r} missing or not a non-negative integer")
    return value


def _digest(obj: dict[str, Any]) -> bytes:
    try:
        raw = base64.b64decode(_str(obj, "body_digest"), validate=True)
    except ValueError as e:
        raise InvalidMessage("envelope body_digest is not base64") from e
    if len(raw) != 64:
        raise InvalidMessage("envelope body_digest must be a SHA-512 digest")
    return raw


def _load(raw: bytes, what: str) -> dict[str, Any]:
    if len(raw) > MAX_HEADER_BYTES:
        raise InvalidMessage(f"{what} is larger than {MAX_HEADER_BYTES} bytes")
    try:
        # orjson keeps the last of duplicate keys; the canonical-form check below then
        # refuses the document (its canonical encoding has fewer keys than ``raw``).
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise InvalidMessage(f"{what} is not valid JSON: {e}") from e
    if not isinstance(obj, dict):
        raise InvalidMessage(f"{what} must be a JSON object")
    if obj.get("format") != FORMAT:
        raise InvalidMessage(f"{what}: format must be {FORMAT}")
    try:
        canonical = canonical_json(obj)
    except InvalidRequest as e:  # e.g. a float somewhere
        raise InvalidMessage(f"{what}: {e}") from e
    if canonical != raw:
        raise InvalidMessage(f"{what} is not in canonical form")
    return obj


def _empty_query(obj: dict[str, Any]) -> bool:
    value = obj.get("empty_query", False)
    if value is not True and value is not False:
        raise InvalidMessage("envelope field 'empty_query' must be true when present")
    if value and obj.get("query"):
        raise InvalidMessage("envelope: empty_query with a non-empty query")
    return value


@dataclass(frozen=True, slots=True)
class RequestHeader:
    """What the consumer gateway signs for one request (spec §2.1)."""

    protocol: str
    client: ClientId
    service: ServiceId
    consumer: ServerId
    message_id: str
    request_id: str
    time: datetime
    method: str
    path: str
    query: str
    headers: Headers
    body_digest: bytes
    body_length: int
    user_id: str = ""
    issue: str = ""
    represented_party: str = ""
    # The target ended in a bare "?": an empty query, which RFC 3986 §3.4 tells apart
    # from none; kept so that the IS gets the target byte for byte (PR-REST §4.5).
    empty_query: bool = False

    def encode(self) -> bytes:
        extra: dict[str, Any] = {"empty_query": True} if self.empty_query else {}
        return canonical_json({
            **extra,
            "format": FORMAT,
            "protocol": self.protocol,
            "client": str(self.client),
            "service": str(self.service),
            "consumer": str(self.consumer),
            "message_id": self.message_id,
            "request_id": self.request_id,
            "time": format_rfc3339(self.time),
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": _headers_json(self.headers),
            "body_digest": base64.b64encode(self.body_digest).decode(),
            "body_length": self.body_length,
            "user_id": self.user_id,
            "issue": self.issue,
            "represented_party": self.represented_party,
        })

    @staticmethod
    def signed_bytes(encoded: bytes) -> bytes:
        return pae(REQUEST_TYPE, encoded)

    @classmethod
    def parse(cls, raw: bytes) -> RequestHeader:
        """Strictly parse the canonical bytes a consumer gateway signed."""
        obj = _load(raw, "request header")
        try:
            client = parse_client(_str(obj, "client"))
            service = ServiceId.parse(_str(obj, "service"))
            consumer = ServerId.parse(_str(obj, "consumer"))
            time = parse_rfc3339(obj.get("time"))
        except (InvalidIdentifier, ValueError) as e:
            raise InvalidMessage(f"request header: {e}") from e
        protocol = _str(obj, "protocol")
        if protocol not in ("rest", "soap"):
            raise InvalidMessage("request header: protocol must be rest or soap")
        return cls(
            protocol=protocol, client=client, service=service, consumer=consumer,
            message_id=_str(obj, "message_id"), request_id=_str(obj, "request_id"),
            time=time, method=_str(obj, "method"), path=_str(obj, "path"),
            query=_str(obj, "query", optional=True), headers=_parse_headers(obj.get("headers")),
            body_digest=_digest(obj), body_length=_int(obj, "body_length"),
            user_id=_str(obj, "user_id", optional=True), issue=_str(obj, "issue", optional=True),
            represented_party=_str(obj, "represented_party", optional=True),
            empty_query=_empty_query(obj),
        )


@dataclass(frozen=True, slots=True)
class ResponseHeader:
    """What the provider gateway signs for one response, bound to its request (spec §2.2)."""

    request_id: str
    request_hash: str
    service: ServiceId
    provider: ServerId
    time: datetime
    status: int
    headers: Headers
    body_digest: bytes
    body_length: int

    def encode(self) -> bytes:
        return canonical_json({
            "format": FORMAT,
            "request_id": self.request_id,
            "request_hash": self.request_hash,
            "service": str(self.service),
            "provider": str(self.provider),
            "time": format_rfc3339(self.time),
            "status": self.status,
            "headers": _headers_json(self.headers),
            "body_digest": base64.b64encode(self.body_digest).decode(),
            "body_length": self.body_length,
        })

    @staticmethod
    def signed_bytes(encoded: bytes) -> bytes:
        return pae(RESPONSE_TYPE, encoded)

    @classmethod
    def parse(cls, raw: bytes) -> ResponseHeader:
        obj = _load(raw, "response header")
        try:
            service = ServiceId.parse(_str(obj, "service"))
            provider = ServerId.parse(_str(obj, "provider"))
            time = parse_rfc3339(obj.get("time"))
        except (InvalidIdentifier, ValueError) as e:
            raise InvalidMessage(f"response header: {e}") from e
        status = _int(obj, "status")
        if not 100 <= status <= 599:
            raise InvalidMessage("response header: status must be an HTTP status code")
        return cls(
            request_id=_str(obj, "request_id"), request_hash=_str(obj, "request_hash"),
            service=service, provider=provider, time=time, status=status,
            headers=_parse_headers(obj.get("headers")), body_digest=_digest(obj),
            body_length=_int(obj, "body_length"),
        )
