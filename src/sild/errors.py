"""One exception tree for all of Sild, split by who is at fault.

::

    SildError                       code, message, fields; never shown as a traceback
    ├── RemoteError                 the other side sent something wrong  ("Client.*" → 400)
    │   ├── InvalidIdentifier       Client.InvalidClientIdentifier
    │   │   └── InvalidPersonalCode Client.InvalidPersonalCode
    │   ├── MissingHeader           Client.MissingHeader
    │   ├── RequestTimeout          Client.RequestTimeout (408: head or body too slow)
    │   ├── EmergencyNotPermitted   Client.EmergencyNotPermitted (break-glass without the role)
    │   ├── InvalidMessage          Client.InvalidMessage  (stale or replayed envelope)
    │   ├── Unauthorized            Client.Unauthorized (401)
    │   │   └── InvalidSubjectAssertion Client.InvalidSubjectAssertion (401)
    │   ├── InvalidRequest          Client.InvalidRequest
    │   │   ├── PayloadTooLarge     Client.PayloadTooLarge (413)
    │   │   ├── LedgerFormatError   Client.InvalidLedgerFormat
    │   │   ├── ArchiveInvalid      Client.InvalidArchive
    │   │   ├── SnapshotInvalid     Client.InvalidSnapshot  (embassy snapshot: signature, hashes)
    │   │   ├── BatchTooLarge       Client.BatchTooLarge (413)
    │   │   ├── InvalidDataCategory Client.InvalidDataCategory
    │   │   └── InvalidWebhookUrl   Client.InvalidWebhookUrl (a subscription's URL)
    │   ├── CertificateError        Client.CertValidation
    │   │   └── CertificateRevoked  Client.CertRevoked
    │   ├── ConsentInvalid          Client.InvalidConsent  (expired, revoked, not this client's)
    │   ├── SignatureError          Client.InvalidSignatureValue
    │   │   ├── NoteSignatureError  Client.InvalidNoteSignature
    │   │   └── BadLogSignature     Client.InvalidLogSignature (403)
    │   ├── ProofError              Client.InvalidHashChain
    │   │   └── InconsistentCheckpoint  Client.InconsistentCheckpoint (422)
    │   ├── HashAlgorithmError      Client.InvalidHashAlgorithm
    │   ├── PinError                Client.InvalidPin  (wrong PIN or PUK; tries left)
    │   │   └── PinBlocked          Client.PinBlocked  (no tries left; PUK needed)
    │   ├── UnknownMember           Client.UnknownMember
    │   │   └── UnknownClient       Server.UnknownMember  (as gateways report it)
    │   ├── UnknownService          Server.UnknownService
    │   ├── InvalidServiceType      Client.ServiceType
    │   ├── DuplicateEntry          Client.Duplicate (409)
    │   ├── WitnessConflict         Client.WitnessConflict (409)
    │   ├── AccessDenied            Server.AccessDenied
    │   ├── SslAuthenticationFailed Server.SslAuthenticationFailed
    │   └── GlobalConfError         Server.MalformedGlobalConf  (a registry sent a bad document)
    │       ├── GlobalConfSignatureError  Server.InvalidGlobalConfSignature
    │       ├── GlobalConfRollback  Server.GlobalConfRollback
    │       └── GlobalConfExpired   Server.OutdatedGlobalConf
    ├── LocalError                  our own state or the operator's input  ("Server.*" → 500)
    │   ├── InternalError           Server.InternalError  (a bug; traceback only in the log)
    │   ├── ConfigurationError      Server.ConfigurationError  (instance folder, settings)
    │   ├── NotFound                Client.NotFound (404)
    │   │   └── UnknownLog          Client.UnknownLog (404)
    │   ├── InvalidStateTransition  Client.InvalidState (409)
    │   ├── KeyFileError            Server.KeyFileError
    │   ├── ServiceDisabled         Server.ServiceDisabled
    │   └── StorageError            Server.DatabaseError
    │       └── LoggingFailed       Server.LoggingFailed
    ├── RelayedError                another gateway's X-Road error, passed on unchanged
    ├── ServiceUnavailable          Server.MaintenanceMode (503)
    │   ├── TimestampingFailed      Server.TimestampingFailed
    │   ├── RoundFull               Server.RoundFull
    │   ├── NotWriter               Server.NotWriter
    │   └── Overloaded              Server.Overloaded (503: in-flight bound, load shed)
    ├── TooManyRequests             Server.TooManyRequests (429: a caller's own limit)
    └── TransportError              Server.NetworkError   (could not reach a peer)
        ├── PeerUnreachable         Server.PeerUnreachable (no connection: nothing was sent)
        └── ConsentUnavailable      Server.ConsentUnavailable (no decision: fail closed)
            └── ConsentAnswerInvalid  Server.InvalidConsentAnswer (garbage from the service)

Every class is defined here and has its own code (tests/unit/test_errors.py checks
both); modules that raise one import it from here.

At a gateway boundary a ``Server.*`` code gets the X-Road component prefix:
``Server.ClientProxy.*`` on the consumer gateway, ``Server.ServerProxy.*`` on the
provider gateway (:func:`xroad_code_at`); ``Client.*`` codes stay as they are.

Every error maps to exactly one X-Road-style code (research/xroad.md §2.4). Foreign
exceptions are wrapped with ``raise ... from e`` at the boundary.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AccessDenied",
    "ArchiveInvalid",
    "BadLogSignature",
    "BatchTooLarge",
    "CertificateError",
    "CertificateRevoked",
    "ConfigurationError",
    "ConsentAnswerInvalid",
    "ConsentInvalid",
    "ConsentUnavailable",
    "DuplicateEntry",
    "EmergencyNotPermitted",
    "GlobalConfError",
    "GlobalConfExpired",
    "GlobalConfRollback",
    "GlobalConfSignatureError",
    "HashAlgorithmError",
    "InconsistentCheckpoint",
    "InternalError",
    "InvalidContainer",
    "InvalidDataCategory",
    "InvalidIdentifier",
    "InvalidMessage",
    "InvalidPersonalCode",
    "InvalidRequest",
    "InvalidServiceType",
    "InvalidStateTransition",
    "InvalidSubjectAssertion",
    "InvalidWebhookUrl",
    "KeyFileError",
    "LedgerFormatError",
    "LocalError",
    "LoggingFailed",
    "MissingHeader",
    "NotFound",
    "NotWriter",
    "NoteSignatureError",
    "Overloaded",
    "PayloadTooLarge",
    "PeerUnreachable",
    "PinBlocked",
    "PinError",
    "ProofError",
    "QuotaExceeded",
    "RelayedError",
    "RemoteError",
    "RequestTimeout",
    "RoundFull",
    "ServiceDisabled",
    "ServiceUnavailable",
    "SignatureError",
    "SildError",
    "SnapshotInvalid",
    "SoapDuplicateHeaderField",
    "SoapError",
    "SoapInconsistentHeaders",
    "SoapInconsistentResponse",
    "SoapInvalidContentType",
    "SoapInvalidHttpMethod",
    "SoapInvalidProtocolVersion",
    "SoapMimeParsingFailed",
    "SoapMissingBody",
    "SoapMissingHeaderField",
    "SslAuthenticationFailed",
    "StorageError",
    "TimestampingFailed",
    "TooManyRequests",
    "TransportError",
    "Unauthorized",
    "UnknownLog",
    "UnknownMember",
    "UnknownService",
    "WitnessConflict",
    "normalise_code",
    "xroad_code_at",
]


class SildError(Exception):
    """Root of every error Sild raises on purpose."""

    fault: ClassVar[str] = "Server"
    code: ClassVar[str] = "InternalError"
    http_status: ClassVar[int] = 500

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields

    @property
    def xroad_code(self) -> str:
        """The X-Road CamelCase error code, e.g. ``Client.InvalidClientIdentifier``."""
        return f"{self.fault}.{self.code}"

    def __str__(self) -> str:
        return self.message


class RemoteError(SildError):
    """The peer, client or file we were given is at fault."""

    fault = "Client"
    code = "BadRequest"
    http_status = 400


class LocalError(SildError):
    """Our own configuration, state or storage is at fault."""


class InvalidIdentifier(RemoteError):
    """An X-Road identifier that does not follow the grammar (research/xroad.md §2.1)."""

    code = "InvalidClientIdentifier"


class InvalidPersonalCode(InvalidIdentifier):
    """A national personal code that fails its scheme's rules (docs/spec/identity.md §1)."""

    code = "InvalidPersonalCode"


