"""Signed registration requests: a gateway owner asks the registry to add a gateway
or to host a client subsystem on one (X-Road management services ``authCertReg``
and ``clientReg``, research/xroad.md §1.1).

A request is a DSSE envelope (payloadType ``application/vnd.sild.registration+json``)
whose payload carries the certificates and whose signatures are keyed by role:

* ``owner``  — the gateway owner's **sign** key (always);
* ``auth``   — the gateway's **auth** key, proof of possession (gateway requests);
* ``client`` — the client member's sign key, when that member is not the owner.

Payload (canonical JSON)::

    {"format": "sild-registration/1", "kind": "gateway" | "client", "instance": "EE",
     "server": "EE/GOV/1/gw1", "address": "127.0.0.1:5500", "client": "EE/GOV/2/rr",
     "requested_at": "2026-11-22T16:00:00Z", "certificates": {"owner": PEM, "auth": PEM}}

Verification is in two layers: :func:`parse_request` checks the form and the
signatures (bytes in, :class:`SignedRequest` out); the registry then checks the
certificates against approved CAs and its own records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cryptography import x509

from sild.core.canonical import canonical_json, parse_json_object
from sild.core.dsse import Envelope, Signature
from sild.core.globalconf import GATEWAY_ADDRESS
from sild.core.identifiers import ClientId, ServerId, SubsystemId, parse_client
from sild.core.timefmt import format_rfc3339, parse_rfc3339
from sild.crypto.certs import cert_pem, load_certificate
from sild.crypto.keys import PrivateKey, key_type_of, sign, verify
from sild.errors import InvalidIdentifier, InvalidRequest, SignatureError

__all__ = [
    "PAYLOAD_TYPE",
    "SignedRequest",
    "build_client_request",
    "build_gateway_request",
    "parse_request",
]

PAYLOAD_TYPE = "application/vnd.sild.registration+json"
FORMAT = "sild-registration/1"
# A request holds at most three certificates; anything bigger is not a request (DoS bound).
MAX_REQUEST_SIZE = 64 * 1024


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """A request whose form is valid and whose role signatures verify."""

    kind: str
    instance: str
    server: ServerId
    requested_at: datetime
    certificates: dict[str, x509.Certificate]
    address: str | None
    client: ClientId | None
    raw: bytes


def _envelope(payload: dict[str, object], keys: dict[str, PrivateKey]) -> bytes:
    body = canonical_json(payload)
    unsigned = Envelope(PAYLOAD_TYPE, body, ())
    sigs = tuple(
        Signature(role, sign(key=key, data=unsigned.signed_bytes()))
        for role, key in sorted(keys.items())
    )
    return Envelope(PAYLOAD_TYPE, body, sigs).encode()


def build_gateway_request(
    *,
    server: ServerId,
    address: str,
    auth_certificate: x509.Certificate,
    auth_key: PrivateKey,
    owner_certificate: x509.Certificate,
    owner_key: PrivateKey,
    at: datetime,
) -> bytes:
    """The owner's side: a signed request to register gateway ``server`` at ``address``."""
    GATEWAY_ADDRESS.check(address, "gateway address")  # the registry would refuse it
    payload: dict[str, object] = {
        "format": FORMAT,
        "kind": "gateway",
        "instance": server.instance,
        "server": str(server),
        "address": address,
        "requested_at": format_rfc3339(at.replace(microsecond=0)),
        "certificates": {
            "owner": cert_pem(owner_certificate),
            "auth": cert_pem(auth_certificate),
        },
    }
    return _envelope(payload, {"owner": owner_key, "auth": auth_key})


