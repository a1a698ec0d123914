"""Fairness, load shedding and timeouts on real gateways (docs/spec/exchange.md §8;
ARCHITECTURE.md §8 "flood from one client"; issue 12).

One local network: registry, a provider and a consumer gateway over mutual TLS, the
sample IS. The consumer's ``[admission]``: every client 2 in flight, the ``vip`` client
10 (an override), the ``burst`` client 2 requests/s with a burst of 3, at most 6
requests in flight in all; the provider's: every peer gateway 5 in flight. Timeouts:
3 s for a request head, 1 s for a body.
"""

from __future__ import annotations

import dataclasses
import resource
import socket
import ssl
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from lxml import etree
from prometheus_client import generate_latest

from sild.core.identifiers import MemberId, SubsystemId
from sild.gateway.admission import AdmissionSettings, Quota
from sild.gateway.config import GatewayLimits, GatewaySettings
from sild.gateway.context import StaticTarget
from sild.localnet import GatewaySpec, LocalNet
from sild.testing.exchange import call, error_type
from sild.testing.gateway_doubles import MemoryAccess, MemoryLog
from sild.testing.netthread import NetThread
from sild.testing.servers import serve_asgi
from sild.testing.soap import ECHO_NS, SoapProvider
from sild.testing.soap_client import soap_request

PROVIDER = GatewaySpec(MemberId("EE", "GOV", "70000001"), "Register", "gw1", ("rr",))
CONSUMER = GatewaySpec(MemberId("EE", "COM", "10000001"), "Clinic", "gw2",
                       ("flood", "calm", "vip", "burst", "soapy"))
ECHO = PROVIDER.member.subsystem("rr").service("echo")
SLOW = PROVIDER.member.subsystem("rr").service("slow")
SOAP_ECHO = PROVIDER.member.subsystem("rr").service("soapecho")  # sild.testing.soap
FLOOD, CALM, VIP, BURST, SOAPY = (SubsystemId(CONSUMER.member, s)
                                  for s in CONSUMER.subsystems)
HEADER_TIMEOUT = 3.0


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNet]:
    access: dict[str, MemoryAccess] = {}

    def access_factory(s: GatewaySettings, is_url: str) -> MemoryAccess:
        access[s.server.server_code] = MemoryAccess()
        return access[s.server.server_code]

    limits = GatewayLimits(max_body=64 * 1024, peer_timeout=10.0,
                           header_timeout=HEADER_TIMEOUT, body_timeout=1.0)
    n = LocalNet.create(tmp_path_factory.mktemp("fair"), [PROVIDER, CONSUMER],
                        instance_id="EE", log_factory=lambda s: MemoryLog(),
                        access_factory=access_factory, limits=limits)
    consumer = n.gateway_settings[CONSUMER.server]
    n.gateway_settings[CONSUMER.server] = dataclasses.replace(consumer, admission=(
        AdmissionSettings(max_in_flight=6, client=Quota(concurrency=2),
                          clients={str(VIP): Quota(concurrency=10),
                                   str(BURST): Quota(concurrency=2, rate=2, burst=3),
                                   str(SOAPY): Quota(concurrency=2, rate=0.5, burst=2)})))
    provider = n.gateway_settings[PROVIDER.server]
    n.gateway_settings[PROVIDER.server] = dataclasses.replace(provider, admission=(
        AdmissionSettings(peer=Quota(concurrency=5))))
    with NetThread(n), serve_asgi(SoapProvider()) as soap_is:
        a = access["gw1"]
        a.services[ECHO] = StaticTarget(n.is_url + "/echo", 5.0)
        a.services[SLOW] = StaticTarget(n.is_url + "/slow", 5.0)
        a.services[SOAP_ECHO] = StaticTarget(soap_is + "/soap", 5.0)
        for service in (ECHO, SLOW, SOAP_ECHO):
            a.allowed[service] = {FLOOD, CALM, VIP, BURST, SOAPY}
        yield n