class InvalidRequest(RemoteError):
    """A request body or file that does not follow its format."""

    code = "InvalidRequest"


class EmergencyNotPermitted(RemoteError):
    """A client outside the registry's emergency group sent ``Sild-Emergency``."""

    code = "EmergencyNotPermitted"


class MissingHeader(RemoteError):
    """A required protocol header is absent."""

    code = "MissingHeader"


class InvalidMessage(RemoteError):
    """A signed message that is stale, replayed or inconsistent with its envelope."""

    code = "InvalidMessage"


class AccessDenied(RemoteError):
    """The client has no access right to the service (research/xroad.md §4.1)."""

    fault = "Server"
    code = "AccessDenied"
    http_status = 500


class SslAuthenticationFailed(RemoteError):
    """The peer's TLS certificate is not a registered, unrevoked gateway auth certificate."""

    fault = "Server"
    code = "SslAuthenticationFailed"
    http_status = 500


class Unauthorized(RemoteError):
    """A management call without the right credential (checked before the body is read)."""

    code = "Unauthorized"
    http_status = 401


class InvalidSubjectAssertion(Unauthorized):
    """A ``Sild-Subject-Assertion`` that is forged, expired, for another issuer or
    audience, or malformed (docs/spec/identity.md §8)."""

    code = "InvalidSubjectAssertion"


