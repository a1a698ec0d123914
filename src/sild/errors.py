"""One exception tree for all of Sild, split by who is at fault.

::

    SildError                       code, message, fields; never shown as a traceback
    ├── RemoteError                 the other side sent something wrong  ("Client.*" → 400)
    │   ├── InvalidIdentifier       Client.InvalidClientIdentifier
    │   │   └── InvalidPersonalCode Client.InvalidPersonalCode
    │   ├── MissingHeader           Client.MissingHeader
    │   ├── InvalidMessage          Client.InvalidMessage  (stale or replayed envelope)
    │   ├── InvalidRequest          Client.InvalidRequest
    │   ├── CertificateError        Client.CertValidation
    │   │   └── CertificateRevoked  Client.CertValidation
    │   ├── SignatureError          Client.InvalidSignatureValue
    │   ├── PinError                Client.InvalidPin  (wrong PIN or PUK; tries left)
    │   │   └── PinBlocked          Client.PinBlocked  (no tries left; PUK needed)
    │   ├── UnknownMember           Client.UnknownMember
    │   │   └── UnknownClient       Server.UnknownMember  (as gateways report it)
    │   ├── DuplicateEntry          Client.Duplicate
    │   ├── AccessDenied            Server.AccessDenied
    │   ├── SslAuthenticationFailed Server.SslAuthenticationFailed
    │   └── GlobalConfError         Server.MalformedGlobalConf  (a registry sent a bad document)
    │       ├── GlobalConfSignatureError
    │       ├── GlobalConfRollback
    │       └── GlobalConfExpired   Server.OutdatedGlobalConf
    ├── LocalError                  our own state or the operator's input  ("Server.*" → 500)
    │   ├── InternalError           Server.InternalError  (a bug; traceback only in the log)
    │   ├── ConfigurationError      Server.InternalError  (bad instance folder, bad CLI input)
    │   ├── NotFound                Server.NotFound
    │   ├── InvalidStateTransition  Server.InvalidState
    │   ├── KeyFileError            Server.InternalError
    │   └── StorageError            Server.DatabaseError
    ├── ServiceUnavailable          Server.MaintenanceMode / Server.TimestampingFailed
    └── TransportError              Server.NetworkError   (could not reach a peer)

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
    "CertificateError",
    "CertificateRevoked",
    "ConfigurationError",
    "DuplicateEntry",
    "GlobalConfError",
    "GlobalConfExpired",
    "GlobalConfRollback",
    "GlobalConfSignatureError",
    "InternalError",
    "InvalidIdentifier",
    "InvalidMessage",
    "InvalidPersonalCode",
    "InvalidRequest",
    "InvalidStateTransition",
    "KeyFileError",
    "LocalError",
    "MissingHeader",
    "NotFound",
    "PinBlocked",
    "PinError",
    "RemoteError",
    "ServiceUnavailable",
    "SignatureError",
    "SildError",
    "SslAuthenticationFailed",
    "StorageError",
    "TransportError",
    "UnknownMember",
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


class CertificateError(RemoteError):
    """A certificate that does not chain, has the wrong usage or is expired."""

    code = "CertValidation"


class CertificateRevoked(CertificateError):
    """A certificate that its CA has revoked."""


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


class GlobalConfRollback(GlobalConfError):
    """A version lower than the last one accepted (a rollback or freeze attack)."""


class GlobalConfExpired(GlobalConfError):
    """The document's validity has passed; gateways fail closed."""

    code = "OutdatedGlobalConf"


class InternalError(LocalError):
    """A bug on our side; answered as ``Server.…InternalError``, logged with its traceback."""


class ConfigurationError(LocalError):
    """The instance folder, a setting or a command-line argument is wrong."""


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


class StorageError(LocalError):
    """The database refused or failed an operation."""

    code = "DatabaseError"


class TransportError(SildError):
    """A peer could not be reached or answered at the transport level."""

    code = "NetworkError"


class ServiceUnavailable(SildError):
    """This gateway refuses traffic on purpose (maintenance mode, logging stopped)."""

    code = "MaintenanceMode"
    http_status = 503


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