def url(n: LocalNet, service: object, tail: str = "") -> str:
    return f"{n.is_url_of(CONSUMER.server)}/r1/{service}{tail}"


def fetch(n: LocalNet, client: SubsystemId, *, slow: float = 0.0
          ) -> tuple[int, dict[str, str], bytes]:
    target = url(n, SLOW, f"?seconds={slow}") if slow else url(n, ECHO)
    return call(target, headers={"X-Road-Client": str(client)})


def together(n: LocalNet, client: SubsystemId, count: int, slow: float
             ) -> list[tuple[int, dict[str, str], bytes]]:
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: fetch(n, client, slow=slow), range(count)))


def metric(n: LocalNet, spec: GatewaySpec, text: str) -> float:
    page = generate_latest(n.gateways[spec.server].metrics.registry).decode()
    line = next(x for x in page.splitlines() if x.startswith(text))
    return float(line.rsplit(" ", 1)[1])


def test_flooding_client_gets_429_while_another_is_served(net: LocalNet) -> None:
    """Past its concurrency a client gets Server.ClientProxy.TooManyRequests (429,
    Retry-After) at once, while another client's requests succeed meanwhile."""
    before = metric(net, CONSUMER, 'sild_gateway_admission_refused_total{reason="concurrency"'
                                   ',side="consumer"}')
    with ThreadPoolExecutor(1) as pool:
        flood = pool.submit(together, net, FLOOD, 6, 1.5)
        time.sleep(0.5)  # the flood holds its two places now
        started = time.monotonic()
        status, _, body = fetch(net, CALM)
        calm_took = time.monotonic() - started
        results = flood.result()
    assert status == 200, body
    assert calm_took < 1.0
    statuses = sorted(r[0] for r in results)
    assert statuses == [200, 200, 429, 429, 429, 429]
    for code, headers, body in results:
        if code == 429:
            assert headers["x-road-error"] == "Server.ClientProxy.TooManyRequests"
            assert error_type(body) == "Server.ClientProxy.TooManyRequests"
            assert headers["retry-after"] == "1"
    after = metric(net, CONSUMER, 'sild_gateway_admission_refused_total{reason="concurrency"'
                                  ',side="consumer"}')
    assert after - before == 4


def test_rate_limit_refuses_past_the_burst_then_recovers(net: LocalNet) -> None:
    """The token bucket: burst 3 pass, the 4th gets 429 with Retry-After; half a second
    later (rate 2/s) one more passes."""
    statuses = [fetch(net, BURST)[0] for _ in range(3)]
    code, headers, body = fetch(net, BURST)
    assert statuses == [200, 200, 200]
    assert code == 429, body
    assert error_type(body) == "Server.ClientProxy.TooManyRequests"
    assert "rate" in headers["x-road-error"] or b"rate of 2" in body
    assert int(headers["retry-after"]) >= 1
    time.sleep(0.6)
    assert fetch(net, BURST)[0] == 200


def soap_fetch(n: LocalNet, client: SubsystemId) -> str:
    """An X-Road SOAP call of SOAP_ECHO as ``client``: its faultcode, "" for an answer."""
    body = soap_request(client, SOAP_ECHO,
                        f'<e:soapecho xmlns:e="{ECHO_NS}"><text>hi</text></e:soapecho>')
    status, _, answer = call(f"{n.is_url_of(CONSUMER.server)}/", method="POST", body=body,
                             headers={"Content-Type": "text/xml; charset=UTF-8",
                                      "SOAPAction": '""'})
    assert status == 200, answer  # X-Road answers SOAP faults with HTTP 200 too
    root = etree.fromstring(answer)
    if root.find(".//faultcode") is None:
        assert b"soapechoResponse" in answer, answer
        return ""
    return root.findtext(".//faultcode") or ""


