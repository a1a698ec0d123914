"""The exchange over real HTTP and real mutual TLS: an unmodified X-Road REST call, and
every bad input the issue lists answered with its X-Road error (never a traceback or hang)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from sild.core.envelope import RequestHeader, request_hash
from sild.gateway.context import StaticTarget
from sild.gateway.messagelog.log import LogRecord
from sild.gateway.messagelog.opmon import OpMonRecord
from sild.testing.exchange import (
    CLIENT,
    CLOSED,
    CONSUMER,
    DOWN,
    ECHO,
    MAX_BODY,
    SLOW,
    Net,
    call,
    error_type,
)

H = {"X-Road-Client": str(CLIENT)}


def r1(net: Net, service: object, rest: str = "") -> str:
    return f"{net.consumer_url()}/r1/{service.path()}{rest}"  # type: ignore[attr-defined]


def test_unmodified_xroad_rest_call(net: Net) -> None:
    """curl-style call with X-Road-Client gets the provider's answer and X-Road headers."""
    status, headers, body = call(r1(net, ECHO, "/a/b%C3%A4c?x=1&y=%C3%A4"), method="POST",
                                 body=b'{"q": 1}', headers={
                                     **H, "Content-Type": "application/json",
                                     "X-Road-UserId": "EE38001085718", "X-Road-Issue": "case-7",
                                     "X-Road-Represented-Party": "COM/12345678",
                                     "X-Custom": "kept", "Connection": "keep-alive"})
    assert status == 200
    echoed = json.loads(body)
    assert (echoed["method"], echoed["path"], echoed["query"]) == ("POST", "/echo/a/bäc",
                                                                  "x=1&y=%C3%A4")
    assert echoed["raw_path"] == "/echo/a/b%C3%A4c?x=1&y=%C3%A4"
    assert echoed["body"] == '{"q": 1}'
    assert echoed["headers"]["x-custom"] == "kept"
    assert echoed["headers"]["x-road-client"] == str(CLIENT)
    assert echoed["headers"]["x-road-userid"] == "EE38001085718"
    assert echoed["headers"]["x-road-issue"] == "case-7"
    assert echoed["headers"]["x-road-represented-party"] == "COM/12345678"
    assert echoed["headers"].get("keep-alive") is None  # hop-by-hop dropped
    assert headers["x-road-service"] == str(ECHO)
    assert headers["x-road-id"].startswith("EE-")
    assert headers["x-road-request-id"]
    assert headers["x-road-request-hash"]


def test_request_hash_binds_response_to_logged_request(net: Net) -> None:
    """X-Road-Request-Hash equals SHA-512 over the logged signed header and body."""
    status, headers, _ = call(r1(net, ECHO), method="PUT", body=b"payload", headers=H)
    assert status == 200
    rid = headers["x-road-request-id"]
    logged = [r for r in net.logs["gw2"].records
              if isinstance(r, LogRecord) and r.request_id == rid and r.kind == "request"]
    assert len(logged) == 1
    assert logged[0].body is not None
    assert request_hash(logged[0].envelope, logged[0].body) == headers["x-road-request-hash"]
    assert RequestHeader.parse(logged[0].envelope).user_id == ""


def test_both_gateways_log_request_response_and_opmon(net: Net) -> None:
    """Each side logs the request, the response and one monitoring record."""
    status, headers, _ = call(r1(net, ECHO, "/x"), headers={**H, "X-Road-Id": "my-id-1"})
    assert status == 200
    rid = headers["x-road-request-id"]
    for gw in ("gw1", "gw2"):
        kinds = sorted(r.kind for r in net.logs[gw].records
                       if isinstance(r, LogRecord) and r.request_id == rid)
        assert kinds == ["request", "response"]
        assert [r.message_id for r in net.logs[gw].records
                if isinstance(r, OpMonRecord) and r.x_request_id == rid] == ["my-id-1"]


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_all_verbs(net: Net, method: str) -> None:
    """Every HTTP verb reaches the provider unchanged."""
    status, _, body = call(r1(net, ECHO, "/v"), method=method, headers=H)
    assert status == 200
    assert json.loads(body)["method"] == method


