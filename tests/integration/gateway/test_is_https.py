"""An HTTPS IS port: only information systems with a certificate registered for their
X-Road-Client may use the gateway (X-Road connection type HTTPS)."""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sild.cli import main
from sild.core.access import parse_subject
from sild.localnet import LocalNet
from sild.testing.exchange import CLIENT, CONSUMER, ECHO, PROVIDER, error_type
from sild.testing.netthread import NetThread


def self_signed(folder: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=1)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    (folder / f"{name}.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (folder / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return folder / f"{name}.pem", folder / f"{name}.key"


def get(url: str, client_cert: tuple[Path, Path] | None) -> tuple[int, bytes]:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the test checks the IS side, not the server's name
    if client_cert:
        ctx.load_cert_chain(*map(str, client_cert))

    async def go() -> tuple[int, bytes]:
        async with aiohttp.ClientSession() as s, s.get(
                url, ssl=ctx, headers={"X-Road-Client": str(CLIENT)}) as r:
            return r.status, await r.read()

    return asyncio.run(go())


def test_https_is_port_checks_registered_client_certificates(tmp_path: Path) -> None:
    """Registered certificate → 200; none or another → SslAuthenticationFailed."""
    net = LocalNet.create(tmp_path / "net", [PROVIDER, CONSUMER], instance_id="EE")
    settings = dataclasses.replace(net.gateway_settings[CONSUMER.server], is_tls=True)
    settings.write()
    net.gateway_settings[CONSUMER.server] = settings
    good = self_signed(tmp_path, "his-system")
    other = self_signed(tmp_path, "stranger")
    assert main(["gateway", "is-client", "add", str(CLIENT), str(good[0]),
                 "--dir", str(settings.root)]) == 0
    with NetThread(net):
        sc = net.stores[PROVIDER.server].serverconf
        sc.add_service(ECHO.subsystem, "echo", net.is_url + "/echo", timeout=5)
        sc.grant(ECHO, parse_subject(str(CLIENT)))
        url = f"https://{settings.is_listen}/r1/{ECHO.path()}"
        assert get(url, good)[0] == 200
        status, body = get(url, None)
        assert (status, error_type(body)) == (500, "Server.ClientProxy.SslAuthenticationFailed")
        assert b"did not supply TLS certificate" in body
        with pytest.raises(aiohttp.ClientError):
            get(url, other)  # an unregistered certificate fails the TLS handshake