class PayloadTooLarge(InvalidRequest):
    """A request body over the service's limit, refused before it is read."""

    code = "PayloadTooLarge"
    http_status = 413


class CertificateError(RemoteError):
    """A certificate that does not chain, has the wrong usage or is expired."""

    code = "CertValidation"


class CertificateRevoked(CertificateError):
    """A certificate that its CA has revoked."""

    code = "CertRevoked"


class SignatureError(RemoteError):
    """A signature that does not verify or is missing."""

    code = "InvalidSignatureValue"


class PinError(RemoteError):
    """A wrong PIN or PUK for a soft token (docs/spec/identity.md §3); ``tries_left`` field."""

    code = "InvalidPin"


class PinBlocked(PinError):
    """A PIN (or the PUK) with no tries left: the PUK unblocks a PIN; a blocked PUK is final."""

    code = "PinBlocked"


class UnknownMember(RemoteError):
    """A member, subsystem or gateway that the registry does not know."""

    code = "UnknownMember"


class UnknownClient(UnknownMember):
    """A gateway does not know a client or provider (``Server.ClientProxy.UnknownMember``)."""

    fault = "Server"
    http_status = 500


class DuplicateEntry(RemoteError):
    """Something that must be unique already exists."""

    code = "Duplicate"
    http_status = 409


class GlobalConfError(RemoteError):
    """A global configuration document we must not accept (research/xroad.md §3.5)."""

    fault = "Server"
    code = "MalformedGlobalConf"
    http_status = 500


class GlobalConfSignatureError(GlobalConfError):
    """No valid signature by a trusted configuration key."""

    code = "InvalidGlobalConfSignature"


class GlobalConfRollback(GlobalConfError):
    """A version lower than the last one accepted (a rollback or freeze attack)."""

    code = "GlobalConfRollback"


class GlobalConfExpired(GlobalConfError):
    """The document's validity has passed; gateways fail closed."""

    code = "OutdatedGlobalConf"


class InternalError(LocalError):
    """A bug on our side; answered as ``Server.…InternalError``, logged with its traceback."""


class ConfigurationError(LocalError):
    """The instance folder, a setting or a command-line argument is wrong."""

    code = "ConfigurationError"


