"""sild.web.listen: new connections are accepted at a bounded rate, a batch per loop
iteration, from a deep kernel queue — on asyncio and on uvloop (the gateway's loop)."""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest
import uvloop
from cryptography.hazmat.primitives import serialization

from sild.core.identifiers import ServerId
from sild.crypto.keys import save_private_key
from sild.crypto.tls import client_context, server_context
from sild.testing.pki import TestPki
from sild.web.listen import ACCEPT_BATCH, KERNEL_BACKLOG, PacedServer, create_server

WAITING = 100  # more than one batch, far fewer than the kernel queue


def run(loop_kind: str, main: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    return uvloop.run(main()) if loop_kind == "uvloop" else asyncio.run(main())


loops = pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])


class _Echo(asyncio.Protocol):
    made = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        type(self).made += 1
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)  # type: ignore[attr-defined]


def _connect_many(port: int, n: int) -> list[socket.socket]:
    # The loop does not run while these connect: only the kernel's queue holds them.
    # A short queue would drop the SYNs past it and these would time out.
    return [socket.create_connection(("127.0.0.1", port), timeout=2) for _ in range(n)]


@loops
def test_each_iteration_accepts_at_most_one_batch(loop_kind: str) -> None:
    async def main() -> list[int]:
        _Echo.made = 0
        server = await create_server(_Echo, "127.0.0.1", 0)
        clients = _connect_many(server.sockets[0].getsockname()[1], WAITING)
        try:
            seen = []
            for _ in range(1000):
                await asyncio.sleep(0)  # one loop iteration
                seen.append(_Echo.made)
                if _Echo.made == WAITING:
                    break
            return seen
        finally:
            for c in clients:
                c.close()
            server.close()
            await server.wait_closed()

    assert ACCEPT_BATCH < WAITING < KERNEL_BACKLOG
    seen = run(loop_kind, main)
    assert seen[-1] == WAITING  # every queued connection was accepted in the end
    steps = [b - a for a, b in zip([0, *seen], seen, strict=False)]
    assert max(steps) <= ACCEPT_BATCH, steps


@loops
def test_the_accept_rate_is_bounded_and_the_queue_is_served_later(loop_kind: str) -> None:
    rate, burst = 100.0, 10.0

    async def main() -> tuple[int, float, int, int]:
        _Echo.made = 0
        server = await create_server(_Echo, "127.0.0.1", 0, rate=rate, burst=burst)
        loop = asyncio.get_running_loop()
        clients = _connect_many(server.sockets[0].getsockname()[1], WAITING)
        start = loop.time()
        try:
            await asyncio.sleep(0.2)
            early, elapsed = _Echo.made, loop.time() - start
            for _ in range(100):  # ~1 s more at 100/s; generous for a slow machine
                if _Echo.made == WAITING:
                    break
                await asyncio.sleep(0.05)
            return early, elapsed, _Echo.made, server.refused_for_rate
        finally:
            for c in clients:
                c.close()
            server.close()
            await server.wait_closed()

    early, elapsed, final, dry = run(loop_kind, main)
    # never more than the bucket plus what the rate gave since (a slow machine only
    # accepts fewer); the connections are not lost, they wait in the kernel's queue
    assert early <= burst + rate * elapsed + 1, (early, elapsed)
    assert early < WAITING
    assert final == WAITING
    assert dry > 0


@loops
def test_connections_work_and_close_frees_the_port(loop_kind: str) -> None:
    async def main() -> bytes:
        server = await create_server(_Echo, "127.0.0.1", 0, rate=1000, burst=1000)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"ping")
        got = await asyncio.wait_for(reader.readexactly(4), 5)
        writer.close()
        assert server.is_serving()
        server.close()
        await server.wait_closed()
        assert not server.is_serving()
        again = await create_server(_Echo, "127.0.0.1", port)  # the port is free again
        again.close()
        await again.wait_closed()
        return got

    assert run(loop_kind, main) == b"ping"