def build_client_request(
    *,
    server: ServerId,
    client: SubsystemId,
    owner_certificate: x509.Certificate,
    owner_key: PrivateKey,
    at: datetime,
    client_certificate: x509.Certificate | None = None,
    client_key: PrivateKey | None = None,
) -> bytes:
    """The owner's side: a signed request to host ``client`` on gateway ``server``."""
    certs = {"owner": cert_pem(owner_certificate)}
    keys = {"owner": owner_key}
    if client_certificate is not None and client_key is not None:
        certs["client"] = cert_pem(client_certificate)
        keys["client"] = client_key
    payload: dict[str, object] = {
        "format": FORMAT,
        "kind": "client",
        "instance": server.instance,
        "server": str(server),
        "client": str(client),
        "requested_at": format_rfc3339(at.replace(microsecond=0)),
        "certificates": certs,
    }
    return _envelope(payload, keys)


def _str(obj: dict[str, object], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"registration request: missing or empty {key!r}")
    return value


def parse_request(raw: bytes) -> SignedRequest:
    """Check form and role signatures of a registration request.

    The certificates are not yet checked against approved CAs; the registry does
    that (:meth:`sild.registry.service.Registry.submit`).
    """
    if len(raw) > MAX_REQUEST_SIZE:
        raise InvalidRequest(f"registration request is larger than {MAX_REQUEST_SIZE} bytes")
    env = Envelope.parse(raw, what="registration request", max_signatures=3)
    if env.payload_type != PAYLOAD_TYPE:
        raise InvalidRequest(f"registration request: payloadType must be {PAYLOAD_TYPE}")
    obj = parse_json_object(env.payload, "registration request payload")
    if obj.get("format") != FORMAT:
        raise InvalidRequest(f"registration request: format must be {FORMAT}")
    kind = _str(obj, "kind")
    if kind not in ("gateway", "client"):
        raise InvalidRequest("registration request: kind must be 'gateway' or 'client'")
    try:
        server = ServerId.parse(_str(obj, "server"))
        client = parse_client(_str(obj, "client")) if kind == "client" else None
    except InvalidIdentifier as e:
        raise InvalidRequest(f"registration request: {e}") from e
    instance = _str(obj, "instance")
    if server.instance != instance or (client is not None and client.instance != instance):
        raise InvalidRequest("registration request: identifiers are not of its instance")
    try:
        requested_at = parse_rfc3339(obj.get("requested_at"))
    except ValueError as e:
        raise InvalidRequest(f"registration request: requested_at: {e}") from e
    address = _str(obj, "address") if kind == "gateway" else None
    if address is not None:  # it goes into the global configuration (§2.1 field rules)
        problem = GATEWAY_ADDRESS.problem(address)
        if problem is not None:
            raise InvalidRequest(f"registration request: address {problem}")
    pems = obj.get("certificates")
    if not isinstance(pems, dict):
        raise InvalidRequest("registration request: missing certificates")
    required = {"owner", "auth"} if kind == "gateway" else {"owner"}
    allowed = required | ({"client"} if kind == "client" else set())
    if not required <= set(pems) or not set(pems) <= allowed:
        raise InvalidRequest(
            f"registration request: certificates must be {sorted(required)}"
            + (" (+ optional 'client')" if kind == "client" else "")
        )
    certs: dict[str, x509.Certificate] = {}
    for role, pem in pems.items():
        if not isinstance(pem, str):
            raise InvalidRequest(f"registration request: certificate {role!r} must be PEM text")
        certs[role] = load_certificate(pem.encode())
    sigs = {s.keyid: s.sig for s in env.signatures}
    if set(sigs) != set(certs):
        missing = sorted(set(certs) - set(sigs))
        raise SignatureError(
            f"registration request: signatures by {missing or sorted(sigs)} missing or unexpected"
        )
    signed = env.signed_bytes()
    for role, cert in certs.items():
        public_key = cert.public_key()
        try:
            key_type_of(public_key)
        except InvalidRequest as e:
            raise InvalidRequest(f"registration request: {role} certificate: {e}") from e
        try:
            verify(public_key=public_key, signature=sigs[role], data=signed)  # type: ignore[arg-type]  # narrowed by key_type_of
        except SignatureError as e:
            raise SignatureError(f"registration request: bad {role} signature") from e
    return SignedRequest(kind, instance, server, requested_at, certs, address, client, raw)