class NotFound(LocalError):
    """A record that was asked for by id does not exist."""

    code = "NotFound"
    http_status = 404
    fault = "Client"


class InvalidStateTransition(LocalError):
    """A workflow step that the current state does not allow."""

    code = "InvalidState"
    http_status = 409
    fault = "Client"


class KeyFileError(LocalError):
    """A key file that cannot be read, decrypted or written safely."""

    code = "KeyFileError"


class StorageError(LocalError):
    """The database refused or failed an operation."""

    code = "DatabaseError"


class TransportError(SildError):
    """A peer could not be reached or answered at the transport level."""

    code = "NetworkError"


class PeerUnreachable(TransportError):
    """No connection could be made to a peer: nothing was sent, another may be tried."""

    code = "PeerUnreachable"


class ServiceUnavailable(SildError):
    """This gateway refuses traffic on purpose (maintenance mode, logging stopped)."""

    code = "MaintenanceMode"
    http_status = 503


class Overloaded(ServiceUnavailable):
    """The gateway side has its global in-flight bound of requests: shed, not queued
    (docs/spec/exchange.md §8). ``retry_after`` seconds are advised in ``Retry-After``."""

    code = "Overloaded"

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after


class TooManyRequests(SildError):
    """One caller (an IS's client subsystem, or a peer gateway) is past its own
    concurrency or rate limit; other callers keep their service (docs/spec/exchange.md §8).
    Not the caller's input at fault, so a ``Server.*`` code, as X-Road's own
    ``Server.ClientProxy.*`` refusals; HTTP 429 with ``Retry-After``."""

    code = "TooManyRequests"
    http_status = 429

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after


class RequestTimeout(RemoteError):
    """A request's head or body did not arrive in time (slow or stalled sender)."""

    code = "RequestTimeout"
    http_status = 408


class RelayedError(SildError):
    """An X-Road error that another gateway answered, passed on to our caller as it was.

    The code is the other gateway's (normalised to CamelCase, :func:`normalise_code`);
    ``status`` its HTTP status and ``detail`` its error id, so operators of both
    gateways can find the same failure in their logs.
    """

    def __init__(self, code: str, message: str, *, status: int, detail: str = "") -> None:
        super().__init__(message, code=code, status=status, detail=detail)
        self.relayed_code = code
        self.status = status
        self.detail = detail

    @property
    def xroad_code(self) -> str:
        return self.relayed_code


# -- the ledger's pure core: proofs, notes, checkpoints, tiles (RFC 9162, C2SP) --


class ProofError(RemoteError):
    """A Merkle inclusion or consistency proof that does not verify (RFC 9162 §2.1.3, §2.1.4).

    ``InvalidHashChain`` is the name KSI gives the same failure.
    """

    code = "InvalidHashChain"


class LedgerFormatError(InvalidRequest):
    """Bytes that do not follow a ledger format (signed note, checkpoint, tile, tlog-proof)."""

    code = "InvalidLedgerFormat"


class HashAlgorithmError(RemoteError):
    """An imprint with an unknown, retired, deprecated or wrongly sized hash algorithm."""

    code = "InvalidHashAlgorithm"


class NoteSignatureError(SignatureError):
    """A signed note with a bad signature from a known key, or none from a trusted key."""

    code = "InvalidNoteSignature"


# -- gateway: message log, service configuration, anchoring --


class LoggingFailed(StorageError):
    """A log record could not be made durable; the exchange fails (X-Road §3.4).

    X-Road answers ``Server.ClientProxy.LoggingFailed`` (consumer side) or
    ``Server.ServerProxy.LoggingFailed`` (provider side) when the message log refuses.
    """

    code = "LoggingFailed"


class ArchiveInvalid(InvalidRequest):
    """An archive file whose bytes do not match its signed manifest."""

    code = "InvalidArchive"


class InvalidContainer(InvalidRequest):
    """A signed-document container (ASiC-E) that is not well formed: not a zip, no
    stored ``mimetype`` first, unsafe or duplicate names, too large (docs/spec/documents.md §2)."""

    code = "InvalidContainer"


