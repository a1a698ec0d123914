"""TLS contexts for the inter-gateway port (mutual TLS with auth certificates).

Both sides require a certificate that chains to a CA approved in global
configuration; on top of that the *application* checks the peer certificate's
SHA-256 fingerprint against the one registered for that gateway (ARCHITECTURE.md
§3: "must chain to an approved CA *and* match the fingerprint registered"). Host
names are therefore not checked: gateways are identified by their registered
certificate, and addresses may be IP literals (X-Road does the same, research/
xroad.md §3.1). TLS 1.2 is the minimum (X-Road uses TLSv1.2); TLS 1.3 is preferred.
"""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Iterable
from pathlib import Path

from sild.errors import ConfigurationError

__all__ = ["client_context", "peer_fingerprint", "server_context", "trust_cas"]


def _base(ctx: ssl.SSLContext, cert: Path, key: Path, password: bytes | None) -> ssl.SSLContext:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(str(cert), str(key), password=password)
    except (OSError, ssl.SSLError) as e:
        raise ConfigurationError(f"cannot load TLS certificate {cert} / key {key}: {e}") from e
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def trust_cas(ctx: ssl.SSLContext, ca_pems: Iterable[str]) -> None:
    """Add approved CA certificates to a context (removal is enforced by the app check)."""
    data = "\n".join(ca_pems)
    if data:
        ctx.load_verify_locations(cadata=data)


def server_context(cert: Path, key: Path, *, password: bytes | None,
                   ca_pems: Iterable[str]) -> ssl.SSLContext:
    """The provider side: our auth certificate, and a client certificate is required."""
    ctx = _base(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), cert, key, password)
    trust_cas(ctx, ca_pems)
    return ctx


def client_context(cert: Path, key: Path, *, password: bytes | None,
                   ca_pems: Iterable[str]) -> ssl.SSLContext:
    """The consumer side: our auth certificate as client certificate; chain verified."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False  # identity = registered fingerprint, checked by the caller
    _base(ctx, cert, key, password)
    trust_cas(ctx, ca_pems)
    return ctx


def peer_fingerprint(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> str | None:
    """SHA-256 of the peer's DER certificate, or None when there is none."""
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return hashlib.sha256(der).hexdigest() if der else None