def test_redirect_is_passed_back_not_followed(net: Net) -> None:
    """A 3xx from the provider IS comes back to the client as it was."""
    class NoFollow(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    net.access["gw1"].services[ECHO.subsystem.service("redir")] = \
        StaticTarget(net.net.is_url + "/redirect", 1.0)
    net.access["gw1"].allowed[ECHO.subsystem.service("redir")] = {CLIENT}
    opener = urllib.request.build_opener(NoFollow)
    req = urllib.request.Request(r1(net, ECHO.subsystem.service("redir")), headers=H)
    with pytest.raises(urllib.error.HTTPError) as e:
        opener.open(req, timeout=10)
    with e.value:
        assert e.value.code == 302
        assert e.value.headers["Location"] == "/hello"




def test_provider_error_status_passes_through(net: Net) -> None:
    """A provider IS error (here 404) is a normal signed answer, not an X-Road error."""
    svc = ECHO.subsystem.service("status")
    net.access["gw1"].services[svc] = StaticTarget(
        net.net.is_url + "/status", 1.0)
    net.access["gw1"].allowed[svc] = {CLIENT}
    status, headers, _ = call(r1(net, svc, "/404"), headers=H)
    assert status == 404
    assert "x-road-error" not in headers


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/r1/EE/GOV/70000001/rr", "Client.InvalidRequest"),
        ("/r1/EE/GOV/70000001", "Client.InvalidRequest"),
        ("/r1/EE/GOV/700 01/rr/echo", "Client.InvalidClientIdentifier"),
        ("/r1/EE//70000001/rr/echo", "Client.InvalidClientIdentifier"),
        ("/r1/EE/GOV/%zz/rr/echo", "Client.InvalidClientIdentifier"),
    ],
)
def test_malformed_r1_paths(net: Net, path: str, code: str) -> None:
    """Malformed /r1/ paths get a 400 X-Road error."""
    status, headers, body = call(net.consumer_url() + path.replace(" ", "%20"), headers=H)
    assert (status, headers["x-road-error"], error_type(body)) == (400, code, code)


@pytest.mark.parametrize(
    ("headers", "code"),
    [({}, "Client.MissingHeader"),
     ({"X-Road-Client": "EE/COM"}, "Client.InvalidClientIdentifier"),
     ({"X-Road-Client": "EE/COM/10000001/h is"}, "Client.InvalidClientIdentifier")],
)
def test_missing_or_malformed_client_header(net: Net, headers: dict[str, str],
                                            code: str) -> None:
    """X-Road-Client must be present and well-formed."""
    status, _, body = call(r1(net, ECHO), headers=headers)
    assert (status, error_type(body)) == (400, code)


@pytest.mark.parametrize("header", ["X-Road-Id", "X-Road-UserId", "X-Road-Represented-Party"])
def test_overlong_id_headers(net: Net, header: str) -> None:
    """An identifying header longer than the log can keep is refused up front."""
    status, _, body = call(r1(net, ECHO), headers={**H, header: "x" * 256})
    assert (status, error_type(body)) == (400, "Client.InvalidRequest")


def test_error_as_xml_when_asked(net: Net) -> None:
    """Accept: text/xml gets the error as <error><type/><message/><detail/></error>."""
    status, headers, body = call(r1(net, ECHO), headers={"Accept": "text/xml"})
    assert status == 400
    assert headers["content-type"].startswith("text/xml")
    assert body.startswith(b"<error><type>Client.MissingHeader</type>")


def test_client_not_on_this_gateway(net: Net) -> None:
    """A client the gateway does not host is an unknown member (500)."""
    status, _, body = call(r1(net, ECHO), headers={"X-Road-Client": "EE/GOV/70000001/rr"})
    assert (status, error_type(body)) == (500, "Server.ClientProxy.UnknownMember")