class SnapshotInvalid(InvalidRequest):
    """A data-embassy snapshot that is unsigned, signed by an untrusted key, incomplete
    or altered (docs/operations.md, "Data embassy"); refused before anything is written."""

    code = "InvalidSnapshot"


class UnknownService(RemoteError):
    """No such service on this gateway: ``Server.ServerProxy.UnknownService`` on the wire."""

    fault = "Server"
    code = "UnknownService"
    http_status = 500


class ServiceDisabled(LocalError):
    """The provider switched the service off; the message carries the notice."""

    code = "ServiceDisabled"


class InvalidServiceType(RemoteError):
    """``getOpenAPI`` for a service that has no OpenAPI description (X-Road ``ServiceType``)."""

    code = "ServiceType"


class TimestampingFailed(ServiceUnavailable):
    """Records have waited too long for their ledger receipt; traffic stops (§4.3).

    X-Road: ``Server.ClientProxy.TimestampingFailed`` once time-stamping has failed for
    longer than ``acceptable-timestamp-failure-period``.
    """

    code = "TimestampingFailed"


# -- ledger service and witness (C2SP tlog-witness) --


class RoundFull(ServiceUnavailable):
    """The open round holds ``max_round`` hashes; retry in the next round."""

    code = "RoundFull"


class QuotaExceeded(ServiceUnavailable):
    """A ledger submitter is over its rate or its share of the round (docs/spec/ledger.md
    §8.1): answered 429 with ``Retry-After`` (field ``retry_after``, seconds)."""

    code = "QuotaExceeded"
    http_status = 429


class BatchTooLarge(InvalidRequest):
    """More imprints (or bytes) in one request than the ledger's limits allow."""

    code = "BatchTooLarge"

    http_status = 413


class InvalidWebhookUrl(InvalidRequest):
    """A notification subscription's webhook URL is not a plain http(s) URL to a public
    address (docs/spec/notify.md §3.1)."""

    code = "InvalidWebhookUrl"


class NotWriter(ServiceUnavailable):
    """This ledger process is a standby (or was deposed): only the writer accepts hashes."""

    code = "NotWriter"


class WitnessConflict(RemoteError):
    """tlog-witness 409: ``old`` is not the size this witness last cosigned."""

    code = "WitnessConflict"
    http_status = 409

    def __init__(self, message: str, *, size: int) -> None:
        super().__init__(message, size=size)
        self.size = size


class InconsistentCheckpoint(ProofError):
    """tlog-witness 422: the consistency proof does not verify."""

    code = "InconsistentCheckpoint"

    http_status = 422


class UnknownLog(NotFound):
    """tlog-witness 404: the checkpoint's origin is not a log this witness follows."""

    code = "UnknownLog"


class BadLogSignature(SignatureError):
    """tlog-witness 403: the checkpoint is not signed by the log's key."""

    code = "InvalidLogSignature"

    http_status = 403


_LOWER_COMPONENTS = {"clientproxy": "ClientProxy", "serverproxy": "ServerProxy"}


def normalise_code(code: str) -> str:
    """An X-Road error code in the documented CamelCase form.

    X-Road 7.8 changed the spelling to lower snake case (``server.serverproxy.access_denied``,
    research/xroad.md §0.1); parsers must accept both. Already CamelCase codes come back
    unchanged; unknown words are CamelCased part by part.
    """
    parts = code.strip().split(".")
    if not parts or not parts[0] or parts[0][0].isupper():
        return code.strip()
    out = []
    for part in parts:
        low = part.lower()
        if low in _LOWER_COMPONENTS:
            out.append(_LOWER_COMPONENTS[low])
        else:
            out.append("".join(w[:1].upper() + w[1:] for w in part.split("_")))
    return ".".join(out)


def xroad_code_at(error: SildError, component: str) -> str:
    """The code as a gateway component reports it (X-Road ``translateWithPrefix``).

    ``component`` is ``"ClientProxy"`` or ``"ServerProxy"``. ``Server.X`` becomes
    ``Server.<component>.X``; codes that already carry a component, and ``Client.*``
    codes, are unchanged.
    """
    code = error.xroad_code
    if code.startswith("Server.") and not code.startswith(("Server.ClientProxy.",
                                                            "Server.ServerProxy.")):
        return f"Server.{component}.{code[len('Server.'):]}"
    return code


