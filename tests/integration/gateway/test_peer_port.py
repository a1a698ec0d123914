"""The inter-gateway port under attack: foreign or unregistered certificates, garbage,
forged, tampered and replayed envelopes. Each gets its error; none hangs or crashes."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import uuid
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from sild.ca import CertificateAuthority
from sild.clock import utc_now
from sild.core.envelope import RequestHeader, body_digest
from sild.core.frame import CONTENT_TYPE as FRAME_TYPE
from sild.core.frame import encode_frame, parse_frame
from sild.crypto.certs import CertPurpose, build_csr, cert_pem
from sild.crypto.keys import KeyType, generate_key, save_private_key
from sild.crypto.tls import client_context
from sild.gateway.exchange.transports import MESSAGE_PATH
from sild.gateway.signer import SignKeys
from sild.testing.exchange import CLIENT, CONSUMER, ECHO, PROVIDER, Net, call, error_type


def _header(**changes: object) -> RequestHeader:
    body = b'{"hello": 1}'
    h = RequestHeader(
        protocol="rest", client=CLIENT, service=ECHO, consumer=CONSUMER.server,
        message_id="EE-test", request_id=str(uuid.uuid4()), time=utc_now(), method="POST",
        path="/x", query="", headers=(("content-type", "application/json"),),
        body_digest=body_digest(body), body_length=len(body))
    return replace(h, **changes)  # type: ignore[arg-type]


def _envelope(net: Net, header: RequestHeader) -> dict[str, bytes]:
    """The parts of a frame, signed with the consumer gateway's member key."""
    keys = SignKeys.load(net.settings(CONSUMER).sign_dir)
    signer = keys.for_member(CONSUMER.member)
    assert signer is not None
    enc = header.encode()
    sig = signer.sign(RequestHeader.signed_bytes(enc))
    return {"header": enc, "signature": sig, "certificate": signer.certificate_der}


