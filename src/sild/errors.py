"""One exception tree for all of Sild, split by who is at fault.

::

    SildError                       code, message, fields; never shown as a traceback
    ├── RemoteError                 the other side sent something wrong  ("Client.*" → 400)
    │   ├── InvalidIdentifier       Client.InvalidClientIdentifier
    │   ├── InvalidRequest          Client.InvalidRequest
    │   ├── CertificateError        Client.CertValidation
    │   │   └── CertificateRevoked  Client.CertValidation
    │   ├── SignatureError          Client.InvalidSignatureValue
    │   ├── UnknownMember           Client.UnknownMember
    │   ├── DuplicateEntry          Client.Duplicate
    │   └── GlobalConfError         Server.MalformedGlobalConf  (a registry sent a bad document)
    │       ├── GlobalConfSignatureError
    │       ├── GlobalConfRollback
    │       └── GlobalConfExpired   Server.OutdatedGlobalConf
    ├── LocalError                  our own state or the operator's input  ("Server.*" → 500)
    │   ├── ConfigurationError      Server.InternalError  (bad instance folder, bad CLI input)
    │   ├── NotFound                Server.NotFound
    │   ├── InvalidStateTransition  Server.InvalidState
    │   ├── KeyFileError            Server.InternalError
    │   └── StorageError            Server.DatabaseError
    └── TransportError              Server.NetworkError   (could not reach a peer)

Every error maps to exactly one X-Road-style code (research/xroad.md §2.4). Foreign
exceptions are wrapped with ``raise ... from e`` at the boundary.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "CertificateError",
    "CertificateRevoked",
    "ConfigurationError",
    "DuplicateEntry",
    "GlobalConfError",
    "GlobalConfExpired",
    "GlobalConfRollback",
    "GlobalConfSignatureError",
    "InvalidIdentifier",
    "InvalidRequest",
    "InvalidStateTransition",
    "KeyFileError",
    "LocalError",
    "NotFound",
    "RemoteError",
    "SignatureError",
    "SildError",
    "StorageError",
    "TransportError",
    "UnknownMember",
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


class InvalidRequest(RemoteError):
    """A request body or file that does not follow its format."""

    code = "InvalidRequest"


class CertificateError(RemoteError):
    """A certificate that does not chain, has the wrong usage or is expired."""

    code = "CertValidation"


class CertificateRevoked(CertificateError):
    """A certificate that its CA has revoked."""


class SignatureError(RemoteError):
    """A signature that does not verify or is missing."""

    code = "InvalidSignatureValue"


class UnknownMember(RemoteError):
    """A member, subsystem or gateway that the registry does not know."""

    code = "UnknownMember"


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