# -- consent service (docs/spec/consent.md) --


class InvalidDataCategory(InvalidRequest):
    """A data category that is not ``[a-z0-9-]{1,32}`` (docs/spec/consent.md §1)."""

    code = "InvalidDataCategory"


class ConsentInvalid(RemoteError):
    """A consent artefact that verifies but cannot be used: expired, not yet valid,
    revoked, paused, or issued to another consumer (docs/spec/consent.md §3)."""

    code = "InvalidConsent"


class ConsentUnavailable(TransportError):
    """No consent decision could be had: the consent service is unreachable, timed out or
    failed, and no cached decision is fresh. Callers fail closed (docs/spec/consent.md §5)."""

    code = "ConsentUnavailable"


class ConsentAnswerInvalid(ConsentUnavailable):
    """The consent service answered something that is not a decision (fail closed)."""

    code = "InvalidConsentAnswer"


# -- WSDL-described SOAP services (docs/spec/wsdl.md) --


class InvalidWsdl(InvalidRequest):
    """A WSDL that is not XML, has a DTD, is not WSDL 1.1 document/literal or registers
    nothing (X-Road ``InvalidWsdl``; docs/spec/wsdl.md §2)."""

    code = "InvalidWsdl"


class WsdlDownloadFailed(TransportError):
    """The WSDL's URL could not be read: unreachable, not 200, too slow or too large
    (X-Road ``WsdlDownloadFailed``; docs/spec/wsdl.md §2)."""

    code = "WsdlDownloadFailed"


# -- SOAP: X-Road message protocol 4.0 (docs/spec/soap.md; research/xroad.md §2.4) --


class SoapError(RemoteError):
    """A SOAP request the consumer's IS got wrong; answered as a SOAP fault (HTTP 200)."""

    code = "InvalidSoap"


class SoapInvalidContentType(SoapError):
    """Not ``text/xml``, ``multipart/related`` or MTOM (PR-MESS §4)."""

    code = "InvalidContentType"


class SoapInvalidHttpMethod(SoapError):
    """Anything but POST on the SOAP endpoint (X-Road ``Client.InvalidHttpMethod``)."""

    code = "InvalidHttpMethod"


class SoapMimeParsingFailed(SoapError):
    """A multipart message whose boundary or parts cannot be read."""

    code = "MimeParsingFailed"


class SoapMissingHeaderField(SoapError):
    """A mandatory X-Road header field (client, service, id, protocolVersion) is absent."""

    code = "MissingHeaderField"


class SoapDuplicateHeaderField(SoapError):
    """An X-Road header field appears more than once."""

    code = "DuplicateHeaderField"


class SoapMissingBody(SoapError):
    """The envelope has no Body, or the Body no element."""

    code = "MissingBody"


class SoapInconsistentHeaders(SoapError):
    """The body's wrapper element is not the service code (PR-MESS §2.3)."""

    code = "InconsistentHeaders"


class SoapInvalidProtocolVersion(SoapError):
    """``protocolVersion`` other than 4.0."""

    code = "InvalidProtocolVersion"


class SoapInconsistentResponse(LocalError):
    """The provider IS answered a SOAP message that does not match the request
    (X-Road ``Server.ServerProxy.InconsistentResponse``) or a requestHash that is wrong."""

    code = "InconsistentResponse"


# -- once-only e-services (docs/spec/eservices.md) --


class NoRepresentation(RemoteError):
    """The acting person may not act for the person asked about: the population register
    does not list them as the person's parent (docs/spec/eservices.md §2)."""

    code = "EServiceNoRepresentation"
    http_status = 403


class EServiceRefused(RemoteError):
    """A business rule of an e-service refused the request: a founder under 18, a return
    already filed, nothing to prefill (docs/spec/eservices.md §2)."""

    code = "EServiceRefused"
    http_status = 409