def test_soap_clients_are_admitted_by_their_own_limits(net: LocalNet) -> None:
    """A SOAP request names its client only in the body; once its header is read, it
    holds that client's place (docs/spec/soap.md §2): the `soapy` client's bucket
    (burst 2, 0.5/s) refuses its third call with the X-Road fault, while another
    client's SOAP call goes through at once."""
    codes = [soap_fetch(net, SOAPY) for _ in range(3)]
    assert codes == ["", "", "Server.ClientProxy.TooManyRequests"]
    assert soap_fetch(net, CALM) == ""
    assert net.gateways[CONSUMER.server].client_gate.in_flight == 0  # every place given back


def test_per_client_override_and_per_peer_limit(net: LocalNet) -> None:
    """The vip override allows 10 in flight at the consumer; the provider's per-peer
    limit (5) refuses the sixth with Server.ServerProxy.TooManyRequests, relayed with
    its 429 and a Retry-After."""
    results = together(net, VIP, 6, 1.5)
    assert sorted(r[0] for r in results) == [200] * 5 + [429]
    _, headers, body = next(r for r in results if r[0] == 429)
    assert headers["x-road-error"] == "Server.ServerProxy.TooManyRequests"
    assert error_type(body) == "Server.ServerProxy.TooManyRequests"
    assert "retry-after" in headers
    assert metric(net, PROVIDER, 'sild_gateway_admission_refused_total{reason="concurrency"'
                                 ',side="provider"}') >= 1


def test_global_bound_sheds_with_503(net: LocalNet) -> None:
    """With 6 requests in flight (vip's, each waiting for its body) the consumer sheds:
    another client, under its own limit, gets Server.ClientProxy.Overloaded, 503 with
    Retry-After; once they are gone it is served again."""
    stalled = []
    try:
        for _ in range(6):
            s = socket.create_connection(_is_address(net), timeout=5)
            s.sendall((f"POST /r1/{ECHO} HTTP/1.1\r\nHost: x\r\nX-Road-Client: {VIP}\r\n"
                       "Content-Length: 10\r\n\r\n").encode())
            stalled.append(s)
        time.sleep(0.3)
        code, headers, body = fetch(net, CALM)
        for s in stalled:  # each is answered 408 once its body is late
            assert s.recv(4096).startswith(b"HTTP/1.1 408")
    finally:
        for s in stalled:
            s.close()
    assert code == 503, body
    assert headers["x-road-error"] == "Server.ClientProxy.Overloaded"
    assert error_type(body) == "Server.ClientProxy.Overloaded"
    assert headers["retry-after"] == "1"
    assert metric(net, CONSUMER, 'sild_gateway_admission_refused_total{reason="overloaded"'
                                 ',side="consumer"}') == 1
    assert fetch(net, CALM)[0] == 200


def _is_address(n: LocalNet) -> tuple[str, int]:
    host, port = n.gateway_settings[CONSUMER.server].is_listen.rsplit(":", 1)
    return host, int(port)


def test_refused_before_the_body_is_read(net: LocalNet) -> None:
    """A client at its limit is answered 429 on the request head alone: the gateway
    does not wait for a body it would refuse."""
    with ThreadPoolExecutor(1) as pool:
        flood = pool.submit(together, net, FLOOD, 2, 1.5)
        time.sleep(0.5)
        with socket.create_connection(_is_address(net), timeout=5) as s:
            s.sendall((f"POST /r1/{ECHO} HTTP/1.1\r\nHost: x\r\nX-Road-Client: {FLOOD}\r\n"
                       "Content-Length: 60000\r\n\r\n").encode())
            started = time.monotonic()
            head = s.recv(4096)
            took = time.monotonic() - started
        flood.result()
    assert head.startswith(b"HTTP/1.1 429"), head
    assert b"Retry-After: 1" in head
    assert took < 0.9  # the flood's own requests are still in flight: not waited for


