"""Set up and run one gateway: ``sild gateway init`` and ``sild gateway serve``."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from sild.core.anchor import parse_anchor
from sild.core.identifiers import MemberId, ServerId
from sild.crypto.certs import (
    CertPurpose,
    cert_pem,
    check_usage,
    identity_of,
    load_certificate,
)
from sild.crypto.keys import load_private_key, save_private_key, write_private_file
from sild.errors import ConfigurationError, InvalidRequest
from sild.gateway.admin import create_admin_app
from sild.gateway.config import GATEWAY_FILE, GatewaySettings
from sild.gateway.runtime import Gateway
from sild.gateway.stores import GatewayStores

__all__ = ["add_sign_key", "init_gateway", "serve_gateway"]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise ConfigurationError(f"cannot read {path}: {e.strerror}") from e


def add_sign_key(settings: GatewaySettings, key_path: Path, cert_path: Path, *,
                 passphrase: bytes | None = None) -> MemberId:
    """Install a member's sign key and certificate (a member whose clients we host)."""
    cert = load_certificate(_read(cert_path))
    check_usage(cert, CertPurpose.SIGN)
    member = MemberId.parse(identity_of(cert))
    key = load_private_key(key_path, passphrase=passphrase)
    if key.public_key() != cert.public_key():
        raise InvalidRequest(f"{key_path} is not the key of {cert_path}")
    save_private_key(settings.sign_key_path(member), key, passphrase=passphrase)
    settings.sign_cert_path(member).write_text(cert_pem(cert))
    return member


def init_gateway(root: Path, *, server: ServerId, anchor: Path, auth_key: Path, auth_cert: Path,
                 sign_key: Path, sign_cert: Path, database_url: str | None = None,
                 is_listen: str = "127.0.0.1:8080", peer_listen: str = "127.0.0.1:5500",
                 admin_listen: str = "127.0.0.1:5566",
                 passphrase: bytes | None = None) -> GatewaySettings:
    """A gateway folder with its settings, anchor, keys and admin token."""
    if (root / GATEWAY_FILE).exists():
        raise ConfigurationError(f"{root} already holds a gateway")
    parse_anchor(_read(anchor))  # refuse a broken anchor before writing anything
    cert = load_certificate(_read(auth_cert))
    check_usage(cert, CertPurpose.AUTH)
    if identity_of(cert) != str(server):
        raise InvalidRequest(f"the auth certificate is for {identity_of(cert)}, not {server}")
    key = load_private_key(auth_key, passphrase=passphrase)
    if key.public_key() != cert.public_key():
        raise InvalidRequest(f"{auth_key} is not the key of {auth_cert}")
    created = not root.exists()
    try:
        settings = GatewaySettings(
            root=root.resolve(), server=server,
            database_url=database_url or f"sqlite:///{root.resolve()}/gateway.db",
            is_listen=is_listen, peer_listen=peer_listen, admin_listen=admin_listen)
        settings.validate()
        settings.write()
        shutil.copy(anchor, settings.anchor_path)
        save_private_key(settings.auth_key_path, key, passphrase=passphrase)
        settings.auth_cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        add_sign_key(settings, sign_key, sign_cert, passphrase=passphrase)
        write_private_file(root / "admin-token", secrets.token_urlsafe(32).encode() + b"\n")
        GatewayStores(settings).engine.dispose()  # creates the tables now
    except BaseException:
        if created:
            shutil.rmtree(root, ignore_errors=True)
        raise
    return settings


async def serve_gateway(settings: GatewaySettings, *, passphrase: bytes | None = None,
                        stop: asyncio.Event | None = None, process: int = 0,
                        processes: int = 1,
                        started: Callable[[], None] | None = None) -> None:
    """Run until ``stop`` is set (or SIGINT/SIGTERM when none is given).

    One of ``processes`` processes sharing the gateway's ports (SO_REUSEPORT); the
    first (``process`` 0) also serves the admin port and, on SQLite, anchors.
    ``started`` is called once the ports listen."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    token = _read(settings.root / "admin-token").decode().strip()
    stores = GatewayStores(settings)
    await stores.start()
    gateway = Gateway(settings, stores.log, stores.serverconf, passphrase=passphrase,
                      admin_app_factory=None if process else lambda gw: create_admin_app(
                          gw, stores.serverconf, token, stores.check_database),
                      reuse_port=processes > 1, anchoring_standby=process > 0)
    try:
        await gateway.start()
        if started is not None:
            started()
        await stop.wait()
    finally:
        await gateway.stop()
        await stores.close()
