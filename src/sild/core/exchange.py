"""One exchange between two gateways as pure functions (docs/spec/exchange.md §2–§6).

Steps (2), (4b) and (6) of ARCHITECTURE.md §4, written once and used by both sides:

* :func:`build_request` — (2) the consumer gateway signs the canonical request header,
  which holds the body's SHA-512 digest, with the client member's sign key;
* :func:`open_request` + :func:`verify_request` — (4b) the provider gateway splits the
  frame, then checks the signer certificate, the signature, that the TLS peer sent it
  for a client it hosts, that the service is hosted here, freshness, the body digest and
  the replay window. Only :func:`verify_request` makes a :class:`VerifiedRequest`, and
  only a verified request may be forwarded to an information system (STYLE.md rule 2);
* :func:`sign_response` — (5) the provider signs the response header bound to the
  request by the X-Road request hash (PR-REST §4.3);
* :func:`open_response` + :func:`verify_response` — (6) the consumer gateway checks the
  provider's signature, the binding to its own request and the body digest.

Nothing here reads a clock, a socket, a file or a database: time (``at``), trust (the
current global configuration's :class:`~sild.core.trust.TrustView`) and the replay
window are inputs (STYLE.md rules 1 and 8).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sild.core.envelope import Headers, RequestHeader, ResponseHeader, body_digest, request_hash
from sild.core.frame import encode_frame, parse_frame
from sild.core.globalconf import GatewayEntry
from sild.core.identifiers import ClientId, MemberId, ServerId, ServiceId
from sild.core.trust import CheckedSigner
from sild.crypto.keys import verify
from sild.errors import InvalidMessage, InvalidRequest, SignatureError, UnknownClient

__all__ = [
    "ReplayGuard",
    "SignedRequest",
    "SignedResponse",
    "Signer",
    "TrustPolicy",
    "VerifiedRequest",
    "VerifiedResponse",
    "build_request",
    "open_request",
    "open_response",
    "sign_response",
    "verify_request",
    "verify_response",
]


class Signer(Protocol):
    """A member's sign key with its certificate (sild.gateway.signer.MemberSigner)."""

    @property
    def certificate_der(self) -> bytes: ...
    @property
    def fingerprint(self) -> str: ...
    def sign(self, data: bytes) -> bytes: ...


class TrustPolicy(Protocol):
    """What a gateway trusts now (sild.core.trust.TrustView)."""

    def check_signer(self, cert_der: bytes, *, member: MemberId, at: datetime
                     ) -> CheckedSigner: ...


class ReplayGuard(Protocol):
    """The replay window (sild.core.replay.ReplayCache)."""

    def check_and_add(self, request_id: str, *, sent_at: float, now: float) -> None: ...


# Only the verify functions below hold this; the verified types refuse any other value,
# so a VerifiedRequest cannot be made by mistake elsewhere.
_SEAL = object()


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """A request as its consumer gateway signed it: the frame's parts, parsed."""

    header: RequestHeader
    encoded: bytes  # the canonical header bytes that were signed
    signature: bytes
    certificate: bytes  # the signer's certificate, DER
    body: bytes

    def frame(self) -> bytes:
        return encode_frame(self.encoded, self.signature, self.certificate, self.body)

    def request_hash(self) -> str:
        """X-Road-Request-Hash of this request (PR-REST §4.3)."""
        return request_hash(self.encoded, self.body)


@dataclass(frozen=True, slots=True)
class VerifiedRequest:
    """A request whose signature, sender, freshness, digest and uniqueness were checked."""

    signed: SignedRequest
    signer: CheckedSigner
    signer_fingerprint: str
    _seal: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._seal is not _SEAL:
            raise TypeError("a VerifiedRequest is made only by verify_request()")

    @property
    def header(self) -> RequestHeader:
        return self.signed.header

    @property
    def body(self) -> bytes:
        return self.signed.body


@dataclass(frozen=True, slots=True)
class SignedResponse:
    """A response as its provider gateway signed it."""

    header: ResponseHeader
    encoded: bytes
    signature: bytes
    certificate: bytes
    body: bytes

    def frame(self) -> bytes:
        return encode_frame(self.encoded, self.signature, self.certificate, self.body)


@dataclass(frozen=True, slots=True)
class VerifiedResponse:
    """A provider's response checked against the request it answers."""

    signed: SignedResponse
    signer: CheckedSigner
    _seal: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._seal is not _SEAL:
            raise TypeError("a VerifiedResponse is made only by verify_response()")

    @property
    def header(self) -> ResponseHeader:
        return self.signed.header

    @property
    def body(self) -> bytes:
        return self.signed.body


# -- (2) the consumer gateway signs ---------------------------------------------------


def build_request(*, client: ClientId, service: ServiceId, consumer: ServerId,
                  message_id: str, request_id: str, at: datetime, method: str, path: str,
                  query: str, headers: Headers, body: bytes, signer: Signer,
                  user_id: str = "", issue: str = "", represented_party: str = "",
                  empty_query: bool = False, protocol: str = "rest") -> SignedRequest:
    """The signed request for ``body`` (docs/spec/exchange.md §2.1); ``at`` is truncated
    to whole seconds, the unit of signed times."""
    header = RequestHeader(
        protocol=protocol, client=client, service=service, consumer=consumer,
        message_id=message_id, request_id=request_id, time=at.replace(microsecond=0),
        method=method, path=path, query=query, headers=headers,
        body_digest=body_digest(body), body_length=len(body), user_id=user_id, issue=issue,
        represented_party=represented_party, empty_query=empty_query and not query)
    encoded = header.encode()
    signature = signer.sign(RequestHeader.signed_bytes(encoded))
    return SignedRequest(header, encoded, signature, signer.certificate_der, body)


