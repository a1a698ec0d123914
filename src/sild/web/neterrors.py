"""Network failures in words, for one-line CLI errors and logs (never a Python repr).

Duck-typed on the exceptions' attributes, so importing it pulls in no HTTP library
(``sild``'s parser start-up, tests/unit/cli/test_startup.py).
"""

from __future__ import annotations

import errno
import socket

__all__ = ["describe_network_error"]

_ERRNO = {
    errno.ECONNREFUSED: "connection refused (is the service running on that port?)",
    errno.ECONNRESET: "connection reset by the server",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
    errno.ETIMEDOUT: "connection timed out",
    errno.EADDRNOTAVAIL: "address not available",
}


def describe_network_error(e: BaseException) -> str:
    """``e`` (an OSError, a timeout or an aiohttp client error) as a short phrase."""
    if isinstance(e, TimeoutError):
        return "no answer in time (timed out)"
    name = type(e).__name__
    if name == "InvalidURL" or name == "InvalidUrlClientError":
        return f"not a valid URL: {e}"
    if name == "ServerDisconnectedError":
        return "the server closed the connection without answering"
    if name == "ClientPayloadError":
        return "the server's answer was cut off"
    os_err = getattr(e, "os_error", None)
    if not isinstance(os_err, OSError) and isinstance(e, OSError):
        os_err = e
    if isinstance(os_err, socket.gaierror):
        return "host name not found"
    if isinstance(os_err, OSError):
        if os_err.errno in _ERRNO:
            return _ERRNO[os_err.errno]
        if isinstance(os_err, ConnectionRefusedError):
            return _ERRNO[errno.ECONNREFUSED]
        if os_err.strerror:
            return os_err.strerror.lower()
    if "ssl" in name.lower() or "certificate" in name.lower():
        return f"TLS handshake failed: {getattr(e, 'reason', None) or e}"
    text = str(e).strip()
    return text if text else name