def _mutual_tls(folder: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """The gateway's own TLS contexts, with certificates from the test CA."""
    pki = TestPki.create(folder / "ca", at=datetime.now(UTC))
    ca_pem = pki.ca.certificate.public_bytes(serialization.Encoding.PEM).decode()
    paths = []
    for name in ("server", "client"):
        cred = pki.auth_credential(ServerId.parse(f"EE/GOV/1/{name}"))
        cert, key = folder / f"{name}.pem", folder / f"{name}.key"
        cert.write_bytes(cred.certificate.public_bytes(serialization.Encoding.PEM))
        save_private_key(key, cred.key)
        paths.append((cert, key))
    return (server_context(*paths[0], password=None, ca_pems=[ca_pem]),
            client_context(*paths[1], password=None, ca_pems=[ca_pem]))


@loops
def test_a_failed_tls_handshake_harms_nobody(loop_kind: str, tmp_path: Path) -> None:
    server_ctx, client_ctx = _mutual_tls(tmp_path)

    async def main() -> bytes:
        server = await create_server(_Echo, "127.0.0.1", 0, ssl=server_ctx,
                                     ssl_handshake_timeout=2)
        port = server.sockets[0].getsockname()[1]
        try:
            with socket.create_connection(("127.0.0.1", port)) as bad:
                bad.sendall(b"GET / HTTP/1.1\r\n\r\n")  # not a TLS ClientHello
                await asyncio.sleep(0.1)
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=client_ctx, server_hostname="127.0.0.1")
            writer.write(b"over tls")
            got = await asyncio.wait_for(reader.readexactly(8), 5)
            writer.close()
            return got
        finally:
            server.close()
            await server.wait_closed()

    assert run(loop_kind, main) == b"over tls"


class _Exhausted:
    """A listening socket whose accept fails with ``code`` (EMFILE: out of descriptors)."""

    def __init__(self, sock: socket.socket, code: int) -> None:
        self.sock = sock
        self.code = code
        self.calls = 0

    def fileno(self) -> int:
        return self.sock.fileno()

    def accept(self) -> tuple[socket.socket, Any]:
        self.calls += 1
        raise OSError(self.code, errno.errorcode.get(self.code, "error"))

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize("code", [errno.EMFILE, errno.ENFILE, errno.EPROTO])
def test_an_accept_error_pauses_accepting_instead_of_spinning(code: int) -> None:
    async def main() -> int:
        listening = socket.create_server(("127.0.0.1", 0))
        listening.setblocking(False)
        exhausted = _Exhausted(listening, code)
        server = PacedServer(_Echo, [exhausted], rate=0, burst=0)  # type: ignore[list-item]
        with socket.create_connection(listening.getsockname(), timeout=2):
            await asyncio.sleep(0.3)  # readable all along: a spinning loop calls often
        server.close()
        return exhausted.calls

    assert asyncio.run(main()) == 1  # once, then paused for a second


class _Holder(asyncio.Protocol):
    transports: ClassVar[list[asyncio.BaseTransport]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transports.append(transport)


@loops
def test_accepted_connections_have_tcp_nodelay(loop_kind: str) -> None:
    """Headers then body on a kept-alive connection must not wait for a delayed ACK."""
    async def main() -> int:
        _Holder.transports = []
        server = await create_server(_Holder, "127.0.0.1", 0, rate=100, burst=100)
        _, writer = await asyncio.open_connection("127.0.0.1",
                                                  server.sockets[0].getsockname()[1])
        for _ in range(100):
            if _Holder.transports:
                break
            await asyncio.sleep(0.01)
        sock = _Holder.transports[0].get_extra_info("socket")
        flag = int(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()
        server.close()
        await server.wait_closed()
        return flag

    assert run(loop_kind, main) != 0


def test_a_busy_port_is_an_os_error() -> None:
    async def main() -> None:
        first = await create_server(_Echo, "127.0.0.1", 0)
        try:
            with pytest.raises(OSError, match="in use"):
                await create_server(_Echo, "127.0.0.1", first.sockets[0].getsockname()[1])
        finally:
            first.close()

    asyncio.run(main())