def test_refusals_in_a_row_on_one_connection_back_off(net: LocalNet) -> None:
    """A kept-alive connection refused again is advised (and held) twice as long; an
    admitted request on it ends the streak."""
    request = (f"GET /r1/{ECHO} HTTP/1.1\r\nHost: x\r\nX-Road-Client: {FLOOD}\r\n"
               "\r\n").encode()
    with ThreadPoolExecutor(1) as pool:
        flood = pool.submit(together, net, FLOOD, 2, 3.5)
        time.sleep(0.5)
        with socket.create_connection(_is_address(net), timeout=10) as s:
            heads = []
            for _ in range(2):
                s.sendall(request)
                heads.append(s.recv(4096))
            flood.result()
            time.sleep(0.3)
            s.sendall(request)  # the flood is over: admitted, the streak ends
            heads.append(s.recv(4096))
    assert heads[0].startswith(b"HTTP/1.1 429")
    assert b"Retry-After: 1\r\n" in heads[0]
    assert heads[1].startswith(b"HTTP/1.1 429")
    assert b"Retry-After: 2\r\n" in heads[1]
    assert heads[2].startswith(b"HTTP/1.1 200"), heads[2]


def test_refusals_answered_on_the_raw_head_match_the_handler(net: LocalNet) -> None:
    """A refusal judged on the first chunk (EarlyAdmission) answers in the form asked
    (XML here) and honours HTTP/1.0's close; two pipelined heads in one chunk go the
    handler's way and are both refused, in order."""
    one = (f"GET /r1/{ECHO} HTTP/1.0\r\nHost: x\r\nAccept: text/xml\r\n"
           f"X-Road-Client: {FLOOD}\r\n\r\n").encode()
    two = (f"GET /r1/{ECHO} HTTP/1.1\r\nHost: x\r\nX-Road-Client: {FLOOD}\r\n\r\n"
           * 2).encode()
    with ThreadPoolExecutor(1) as pool:
        flood = pool.submit(together, net, FLOOD, 2, 2.0)
        time.sleep(0.5)
        with socket.create_connection(_is_address(net), timeout=5) as s:
            s.sendall(one)
            xml = b""
            while chunk := s.recv(4096):  # HTTP/1.0: the gateway closes
                xml += chunk
        with socket.create_connection(_is_address(net), timeout=5) as s:
            s.sendall(two)
            both = b""
            while both.count(b"HTTP/1.1 429") < 2:
                chunk = s.recv(4096)
                assert chunk, both
                both += chunk
        flood.result()
    assert xml.startswith(b"HTTP/1.1 429"), xml
    assert b"<error><type>Server.ClientProxy.TooManyRequests</type>" in xml
    assert b"Connection: close" in xml
    assert both.count(b"X-Road-Error: Server.ClientProxy.TooManyRequests") == 2


def _closed(s: socket.socket) -> bool:
    try:
        return s.recv(65536) == b"" or _closed(s)
    except BlockingIOError:
        return False
    except OSError:
        return True


def _wait_all_closed(sockets: list[socket.socket], within: float) -> int:
    for s in sockets:
        s.setblocking(False)
    deadline = time.monotonic() + within
    open_ = list(sockets)
    while open_ and time.monotonic() < deadline:
        open_ = [s for s in open_ if not _closed(s)]
        time.sleep(0.1)
    return len(open_)


