"""The typed record that travels through one side's pipeline (ARCHITECTURE.md §4).

Each stage reads what earlier stages set and sets its own fields; nothing is a
``dict[str, Any]``. Whatever happens, the runner turns the record into the exchange's
monitoring record and commits it with the message-log records gathered so far
(:attr:`ExchangeRecord.pending`), so a refused or crashed exchange is still logged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from multidict import CIMultiDict, CIMultiDictProxy

from sild.core.exchange import SignedRequest, SignedResponse, VerifiedRequest, VerifiedResponse
from sild.core.globalconf import GatewayEntry
from sild.core.identifiers import ClientId, ServiceId
from sild.core.trust import TrustView
from sild.gateway.admission import Ticket
from sild.gateway.context import ServiceTarget
from sild.gateway.messagelog.log import LogRecord
from sild.gateway.messagelog.opmon import OpMonRecord, ServerType
from sild.gateway.messagelog.usage import UsageRecord
from sild.gateway.serverconf._snapshot import PersonalData
from sild.soap.message import SoapRequest

__all__ = ["Answer", "ConsumerExchange", "ExchangeRecord", "HeaderView", "Incoming", "IsReply",
           "PersonalUse", "ProviderExchange"]


# Request headers, case-insensitive, repeatable (multidict, as aiohttp hands them over).
HeaderView = CIMultiDictProxy[str] | CIMultiDict[str]


@dataclass(frozen=True, slots=True)
class Incoming:
    """An HTTP request as a port received it, independent of the HTTP server."""

    method: str
    raw_path: str  # the request target as sent, still percent-encoded
    headers: HeaderView
    read_body: Callable[[int], Awaitable[bytes]]  # the whole body, at most N bytes
    tls_certificate: Callable[[], bytes | None]  # the TLS peer's certificate (DER), if any


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP response for the port to send."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def _ms(when: datetime | None) -> int | None:
    """Unix milliseconds, the unit of X-Road's monitoring timestamps (§4.3)."""
    return int(when.timestamp() * 1000) if when is not None else None


@dataclass(frozen=True, slots=True)
class IsReply:
    """What an information system answered (or a metaservice, which answers the same way)."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass(slots=True, kw_only=True)
class ExchangeRecord:
    """What both sides know of one exchange; the monitoring record is made from it."""

    server_type: ServerType
    request_in: datetime
    incoming: Incoming
    view: TrustView | None = None  # the trust view this exchange was decided under
    client: ClientId | None = None
    service: ServiceId | None = None
    message_id: str = ""  # X-Road-Id
    request_id: str = ""  # X-Road-Request-Id
    user_id: str = ""  # X-Road-UserId
    issue: str = ""  # X-Road-Issue
    represented_party: str = ""
    method: str = ""
    path: str = ""  # the remaining path, as sent (still percent-encoded)
    request_size: int = 0
    request_out: datetime | None = None
    response_in: datetime | None = None
    status: int = 0
    response_size: int = 0
    # committed with the outcome (usage records only with a released response)
    pending: list[LogRecord | UsageRecord] = field(default_factory=list)

    def monitoring(self, *, this_server: str, other_server: str | None, response_out: datetime,
                   fault_code: str = "", fault_string: str = "") -> OpMonRecord:
        consumer = self.server_type == "Client"
        # escaped: a refused request's raw values are not stored as sent (spec §1.1)
        return OpMonRecord.escaped(
            security_server_type=self.server_type, request_in_ts=_ms(self.request_in) or 0,
            request_out_ts=_ms(self.request_out), response_in_ts=_ms(self.response_in),
            response_out_ts=_ms(response_out), client=self.client, service=self.service,
            rest_method=self.method or None, rest_path=self.path or None,
            message_id=self.message_id or None, x_request_id=self.request_id or None,
            message_user_id=self.user_id or None, message_issue=self.issue or None,
            client_security_server_address=this_server if consumer else other_server,
            service_security_server_address=other_server if consumer else this_server,
            request_size=self.request_size, response_size=self.response_size,
            succeeded=not fault_code and 0 < self.status < 400,
            status_code=self.status or None, fault_code=fault_code or None,
            fault_string=fault_string or None)


@dataclass(slots=True, kw_only=True)
class ConsumerExchange(ExchangeRecord):
    """The consumer gateway's record: IS request in, signed request out, answer back."""

    server_type: ServerType = "Client"
    protocol: str = "rest"  # or "soap" (sild.gateway.exchange.soap_consumer)
    body: bytes | None = None  # read early by a front end that must parse it (SOAP)
    soap: SoapRequest | None = None  # the checked X-Road SOAP header
    soap_hash: str = ""  # X-Road's requestHash over the SOAP part (PR-MESS §2.3)
    extra_headers: tuple[tuple[str, str], ...] = ()  # signed along (SOAP header extension)
    accept: str = ""  # the IS's Accept header: errors are answered in that form
    ticket: Ticket | None = None  # admission (docs/spec/exchange.md §8), released by the port
    query: str = ""
    empty_query: bool = False  # the target ended in a bare "?"
    providers: tuple[GatewayEntry, ...] = ()
    provider: GatewayEntry | None = None  # the gateway that answered
    request: SignedRequest | None = None  # (2)
    signed_response: SignedResponse | None = None  # (3) as received
    response: VerifiedResponse | None = None  # (6)


@dataclass(slots=True)
class PersonalUse:
    """What the tracker stages (sild.gateway.exchange.tracker) learned about one
    request to a personal-data service."""

    data: PersonalData
    purpose: str  # as sent: a registered purpose code or text
    purpose_code: str = ""  # the registered purpose it names, if any
    action: str = ""  # what the person sees: the registered text, or the text sent
    subjects: list[str] = field(default_factory=list)
    emergency: str = ""  # the break-glass reason, if sent by an emergency-group client
    consent: str | None = None  # the consent artefact or id the client presented
    sealed: bool = False
    # per subject: flags beyond the request's own, and the consent that allowed it
    flags: dict[str, set[str]] = field(default_factory=dict)
    consent_ids: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True, kw_only=True)
class ProviderExchange(ExchangeRecord):
    """The provider gateway's record: signed request in, IS call, signed response out."""

    server_type: ServerType = "Producer"
    peer: GatewayEntry | None = None  # (4a) the TLS peer
    accept: str = ""  # the consumer IS's Accept, from the signed headers
    request: VerifiedRequest | None = None  # (4b)
    target: ServiceTarget | None = None  # (4c) where the IS is; None for a metaservice
    metaservice: bool = False
    reply: IsReply | None = None  # (5)
    response: SignedResponse | None = None  # (5) signed
    personal: PersonalUse | None = None  # (4d) a personal-data request: the tracker's facts
