"""X-Road REST (PR-REST 1.0.4) behaviour that existing clients rely on, end to end through
two real gateways with their real SQLite message logs and service configuration, to a
provider IS that writes exact bytes and records exactly what it received."""

from __future__ import annotations

import gzip
import http.client
import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from sild.core.access import parse_subject
from sild.core.envelope import RequestHeader
from sild.localnet import LocalNet
from sild.store import make_engine
from sild.testing.exchange import CLIENT, CONSUMER, PROVIDER, call, error_type
from sild.testing.netthread import NetThread
from sild.testing.rawhttp import Canned, RawHttpServer

RAW = PROVIDER.member.subsystem("rr").service("raw")
OPEN = PROVIDER.member.subsystem("rr").service("open")  # granted to the owner member only
H = {"X-Road-Client": str(CLIENT)}
OK_EMPTY = Canned("HTTP/1.1 200 OK", (("Content-Type", "application/json"),
                                      ("Content-Length", "2")), b"{}")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalNet, RawHttpServer]]:
    root = tmp_path_factory.mktemp("rest")
    with RawHttpServer() as raw:
        net = LocalNet.create(root / "net", [PROVIDER, CONSUMER], instance_id="EE",
                              database_url=lambda name: f"sqlite:///{root}/{name}.db")
        with NetThread(net):
            sc = net.stores[PROVIDER.server].serverconf
            sc.add_service(RAW.subsystem, "raw", raw.url + "/svc", timeout=5)
            sc.grant(RAW, parse_subject(str(CLIENT)))
            sc.add_service(OPEN.subsystem, "open", raw.url + "/svc", timeout=5)
            sc.grant(OPEN, parse_subject(str(CONSUMER.member)))
            yield net, raw


def _url(net: LocalNet, service: object, rest: str = "") -> str:
    return f"{net.is_url_of(CONSUMER.server)}/r1/{service.path()}{rest}"  # type: ignore[attr-defined]


def _raw_request(url: str, method: str, headers: dict[str, str], body: bytes | None = None
                 ) -> tuple[int, dict[str, str], bytes]:
    """One request with http.client, which sends the target exactly as given."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=20)
    try:
        target = url[len(f"{parts.scheme}://{parts.netloc}"):]  # as written, "?" and all
        conn.request(method, target, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def _last_target(raw: RawHttpServer) -> str:
    return raw.received[-1].request_line.split(" ")[1]


@pytest.mark.parametrize("rest", [
    "/a%2Fb/%3F%3A%40%2C%24%41%7E%3B%3D?q=%2F%3F%3A%40&z=%41+b&e=&%2C=%24",
    "/%C3%A4/x;y=1?plain=1",
    "/p%3Bq/r%3Ds?%3F=%26",
    "/bare/question?",  # RFC 3986 §3.4: an empty query is not no query
])
def test_path_and_query_reach_the_is_byte_for_byte(
        world: tuple[LocalNet, RawHttpServer], rest: str) -> None:
    """PR-REST §4.5: the remaining path and query "MUST be passed unmodified"."""
    net, raw = world
    raw.route("/svc" + rest.split("?")[0], OK_EMPTY)
    status, _, _ = _raw_request(_url(net, RAW, rest), "GET", H)
    assert status == 200
    assert _last_target(raw) == "/svc" + rest


def test_a_bare_question_mark_is_kept_in_the_envelope(
        world: tuple[LocalNet, RawHttpServer]) -> None:
    """RFC 3986 §3.4: ``/a?`` (empty query) differs from ``/a``; the signed envelope keeps
    it, and the IS gets it (previous test)."""
    net, raw = world
    raw.route("/svc/q", OK_EMPTY)
    status, headers, _ = _raw_request(_url(net, RAW, "/q?"), "GET", H)
    assert status == 200
    engine = make_engine(net.gateway_settings[CONSUMER.server].database_url)
    try:
        with engine.connect() as conn:
            envelope = conn.execute(sa.text(
                "SELECT envelope FROM message_log WHERE request_id = :r AND kind = 'request'"),
                {"r": headers["x-road-request-id"]}).scalar_one()
    finally:
        engine.dispose()
    header = RequestHeader.parse(envelope)
    assert (header.path, header.query, header.empty_query) == ("/q", "", True)


@pytest.mark.parametrize("rest", ["/a%20b", "/a%00b", "/a%zz", "/%2e%2e/etc", "/a%0Ab"])
def test_malformed_remaining_path_is_a_client_error(
        world: tuple[LocalNet, RawHttpServer], rest: str) -> None:
    """A path access rights cannot read is Client.InvalidRequest, not AccessDenied, and
    never reaches the provider IS."""
    net, raw = world
    before = len(raw.received)
    status, headers, body = _raw_request(_url(net, RAW, rest), "GET", H)
    assert (status, headers["x-road-error"]) == (400, "Client.InvalidRequest")
    assert error_type(body) == "Client.InvalidRequest"
    assert len(raw.received) == before


def test_provider_side_error_honours_accept_xml(world: tuple[LocalNet, RawHttpServer]) -> None:
    """PR-REST §4.6: an error raised on the provider gateway comes back as XML when the
    client's Accept asks for it, with a charset (§4.3)."""
    net, _ = world
    denied = PROVIDER.member.subsystem("rr").service("raw-not-granted")
    status, headers, body = call(_url(net, denied), headers={**H, "Accept": "text/xml"})
    assert status == 500
    assert headers["x-road-error"] == "Server.ServerProxy.UnknownService"
    assert headers["content-type"] == "text/xml; charset=utf-8"
    assert body.startswith(b"<error><type>Server.ServerProxy.UnknownService</type>")