def _tls(net: Net, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    s = net.settings(CONSUMER)
    ca = net.net.instance.ca_dir / "ca.pem"
    return client_context(cert or s.auth_cert_path, key or s.auth_key_path, password=None,
                          ca_pems=[ca.read_text()])


def post(net: Net, parts: dict[str, bytes], body: bytes = b'{"hello": 1}',
         tls: ssl.SSLContext | None = None,
         raw: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    url = f"https://{net.settings(PROVIDER).peer_listen}{MESSAGE_PATH}"
    data = raw if raw is not None else encode_frame(
        parts.get("header", b""), parts.get("signature", b""), parts.get("certificate", b""),
        body)

    async def go() -> tuple[int, dict[str, str], bytes]:
        async with aiohttp.ClientSession() as session, session.post(
                url, data=data, headers={"Content-Type": FRAME_TYPE}, ssl=tls or _tls(net),
                timeout=aiohttp.ClientTimeout(total=10)) as resp:
            return resp.status, dict(resp.headers), await resp.read()

    return asyncio.run(go())


def test_forged_but_valid_envelope_is_served(net: Net) -> None:
    """Sanity: a correctly signed envelope from the registered gateway gets a signed answer."""
    status, headers, body = post(net, _envelope(net, _header()))
    assert status == 200
    assert headers["Content-Type"] == FRAME_TYPE
    assert parse_frame(body).signature


def test_tampered_body(net: Net) -> None:
    """A body that does not match the signed digest is refused."""
    status, _, body = post(net, _envelope(net, _header()), body=b'{"hello": 2}')
    assert (status, error_type(body)) == (400, "Client.InvalidSignatureValue")


def test_bad_signature(net: Net) -> None:
    """A signature over other bytes does not verify."""
    env = _envelope(net, _header())
    other = _envelope(net, _header(path="/other"))
    env["signature"] = other["signature"]
    status, _, body = post(net, env)
    assert (status, error_type(body)) == (400, "Client.InvalidSignatureValue")


@pytest.mark.parametrize("missing", ["header", "signature", "certificate"])
def test_missing_envelope_parts(net: Net, missing: str) -> None:
    """A frame without its header, signature or certificate is refused."""
    env = _envelope(net, _header())
    del env[missing]
    status, _, body = post(net, env)
    assert (status, error_type(body)) == (400, "Client.MissingHeader")


@pytest.mark.parametrize("raw", [b"", b"garbage", b"SILD\x01\x00\x00\x00\x02{}\x00\x01s\x00\x01c",
                                 b"SILD\x01\x00\x01\x00\x00" + b"x" * 70_000])
def test_garbage_frames(net: Net, raw: bytes) -> None:
    """Bytes that are not a well-formed, canonical frame are an InvalidMessage."""
    status, _, body = post(net, {}, raw=raw)
    assert (status, error_type(body)) == (400, "Client.InvalidMessage")


def test_replayed_envelope(net: Net) -> None:
    """The same signed request sent twice is refused the second time."""
    env = _envelope(net, _header())
    assert post(net, env)[0] == 200
    status, _, body = post(net, env)
    assert (status, error_type(body)) == (400, "Client.InvalidMessage")
    assert "replay" in json.loads(body)["message"]


def test_stale_envelope(net: Net) -> None:
    """A request signed outside the freshness window is refused."""
    from datetime import timedelta

    old = _header(time=utc_now() - timedelta(hours=1))
    status, _, body = post(net, _envelope(net, old))
    assert (status, error_type(body)) == (400, "Client.InvalidMessage")


def test_envelope_naming_another_consumer(net: Net) -> None:
    """The envelope's consumer must be the TLS peer."""
    status, _, body = post(net, _envelope(net, _header(consumer=PROVIDER.server)))
    assert (status, error_type(body)) == (400, "Client.InvalidMessage")


def test_signer_of_another_member(net: Net) -> None:
    """A client of another member cannot be signed with this member's key."""
    from sild.core.identifiers import SubsystemId

    status, _, body = post(net, _envelope(net, _header(
        client=SubsystemId(PROVIDER.member, "rr"))))
    assert (status, error_type(body)) == (400, "Client.CertValidation")


def test_unregistered_auth_certificate(net: Net, tmp_path: Path) -> None:
    """A certificate from the approved CA that is not a registered gateway's is refused."""
    ca = CertificateAuthority.load(net.net.instance.ca_dir)
    key = generate_key(KeyType.P256)
    cert = ca.issue(build_csr(key, "x"), purpose=CertPurpose.AUTH, identity="EE/COM/10000001/gwX",
                    address="127.0.0.1", at=utc_now())
    save_private_key(tmp_path / "k", key)
    (tmp_path / "c").write_text(cert_pem(cert))
    status, _, body = post(net, _envelope(net, _header()), tls=_tls(net, tmp_path / "c",
                                                                   tmp_path / "k"))
    assert (status, error_type(body)) == (500, "Server.ServerProxy.SslAuthenticationFailed")


def test_client_certificate_from_foreign_ca(net: Net, tmp_path: Path) -> None:
    """A client certificate from a CA that global configuration does not approve fails TLS."""
    rogue = CertificateAuthority.create(tmp_path / "rogue", name="Rogue", at=utc_now())
    key = generate_key(KeyType.P256)
    cert = rogue.issue(build_csr(key, "x"), purpose=CertPurpose.AUTH,
                       identity=str(CONSUMER.server), address="127.0.0.1", at=utc_now())
    save_private_key(tmp_path / "k", key)
    (tmp_path / "c").write_text(cert_pem(cert))
    with pytest.raises((aiohttp.ClientError, ssl.SSLError, ConnectionError)):
        post(net, _envelope(net, _header()), tls=_tls(net, tmp_path / "c", tmp_path / "k"))
    assert post(net, _envelope(net, _header()))[0] == 200  # the port still serves


def test_no_client_certificate(net: Net) -> None:
    """TLS without a client certificate is refused at the handshake."""
    ctx = ssl.create_default_context(cafile=str(net.net.instance.ca_dir / "ca.pem"))
    ctx.check_hostname = False
    with pytest.raises((aiohttp.ClientError, ssl.SSLError, ConnectionError)):
        post(net, _envelope(net, _header()), tls=ctx)


@pytest.mark.parametrize("payload", [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x00" * 64,
                                     b"\x16\x03\x01\x00\x05hello"])
def test_plain_http_or_garbage_on_peer_port(net: Net, payload: bytes) -> None:
    """Plain HTTP or garbage on the TLS port is dropped quickly; the port keeps serving."""
    host, port = net.settings(PROVIDER).peer_listen.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(payload)
        sock.settimeout(5)
        try:
            data = sock.recv(1024)
        except (ConnectionResetError, TimeoutError):
            data = b""
    assert not data.startswith(b"HTTP/1.1 200")
    assert post(net, _envelope(net, _header()))[0] == 200


def test_consumer_refuses_provider_with_unexpected_certificate(net: Net) -> None:
    """If the provider's address answers with an unregistered certificate, the consumer refuses."""
    gw = net.net.gateways[CONSUMER.server]
    view = gw.ctx.trust()
    original = dict(view.gateways_by_fingerprint)
    provider_fp = next(fp for fp, g in original.items() if g.id == PROVIDER.server)
    del view.gateways_by_fingerprint[provider_fp]
    try:
        gw.peer_pool.renew()  # force a new connection
        status, _, body = call(f"{net.consumer_url()}/r1/{ECHO.path()}",
                               headers={"X-Road-Client": str(CLIENT)})
        assert (status, error_type(body)) == (500, "Server.ClientProxy.SslAuthenticationFailed")
    finally:
        view.gateways_by_fingerprint.update(original)


@pytest.mark.parametrize(("revoked", "code"), [
    ("consumer", "Server.ServerProxy.SslAuthenticationFailed"),
    ("provider", "Server.ClientProxy.SslAuthenticationFailed"),
])
def test_revoked_auth_certificate_is_refused_after_refresh(tmp_path: Path, revoked: str,
                                                           code: str) -> None:
    """Revoking either gateway's auth certificate stops traffic within one refresh."""
    import time as _time

    from sild.crypto.certs import fingerprint, load_certificate, serial_hex
    from sild.localnet import LocalNet
    from sild.registry.service import Registry
    from sild.store import make_engine
    from sild.testing.exchange import grant
    from sild.testing.netthread import NetThread

    # Its own network: gateways refresh global configuration every second.
    access: dict[str, object] = {}

    def access_factory(s: object, _url: str) -> object:
        from sild.testing.gateway_doubles import MemoryAccess

        access[s.server.server_code] = MemoryAccess()  # type: ignore[attr-defined]
        return access[s.server.server_code]  # type: ignore[attr-defined]

    from sild.testing.gateway_doubles import MemoryLog

    net = LocalNet.create(tmp_path / "net", [PROVIDER, CONSUMER], instance_id="EE",
                          log_factory=lambda s: MemoryLog(),
                          access_factory=access_factory,  # type: ignore[arg-type]
                          expire_seconds=30, refresh_interval=1)
    with NetThread(net) as t:
        n = Net(t, net, {}, access)  # type: ignore[arg-type]
        grant(n, ECHO, "/echo")
        url = f"{n.consumer_url()}/r1/{ECHO.path()}"
        assert call(url, headers={"X-Road-Client": str(CLIENT)})[0] == 200
        side = CONSUMER if revoked == "consumer" else PROVIDER
        cert = load_certificate(net.gateway_settings[side.server].auth_cert_path.read_bytes())
        engine = make_engine(net.instance.database_url)
        ca = load_certificate((net.instance.ca_dir / "ca.pem").read_bytes())
        Registry(engine, "EE").revoke(fingerprint(ca), serial_hex(cert), reason="test")
        engine.dispose()
        _time.sleep(3)  # the registry re-signs at once; gateways refresh every second
        status, _, body = call(url, headers={"X-Road-Client": str(CLIENT)})
        assert (status, error_type(body)) == (500, code)