# -- (4b) the provider gateway verifies ------------------------------------------------


def open_request(frame: bytes) -> SignedRequest:
    """Split a request frame and parse its header; nothing is trusted yet."""
    parts = parse_frame(frame)
    return SignedRequest(RequestHeader.parse(parts.header), parts.header, parts.signature,
                         parts.certificate, parts.body)


def verify_request(signed: SignedRequest, *, peer: GatewayEntry, hosted: Collection[ClientId],
                   trust: TrustPolicy, replay: ReplayGuard, at: datetime, freshness: float,
                   max_body: int) -> VerifiedRequest:
    """docs/spec/exchange.md §4 step (2): everything a provider checks before access rights.

    ``peer`` is the gateway whose auth certificate the TLS connection presented (4a);
    ``hosted`` the clients this gateway hosts; ``freshness`` seconds either side of
    ``at``; ``max_body`` bytes.
    """
    header = signed.header
    # (2a) the signer certificate: approved CA, valid at ``at``, unrevoked, of the client's
    # member; then the signature over the PAE of the canonical header (spec §2.1)
    signer = trust.check_signer(signed.certificate, member=header.client.member, at=at)
    try:
        verify(public_key=signer.public_key, signature=signed.signature,
               data=RequestHeader.signed_bytes(signed.encoded))
    except SignatureError as e:
        raise SignatureError("request signature does not verify") from e
    # (2b) the TLS peer sent it, for a client it hosts, to a service hosted here
    if header.consumer != peer.id:
        raise InvalidMessage(f"envelope names {header.consumer} but the TLS peer is {peer.id}")
    # (the peer's owner member is its client without registration, as in X-Road)
    if header.client not in peer.clients and header.client != peer.id.owner:
        raise InvalidMessage(f"{header.client} is not hosted by the sending gateway")
    if header.service.subsystem not in hosted:
        raise UnknownClient(f"'{header.service.subsystem}' is not hosted on this gateway")
    # (2c) freshness: the signed time within the window around ours
    skew = timedelta(seconds=freshness)
    if not at - skew <= header.time <= at + skew:
        raise InvalidMessage("request is outside the freshness window (clock skew or replay)")
    # (2d) the body is the one that was signed
    if len(signed.body) > max_body:
        raise InvalidRequest(f"request body exceeds the limit of {max_body}")
    if header.body_length != len(signed.body) or header.body_digest != body_digest(signed.body):
        raise SignatureError("request body does not match its signed digest (tampered)")
    # (2e) first sight of this request id (last: a refused request must not burn its id)
    replay.check_and_add(header.request_id, sent_at=header.time.timestamp(),
                         now=at.timestamp())
    return VerifiedRequest(signed, signer, hashlib.sha256(signed.certificate).hexdigest(), _SEAL)


# -- (5) the provider gateway signs the response ---------------------------------------


def sign_response(request: VerifiedRequest, *, provider: ServerId, status: int,
                  headers: Headers, body: bytes, at: datetime, signer: Signer
                  ) -> SignedResponse:
    """The response to a verified request, bound to it by the request hash (spec §2.2)."""
    header = ResponseHeader(
        request_id=request.header.request_id, request_hash=request.signed.request_hash(),
        service=request.header.service, provider=provider, time=at.replace(microsecond=0),
        status=status, headers=headers, body_digest=body_digest(body), body_length=len(body))
    encoded = header.encode()
    signature = signer.sign(ResponseHeader.signed_bytes(encoded))
    return SignedResponse(header, encoded, signature, signer.certificate_der, body)


# -- (6) the consumer gateway verifies the response ------------------------------------


def open_response(frame: bytes) -> SignedResponse:
    """Split a response frame and parse its header; nothing is trusted yet."""
    parts = parse_frame(frame)
    return SignedResponse(ResponseHeader.parse(parts.header), parts.header, parts.signature,
                          parts.certificate, parts.body)


def verify_response(signed: SignedResponse, *, request: SignedRequest, provider: ServerId,
                    trust: TrustPolicy, at: datetime) -> VerifiedResponse:
    """docs/spec/exchange.md §6: the provider member signed this answer to ``request``."""
    header = signed.header
    service = request.header.service
    signer = trust.check_signer(signed.certificate, member=service.member, at=at)
    try:
        verify(public_key=signer.public_key, signature=signed.signature,
               data=ResponseHeader.signed_bytes(signed.encoded))
    except SignatureError as e:
        raise SignatureError("provider response signature does not verify") from e
    if (header.request_id != request.header.request_id
            or header.request_hash != request.request_hash()):
        raise InvalidMessage("provider response is not bound to this request "
                             "(X-Road-Request-Hash mismatch)")
    if header.service != service or header.provider != provider:
        raise InvalidMessage("provider response names another service or gateway")
    if header.body_length != len(signed.body) or header.body_digest != body_digest(signed.body):
        raise SignatureError("provider response body does not match its signed digest")
    return VerifiedResponse(signed, signer, _SEAL)