def test_idle_connections_do_not_stop_a_normal_client_and_are_closed(
        net: LocalNet) -> None:
    """3,000 idle connections to the IS port and 1,000 to the peer port: a normal
    client is served meanwhile, and all are closed after the header timeout."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 10_000:  # both ends of every connection live in this process
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 10_000), hard))
    peer = net.gateway_settings[PROVIDER.server].peer_listen.rsplit(":", 1)
    idle: list[socket.socket] = []
    try:
        for _ in range(3000):
            idle.append(socket.create_connection(_is_address(net), timeout=10))
        for _ in range(1000):
            idle.append(socket.create_connection((peer[0], int(peer[1])), timeout=10))
        started = time.monotonic()
        status, _, body = fetch(net, CALM)  # through both gateways
        took = time.monotonic() - started
        assert status == 200, body
        assert took < HEADER_TIMEOUT, "the normal client waited for the idle ones"
        left = _wait_all_closed(idle, within=HEADER_TIMEOUT + 8)
        assert left == 0, f"{left} idle connections still open"
    finally:
        for s in idle:
            s.close()
    assert metric(net, CONSUMER, 'sild_gateway_slow_connections_closed_total{port="is"}') >= 3000


def test_slow_loris_head_is_closed_after_the_header_timeout(net: LocalNet) -> None:
    """A request head sent one byte at a time is cut off after the header timeout,
    however steadily the bytes come."""
    head = f"GET /r1/{ECHO} HTTP/1.1\r\nHost: x\r\nX-Road-Client: {CALM}\r\n".encode()
    with socket.create_connection(_is_address(net), timeout=5) as s:
        started = time.monotonic()
        closed_at = None
        for b in head:
            try:
                s.sendall(bytes([b]))
            except OSError:
                closed_at = time.monotonic()
                break
            s.setblocking(False)
            if _closed(s):
                closed_at = time.monotonic()
                break
            s.setblocking(True)
            time.sleep(0.05)
    assert closed_at is not None, "the slow head was never cut off"
    assert closed_at - started < HEADER_TIMEOUT + 1.5


def test_slow_body_gets_408(net: LocalNet) -> None:
    """A body that stalls after its head gets Client.RequestTimeout (408)."""
    with socket.create_connection(_is_address(net), timeout=5) as s:
        s.sendall((f"POST /r1/{ECHO} HTTP/1.1\r\nHost: x\r\nX-Road-Client: {CALM}\r\n"
                   "Content-Length: 100\r\n\r\n0123456789").encode())
        started = time.monotonic()
        answer = s.recv(4096)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b"Client.RequestTimeout" in answer
    assert time.monotonic() - started < 3


def _peer_tls(n: LocalNet) -> ssl.SSLSocket:
    """A TLS connection to the provider's peer port with the consumer's auth certificate."""
    s = n.gateway_settings[CONSUMER.server]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.load_cert_chain(str(s.auth_cert_path), str(s.auth_key_path))
    host, port = n.gateway_settings[PROVIDER.server].peer_listen.rsplit(":", 1)
    raw = socket.create_connection((host, int(port)), timeout=5)
    return ctx.wrap_socket(raw)


def test_peer_port_closes_a_partial_head(net: LocalNet) -> None:
    """On the peer port, past a good TLS handshake, a head that never ends is closed."""
    with _peer_tls(net) as s:
        s.sendall(b"POST /sild/v1/message HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        data = s.recv(4096)  # blocks until the gateway closes
    assert data == b""
    assert time.monotonic() - started < HEADER_TIMEOUT + 1.5


def test_peer_port_closes_a_stalled_body(net: LocalNet) -> None:
    """On the peer port a body that stalls is closed after the body timeout."""
    with _peer_tls(net) as s:
        s.sendall(b"POST /sild/v1/message HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n"
                  b"\r\nabc")
        started = time.monotonic()
        data = s.recv(4096)
    assert data == b""
    assert time.monotonic() - started < 1.0 + 1.5  # the body timeout, not the header's


def test_gateway_folder_round_trip_keeps_admission(tmp_path: Path) -> None:
    """What the fixture configures is what gateway.toml would carry."""
    s = GatewaySettings(root=tmp_path.resolve(), server=CONSUMER.server,
                        database_url="sqlite:///x.db",
                        admission=AdmissionSettings(clients={str(VIP): Quota(10)}))
    s.write()
    assert GatewaySettings.load(tmp_path).admission == s.admission