def test_provider_side_error_is_json_by_default(world: tuple[LocalNet, RawHttpServer]) -> None:
    """PR-REST §4.6: without Accept, gateway errors are JSON with a charset."""
    net, _ = world
    status, headers, body = call(_url(net, OPEN), headers=H)  # granted to the member only
    assert (status, headers["content-type"]) == (500, "application/json; charset=utf-8")
    doc = json.loads(body)
    assert doc["type"] == headers["x-road-error"] == "Server.ServerProxy.AccessDenied"
    assert doc["detail"]


def test_consumer_side_error_names_its_charset(world: tuple[LocalNet, RawHttpServer]) -> None:
    """PR-REST §4.3: responses the gateway makes itself name their charset."""
    net, _ = world
    status, headers, _ = call(_url(net, RAW), headers={"Accept": "application/xml"})
    assert (status, headers["x-road-error"]) == (400, "Client.MissingHeader")
    assert headers["content-type"] == "text/xml; charset=utf-8"


def test_head_with_content_length_passes_through(world: tuple[LocalNet, RawHttpServer]) -> None:
    """RFC 9110 §9.3.2: a HEAD answer has no body whatever its Content-Length says."""
    net, raw = world
    raw.route("/svc/head", Canned("HTTP/1.1 200 OK", (("Content-Type", "text/plain"),
                                                      ("Content-Length", "1234"))))
    status, headers, body = _raw_request(_url(net, RAW, "/head"), "HEAD", H)
    assert (status, body) == (200, b"")
    assert "x-road-error" not in headers
    assert headers["content-length"] == "1234"


@pytest.mark.parametrize(("status_line", "length"), [
    ("HTTP/1.1 204 No Content", None), ("HTTP/1.1 204 No Content", "0"),
    ("HTTP/1.1 304 Not Modified", None), ("HTTP/1.1 304 Not Modified", "512"),
])
def test_204_and_304_pass_through(world: tuple[LocalNet, RawHttpServer], status_line: str,
                                  length: str | None) -> None:
    """RFC 9110 §15.3.5, §15.4.5: 204 and 304 have no body, with or without Content-Length."""
    net, raw = world
    code = int(status_line.split()[1])
    raw.route(f"/svc/empty{code}{length}",
              Canned(status_line, (("ETag", '"v1"'),) + ((("Content-Length", length),)
                                                         if length else ())))
    status, headers, body = _raw_request(_url(net, RAW, f"/empty{code}{length}"), "GET", H)
    assert (status, body) == (code, b"")
    assert headers["etag"] == '"v1"'
    assert "x-road-error" not in headers


