"""Encoding and strict parsing of the global configuration document.

docs/spec/globalconf.md §2 (the document) and §4 step (3) ("all fields present and
well-typed, identifiers parse"). Parsing refuses unknown fields, unsorted or
duplicated list entries and any payload that is not byte-for-byte the canonical
encoding, so one document has exactly one signed spelling. Every error names the
field at fault, e.g. ``globalconf: gateways[1].address: ...``. What a text field may
hold is one of the field rules of :mod:`sild.core._globalconf_model` (§2.1), the
same objects the registry checks its inputs with.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from sild.core._globalconf_model import (
    ALGORITHM,
    CA_CERTIFICATE,
    CA_NAME,
    FINGERPRINT,
    GATEWAY_ADDRESS,
    GROUP_DESCRIPTION,
    INSTANCE,
    KEY_ID,
    LEDGER_VALUE,
    LIST_VALUE,
    MEMBER_NAME,
    PUBLIC_KEY,
    PURPOSE_CODE,
    PURPOSE_TEXT,
    REVOKED_SERIAL,
    CaEntry,
    GatewayEntry,
    GlobalConf,
    GlobalGroupEntry,
    LedgerSettings,
    MemberEntry,
    PurposeEntry,
    RevokedCert,
    SigningKey,
    TextRule,
)
from sild.core.canonical import canonical_json, parse_json_object
from sild.core.identifiers import (
    ClientId,
    GlobalGroupId,
    MemberId,
    ServerId,
    parse_client,
)
from sild.core.timefmt import format_rfc3339, parse_rfc3339
from sild.crypto.keys import KeyType, b64, key_id, public_key_from_raw
from sild.errors import GlobalConfError, InvalidIdentifier, InvalidRequest, SildError

__all__ = [
    "FORMAT",
    "MAX_REFRESH_INTERVAL",
    "encode_document",
    "encode_signing_key",
    "parse_document",
    "parse_signing_key",
]

T = TypeVar("T")

FORMAT = "sild-globalconf/1"
# A refresh interval above a day would leave gateways on stale revocations for too long.
MAX_REFRESH_INTERVAL = 86_400


# --- encoding -------------------------------------------------------------------------------


def encode_signing_key(key: SigningKey) -> dict[str, Any]:
    return {"algorithm": key.algorithm, "key_id": key.key_id, "public_key": b64(key.public_key)}


def _document_object(conf: GlobalConf) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "instance": conf.instance,
        "version": conf.version,
        "issued_at": format_rfc3339(conf.issued_at),
        "expires_at": format_rfc3339(conf.expires_at),
        "refresh_interval": conf.refresh_interval,
        "signing_keys": [encode_signing_key(k) for k in conf.signing_keys],
        "cas": [
            {
                "name": ca.name,
                "certificate": ca.certificate_pem,
                "fingerprint": ca.fingerprint,
                "revoked": [
                    {"serial": r.serial, "revoked_at": format_rfc3339(r.revoked_at)}
                    for r in ca.revoked
                ],
            }
            for ca in conf.cas
        ],
        "members": [
            {"id": str(m.id), "name": m.name, "subsystems": list(m.subsystems)}
            for m in conf.members
        ],
        "gateways": [
            {
                "id": str(g.id),
                "address": g.address,
                "auth_fingerprint": g.auth_fingerprint,
                "clients": [str(c) for c in g.clients],
            }
            for g in conf.gateways
        ],
        "global_groups": [
            {"id": str(g.id), "description": g.description, "members": [str(c) for c in g.members]}
            for g in conf.global_groups
        ],
        "ledger": {
            "endpoints": list(conf.ledger.endpoints),
            "keys": list(conf.ledger.keys),
            "witnesses": list(conf.ledger.witnesses),
        },
    } | ({"purposes": [{"code": p.code, "text": p.text} for p in conf.purposes]}
         if conf.purposes else {})  # optional: documents without purposes keep their bytes


def encode_document(conf: GlobalConf) -> bytes:
    """The canonical JSON bytes of ``conf`` (§2), the payload that gets signed (§3)."""
    return canonical_json(_document_object(conf))


# --- parsing --------------------------------------------------------------------------------


class _Obj:
    """A JSON object being read field by field; errors name ``where.field``."""

    def __init__(self, value: object, where: str, err: type[SildError]) -> None:
        if not isinstance(value, dict):
            raise err(f"{where}: must be a JSON object")
        self.d: dict[str, Any] = value
        self.where = where
        self.err = err
        self.seen: set[str] = set()

    def fail(self, name: str, problem: str) -> SildError:
        return self.err(f"{self.where}.{name}: {problem}")

    def get(self, name: str) -> Any:
        if name not in self.d:
            raise self.err(f"{self.where}: missing field {name!r}")
        self.seen.add(name)
        return self.d[name]

    def text(self, name: str, rule: TextRule) -> str:
        v = self.get(name)
        problem = rule.problem(v)
        if problem is not None:
            raise self.fail(name, problem)
        assert isinstance(v, str)  # the rule said so
        return v

    def integer(self, name: str, lo: int, hi: int) -> int:
        v = self.get(name)
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.fail(name, f"must be an integer, got {type(v).__name__}")
        if not lo <= v <= hi:
            raise self.fail(name, f"must be between {lo} and {hi}, got {v}")
        return v

    def time(self, name: str) -> datetime:
        try:
            return parse_rfc3339(self.get(name))
        except ValueError as e:
            raise self.fail(name, str(e)) from e

    def items(self, name: str, max_items: int = 100_000) -> list[tuple[str, Any]]:
        v = self.get(name)
        if not isinstance(v, list):
            raise self.fail(name, f"must be a list, got {type(v).__name__}")
        if len(v) > max_items:
            raise self.fail(name, f"has more than {max_items} entries")
        return [(f"{self.where}.{name}[{i}]", x) for i, x in enumerate(v)]

    def done(self) -> None:
        extra = sorted(set(self.d) - self.seen)
        if extra:
            raise self.err(f"{self.where}: unknown field {extra[0]!r}")


def _sorted_unique(values: list[T], key: Callable[[T], Any], where: str, what: str) -> None:
    keys = [key(v) for v in values]
    for a, b in itertools.pairwise(keys):
        if a == b:
            raise GlobalConfError(f"{where}: duplicate {what} {a!r}")
        if a > b:
            raise GlobalConfError(f"{where}: entries must be sorted by {what}")


def _ident(parse: Callable[[str], T], value: object, where: str) -> T:
    if not isinstance(value, str):
        raise GlobalConfError(f"{where}: identifier must be a string")
    try:
        return parse(value)
    except InvalidIdentifier as e:
        raise GlobalConfError(f"{where}: {e}") from e


def _strings(o: _Obj, name: str, rule: TextRule) -> tuple[str, ...]:
    out: list[str] = []
    for where, v in o.items(name):
        problem = rule.problem(v)
        if problem is not None:
            raise GlobalConfError(f"{where}: {problem}")
        out.append(v)
    _sorted_unique(out, lambda s: s, f"{o.where}.{name}", "value")
    return tuple(out)


def _clients(o: _Obj, name: str) -> tuple[ClientId, ...]:
    out = [_ident(parse_client, v, where) for where, v in o.items(name)]
    _sorted_unique(out, str, f"{o.where}.{name}", "client id")
    return tuple(out)


def parse_signing_key(value: object, where: str, err: type[SildError]) -> SigningKey:
    """Parse ``{"key_id","algorithm","public_key"}``; the key id must match the key (§1)."""
    o = _Obj(value, where, err)
    algorithm = o.text("algorithm", ALGORITHM)
    if algorithm != KeyType.ED25519.value:
        raise o.fail("algorithm", f"must be 'ed25519', got {algorithm!r}")
    kid = o.text("key_id", KEY_ID)
    raw_text = o.text("public_key", PUBLIC_KEY)
    try:
        raw = base64.b64decode(raw_text.encode("ascii"), validate=True)
        public = public_key_from_raw(KeyType.ED25519, raw)
    except (ValueError, UnicodeEncodeError, InvalidRequest) as e:
        raise o.fail("public_key", "is not a base64 raw Ed25519 public key") from e
    if b64(raw) != raw_text or len(raw) != 32:
        raise o.fail("public_key", "is not the canonical base64 of 32 bytes")
    if key_id(public) != kid:
        raise o.fail("key_id", f"{kid} does not match the public key")
    o.done()
    return SigningKey(kid, algorithm, raw)


def _ca(value: object, where: str) -> CaEntry:
    o = _Obj(value, where, GlobalConfError)
    name = o.text("name", CA_NAME)
    pem = o.text("certificate", CA_CERTIFICATE)
    fingerprint = o.text("fingerprint", FINGERPRINT)
    assert CA_CERTIFICATE.pattern is not None
    m = CA_CERTIFICATE.pattern.fullmatch(pem)
    assert m is not None  # the rule matched it
    try:
        der = base64.b64decode("".join(m.group(1).split()), validate=True)
    except ValueError as e:
        raise o.fail("certificate", "PEM body is not valid base64") from e
    if hashlib.sha256(der).hexdigest() != fingerprint:
        raise o.fail("fingerprint", "is not the SHA-256 of the certificate's DER")
    revoked: list[RevokedCert] = []
    for rwhere, rv in o.items("revoked"):
        r = _Obj(rv, rwhere, GlobalConfError)
        revoked.append(RevokedCert(r.text("serial", REVOKED_SERIAL), r.time("revoked_at")))
        r.done()
    _sorted_unique(revoked, lambda r: r.serial, f"{where}.revoked", "serial")
    o.done()
    return CaEntry(name, pem, fingerprint, tuple(revoked))


def _member(value: object, where: str) -> MemberEntry:
    o = _Obj(value, where, GlobalConfError)
    mid = _ident(MemberId.parse, o.get("id"), f"{where}.id")
    name = o.text("name", MEMBER_NAME)
    subsystems = _strings(o, "subsystems", LIST_VALUE)
    for i, code in enumerate(subsystems):
        _ident(mid.subsystem, code, f"{where}.subsystems[{i}]")
    o.done()
    return MemberEntry(mid, name, subsystems)


def _gateway(value: object, where: str) -> GatewayEntry:
    o = _Obj(value, where, GlobalConfError)
    sid = _ident(ServerId.parse, o.get("id"), f"{where}.id")
    address = o.text("address", GATEWAY_ADDRESS)
    fingerprint = o.text("auth_fingerprint", FINGERPRINT)
    clients = _clients(o, "clients")
    o.done()
    return GatewayEntry(sid, address, fingerprint, clients)


def _group(value: object, where: str) -> GlobalGroupEntry:
    o = _Obj(value, where, GlobalConfError)
    gid = _ident(GlobalGroupId.parse, o.get("id"), f"{where}.id")
    description = o.text("description", GROUP_DESCRIPTION)
    members = _clients(o, "members")
    o.done()
    return GlobalGroupEntry(gid, description, members)


def _purpose(value: object, where: str) -> PurposeEntry:
    o = _Obj(value, where, GlobalConfError)
    code = o.text("code", PURPOSE_CODE)
    text = o.text("text", PURPOSE_TEXT)
    o.done()
    return PurposeEntry(code, text)


def parse_document(payload: bytes) -> GlobalConf:
    """Strictly parse the §2 document; :class:`GlobalConfError` naming the bad field."""
    try:
        obj = parse_json_object(payload, "globalconf")
    except InvalidRequest as e:
        raise GlobalConfError(str(e)) from e
    o = _Obj(obj, "globalconf", GlobalConfError)
    fmt = o.get("format")
    if fmt != FORMAT:
        raise o.fail("format", f"must be {FORMAT!r}, got {str(fmt)[:40]!r}")
    instance = o.text("instance", INSTANCE)
    try:
        GlobalGroupId(instance, "x")  # the instance part obeys the identifier grammar
    except InvalidIdentifier as e:
        raise o.fail("instance", str(e)) from e
    version = o.integer("version", 0, 2**53 - 1)
    issued_at = o.time("issued_at")
    expires_at = o.time("expires_at")
    if expires_at <= issued_at:
        raise o.fail("expires_at", "must be after issued_at")
    refresh = o.integer("refresh_interval", 1, MAX_REFRESH_INTERVAL)

    keys = [parse_signing_key(v, w, GlobalConfError) for w, v in o.items("signing_keys", 64)]
    if not keys:
        raise o.fail("signing_keys", "must list at least one key")
    _sorted_unique(keys, lambda k: k.key_id, "globalconf.signing_keys", "key_id")
    cas = [_ca(v, w) for w, v in o.items("cas")]
    _sorted_unique(cas, lambda c: (c.name, c.fingerprint), "globalconf.cas", "name")
    members = [_member(v, w) for w, v in o.items("members")]
    _sorted_unique(members, lambda m: str(m.id), "globalconf.members", "id")
    gateways = [_gateway(v, w) for w, v in o.items("gateways")]
    _sorted_unique(gateways, lambda g: str(g.id), "globalconf.gateways", "id")
    groups = [_group(v, w) for w, v in o.items("global_groups")]
    _sorted_unique(groups, lambda g: str(g.id), "globalconf.global_groups", "id")

    lo = _Obj(o.get("ledger"), "globalconf.ledger", GlobalConfError)
    ledger = LedgerSettings(
        _strings(lo, "endpoints", LEDGER_VALUE),
        _strings(lo, "keys", LEDGER_VALUE),
        _strings(lo, "witnesses", LEDGER_VALUE),
    )
    lo.done()
    purposes = [_purpose(v, w) for w, v in o.items("purposes", 10_000)] \
        if "purposes" in o.d else []
    _sorted_unique(purposes, lambda p: p.code, "globalconf.purposes", "code")
    o.done()
    conf = GlobalConf(
        instance, version, issued_at, expires_at, refresh, tuple(keys),
        tuple(cas), tuple(members), tuple(gateways), tuple(groups), ledger, tuple(purposes),
    )  # fmt: skip
    if encode_document(conf) != payload:
        raise GlobalConfError("globalconf: payload is not in canonical JSON form")
    return conf