def test_unknown_provider(net: Net) -> None:
    """A service of a subsystem no gateway hosts is an unknown member."""
    status, _, body = call(f"{net.consumer_url()}/r1/EE/GOV/70000001/nope/echo", headers=H)
    assert (status, error_type(body)) == (500, "Server.ClientProxy.UnknownMember")


def test_access_denied(net: Net) -> None:
    """The provider denies by default; the error comes back as the provider gave it."""
    status, headers, body = call(r1(net, CLOSED), headers=H)
    assert (status, error_type(body)) == (500, "Server.ServerProxy.AccessDenied")
    assert headers["x-road-error"] == "Server.ServerProxy.AccessDenied"
    other = {"X-Road-Client": str(CONSUMER.member.subsystem("other"))}
    assert error_type(call(r1(net, ECHO), headers=other)[2]) == "Server.ServerProxy.AccessDenied"


def test_oversize_body(net: Net) -> None:
    """A body over the limit is refused with a clear error, not read to the end."""
    status, _, body = call(r1(net, ECHO), method="POST", body=b"x" * (MAX_BODY + 1), headers=H)
    assert (status, error_type(body)) == (400, "Client.InvalidRequest")
    assert "exceeds the limit" in json.loads(body)["message"]


def test_provider_is_down(net: Net) -> None:
    """An unreachable provider IS is a network error from the provider gateway."""
    status, _, body = call(r1(net, DOWN), headers=H)
    assert (status, error_type(body)) == (500, "Server.ServerProxy.NetworkError")


def test_provider_is_slow(net: Net) -> None:
    """A provider IS slower than the service timeout gets a timeout, not a hang."""
    status, _, body = call(r1(net, SLOW, "?seconds=5"), headers=H)
    assert (status, error_type(body)) == (500, "Server.ServerProxy.NetworkError")
    assert "did not answer within" in json.loads(body)["message"]


def test_list_clients_json_and_xml(net: Net) -> None:
    """GET /listClients answers in JSON or XML from global configuration."""
    status, _, body = call(net.consumer_url() + "/listClients",
                           headers={"Accept": "application/json"})
    members = json.loads(body)["member"]
    assert status == 200
    assert {"member_class": "GOV", "member_code": "70000001", "xroad_instance": "EE",
            "object_type": "SUBSYSTEM", "subsystem_code": "rr"} in [m["id"] for m in members]
    status, headers, body = call(net.consumer_url() + "/listClients")
    assert headers["content-type"].startswith("text/xml")
    assert b"<ns3:subsystemCode>his</ns3:subsystemCode>" in body


def test_request_and_response_signatures_are_logged(net: Net) -> None:
    """Logged records carry the signature and the signer certificate."""
    status, headers, _ = call(r1(net, ECHO), headers=H)
    assert status == 200
    rec = next(r for r in net.logs["gw1"].records if isinstance(r, LogRecord)
               and r.request_id == headers["x-road-request-id"] and r.kind == "response")
    assert rec.signature
    assert len(rec.signer_cert_fingerprint) == 64
    assert rec.status == 200


def test_rest_metaservices(net: Net) -> None:
    """listMethods and allowedMethods are answered by the provider gateway, ACL-free."""
    base = f"{net.consumer_url()}/r1/{ECHO.subsystem.path()}"
    status, _, body = call(base + "/listMethods", headers=H)
    listed = {s["service_code"] for s in json.loads(body)["service"]}
    assert status == 200
    assert {"echo", "closed"} <= listed
    status, _, body = call(base + "/allowedMethods", headers=H)
    allowed = {s["service_code"] for s in json.loads(body)["service"]}
    assert "echo" in allowed
    assert "closed" not in allowed
    status, _, body = call(base + "/getOpenAPI", headers=H)
    assert (status, error_type(body)) == (400, "Client.InvalidRequest")
