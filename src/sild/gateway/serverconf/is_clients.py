"""Which information systems may act for which client (X-Road's IS connection types).

With ``is_tls = false`` the IS port is plain HTTP and any caller on its network may
use the gateway's clients (X-Road connection type HTTP). With ``is_tls = true`` the
port is HTTPS and a caller must present a client certificate registered for the
``X-Road-Client`` it names (X-Road connection type HTTPS, the default there; ug-ss
§9.1). IS certificates are usually self-signed; each registered certificate is
trusted on its own, and the check is by SHA-256 fingerprint.

Files: ``GWDIR/is-clients/<client with / as _>__<fingerprint>.pem``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sild.core.identifiers import ClientId, parse_client
from sild.crypto.certs import load_certificate
from sild.errors import ConfigurationError, NotFound

__all__ = ["add_is_client", "load_is_clients", "remove_is_client"]


def _stem(client: ClientId) -> str:
    return str(client).replace("/", "_")


def add_is_client(folder: Path, client: ClientId, certificate: x509.Certificate) -> str:
    """Register ``certificate`` for ``client``; returns its fingerprint."""
    der = certificate.public_bytes(serialization.Encoding.DER)
    fp = hashlib.sha256(der).hexdigest()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{_stem(client)}__{fp}.pem").write_bytes(
        certificate.public_bytes(serialization.Encoding.PEM))
    return fp


def remove_is_client(folder: Path, client: ClientId, fp: str) -> None:
    path = folder / f"{_stem(client)}__{fp}.pem"
    if not path.exists():
        raise NotFound(f"no IS certificate {fp[:16]}… registered for {client}")
    path.unlink()


def load_is_clients(folder: Path) -> tuple[Mapping[ClientId, frozenset[str]], list[str]]:
    """(client → registered fingerprints, the certificates' PEM to trust in TLS)."""
    clients: dict[ClientId, set[str]] = {}
    pems: list[str] = []
    for path in sorted(folder.glob("*.pem")) if folder.exists() else []:
        stem, sep, fp = path.stem.rpartition("__")
        if not sep:
            raise ConfigurationError(f"unexpected file in {folder}: {path.name}")
        cert = load_certificate(path.read_bytes())
        der = cert.public_bytes(serialization.Encoding.DER)
        if hashlib.sha256(der).hexdigest() != fp:
            raise ConfigurationError(f"{path} does not hold the certificate its name says")
        clients.setdefault(parse_client(stem.replace("_", "/")), set()).add(fp)
        pems.append(path.read_text())
    return {c: frozenset(f) for c, f in clients.items()}, pems