def test_gzip_request_body_travels_untouched(world: tuple[LocalNet, RawHttpServer]) -> None:
    """A compressed body reaches the IS as sent, still labelled with its Content-Encoding."""
    net, raw = world
    raw.route("/svc/gz", OK_EMPTY)
    packed = gzip.compress(b'{"hello": "world"}' * 100)
    status, _, _ = _raw_request(_url(net, RAW, "/gz"), "POST",
                                {**H, "Content-Encoding": "gzip",
                                 "Content-Type": "application/json"}, packed)
    assert status == 200
    got = raw.received[-1]
    assert got.body == packed
    assert ("content-encoding", "gzip") in [(k.lower(), v) for k, v in got.headers]


@pytest.mark.parametrize("body", [b"not gzip at all", gzip.compress(b"x" * 1000, mtime=0)[:-9]],
                         ids=["not-gzip", "truncated-gzip"])
def test_invalid_gzip_is_a_client_error(world: tuple[LocalNet, RawHttpServer],
                                        body: bytes) -> None:
    """Invalid or truncated gzip is Client.InvalidRequest, not an internal error."""
    net, raw = world
    before = len(raw.received)
    status, headers, _ = _raw_request(_url(net, RAW, "/gz"), "POST",
                                      {**H, "Content-Encoding": "gzip"}, body)
    assert (status, headers["x-road-error"]) == (400, "Client.InvalidRequest")
    assert len(raw.received) == before


def test_decompression_bomb_is_refused(world: tuple[LocalNet, RawHttpServer]) -> None:
    """A small body that inflates past the body limit is refused, never expanded."""
    net, _ = world
    bomb = gzip.compress(b"\0" * (11 * 1024 * 1024))  # ≈ 11 KB, inflates past 10 MiB
    assert len(bomb) < 64 * 1024
    status, headers, body = _raw_request(_url(net, RAW, "/gz"), "POST",
                                         {**H, "Content-Encoding": "gzip"}, bomb)
    assert (status, headers["x-road-error"]) == (400, "Client.InvalidRequest")
    assert b"decompresses to more than" in body


def test_owner_member_is_a_client_of_its_own_gateway(
        world: tuple[LocalNet, RawHttpServer]) -> None:
    """As in X-Road, a gateway's owner member calls services without add-client."""
    net, raw = world
    raw.route("/svc/own", OK_EMPTY)
    status, headers, _ = _raw_request(_url(net, OPEN, "/own"), "GET",
                                      {"X-Road-Client": str(CONSUMER.member)})
    assert status == 200, headers
    assert headers["x-road-client"] == str(CONSUMER.member)


def test_gateway_adds_no_headers_of_its_own_choosing(
        world: tuple[LocalNet, RawHttpServer]) -> None:
    """PR-REST §4.3: client headers pass unchanged; the gateway adds no Accept-Encoding,
    Accept or User-Agent the client did not send (only X-Road's own headers)."""
    net, raw = world
    raw.route("/svc/h", OK_EMPTY)
    status, _, _ = _raw_request(_url(net, RAW, "/h"), "GET", {**H, "X-Custom": "1"})
    assert status == 200
    got = {k.lower(): v for k, v in raw.received[-1].headers}
    names = set(got)
    assert names.isdisjoint({"accept", "user-agent"})
    assert got["accept-encoding"] == "identity"  # what http.client sent, not aiohttp's gzip
    assert {"x-custom", "x-road-client", "x-road-id", "x-road-request-id",
            "x-road-service"} <= names


def test_client_accept_headers_reach_the_is(world: tuple[LocalNet, RawHttpServer]) -> None:
    """The client's own Accept and Accept-Encoding reach the IS as sent."""
    net, raw = world
    raw.route("/svc/h2", OK_EMPTY)
    _raw_request(_url(net, RAW, "/h2"), "GET",
                 {**H, "Accept": "application/xml", "Accept-Encoding": "br"})
    got = {k.lower(): v for k, v in raw.received[-1].headers}
    assert (got["accept"], got["accept-encoding"]) == ("application/xml", "br")
