"""Admin routes for services and access rights, on a real uvicorn server (SQLite and PG)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import Message
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi import FastAPI

from sild.core.globalconf import GlobalConf
from sild.core.identifiers import ServiceId, SubsystemId
from sild.errors import AccessDenied
from sild.gateway.admin import MAX_ADMIN_BODY
from sild.gateway.serverconf.admin_routes import add_service_routes
from sild.gateway.serverconf.store import ServerConf
from sild.store import make_engine, migrate
from sild.testing.servers import serve_asgi
from sild.web.shell import Shell, install_fastapi_errors

TOKEN = "s3cret"
SUB = "EE/GOV/70000001/registry"
SVC = f"{SUB}/persons"
CLIENT = "EE/COM/12345678/shop"


@pytest.fixture
def served(db_url: str) -> Iterator[tuple[str, ServerConf]]:
    """The routes mounted on a bare FastAPI app, served by uvicorn on loopback."""
    engine = make_engine(db_url)
    migrate(engine, "serverconf")
    sc = ServerConf(engine)
    app = FastAPI()
    install_fastapi_errors(app)
    add_service_routes(app, sc)
    with serve_asgi(Shell(app, max_body=MAX_ADMIN_BODY, admin_token=TOKEN,
                          admin_prefixes=("/api",))) as url:
        yield url, sc
    engine.dispose()


def call(method: str, url: str, body: Any = None, *,
         token: str = TOKEN) -> tuple[int, Message, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, e.headers, json.loads(e.read())


def conf() -> GlobalConf:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    return GlobalConf(instance="EE", version=1, issued_at=when, expires_at=when.replace(day=2),
                      refresh_interval=60, signing_keys=())


def test_manage_services_over_http(served: tuple[str, ServerConf]) -> None:
    """add service → endpoint → grant → list → revoke → remove, over real HTTP."""
    url, sc = served
    status, _, svc = call("POST", f"{url}/api/services",
                          {"subsystem": SUB, "code": "persons", "url": "http://is/api"})
    assert (status, svc["id"], svc["access_rights"]) == (201, SVC, [])
    assert call("POST", f"{url}/api/services/endpoints",
                {"service": SVC, "method": "GET", "path": "/persons/*"})[0] == 201
    status, _, svc = call("POST", f"{url}/api/access-rights",
                          {"service": SVC, "subject": CLIENT, "endpoint": "GET /persons/*"})
    assert status == 201
    assert svc["access_rights"] == [{"subject_type": "SUBSYSTEM", "subject": CLIENT,
                                     "endpoint": "GET /persons/*"}]
    client = SubsystemId.parse(CLIENT)
    sc.check_access(ServiceId.parse(SVC), client, "GET", "/persons/1", conf())
    status, _, listed = call("GET", f"{url}/api/services?" + urlencode({"subsystem": SUB}))
    assert (status, [s["id"] for s in listed]) == (200, [SVC])
    query = urlencode({"service": SVC, "subject": CLIENT, "endpoint": "GET /persons/*"})
    assert call("DELETE", f"{url}/api/access-rights?{query}")[0] == 200
    with pytest.raises(AccessDenied):
        sc.check_access(ServiceId.parse(SVC), client, "GET", "/persons/1", conf())
    assert call("DELETE", f"{url}/api/services?" + urlencode({"id": SVC}))[0] == 200
    assert call("GET", f"{url}/api/services")[2] == []


def test_disable_and_local_groups_over_http(served: tuple[str, ServerConf]) -> None:
    """disable/enable and local groups with members, over real HTTP."""
    url, _ = served
    call("POST", f"{url}/api/services", {"subsystem": SUB, "code": "persons",
                                         "url": "http://is/api"})
    status, _, svc = call("POST", f"{url}/api/services/disable",
                          {"service": SVC, "notice": "upgrade"})
    assert (status, svc["disabled"], svc["disabled_notice"]) == (200, True, "upgrade")
    assert call("POST", f"{url}/api/services/enable", {"service": SVC})[2]["disabled"] is False
    assert call("POST", f"{url}/api/local-groups", {"subsystem": SUB, "code": "partners"})[0] \
        == 201
    assert call("POST", f"{url}/api/local-groups/members",
                {"subsystem": SUB, "code": "partners", "client": CLIENT})[0] == 201
    assert call("POST", f"{url}/api/access-rights",
                {"service": SVC, "subject": "local:partners"})[0] == 201
    status, _, groups = call("GET", f"{url}/api/local-groups")
    assert groups == [{"subsystem": SUB, "code": "partners", "description": "",
                       "members": [CLIENT]}]


@pytest.mark.parametrize(("method", "path", "body", "status", "code"), [
    ("POST", "/api/services", {"subsystem": "EE/GOV", "code": "x", "url": "http://is/"}, 400,
     "Client.InvalidClientIdentifier"),
    ("POST", "/api/services", {"subsystem": SUB, "code": "x", "url": "http://is/",
                               "openapi": "{\"openapi\": \"2.0\"}"}, 400,
     "Client.InvalidRequest"),
    ("POST", "/api/services", {"subsystem": SUB}, 400, "Client.BadRequest"),
    ("DELETE", "/api/services?id=" + SVC, None, 404, "Client.NotFound"),
    ("POST", "/api/access-rights", {"service": SVC, "subject": "group:EE"}, 400,
     "Client.InvalidClientIdentifier"),
])
def test_errors_are_xroad_json(served: tuple[str, ServerConf], method: str, path: str,
                               body: Any, status: int, code: str) -> None:
    """Bad requests get X-Road-Error and {"type","message","detail"} with the right status."""
    url, _ = served
    got, headers, data = call(method, url + path, body)
    assert (got, headers.get("X-Road-Error"), data["type"]) == (status, code, code)
    assert set(data) == {"type", "message", "detail"}


def test_guard_is_applied(served: tuple[str, ServerConf]) -> None:
    """Without the admin credential every route is refused."""
    url, _ = served
    status, _, _ = call("GET", f"{url}/api/services", token="wrong")
    assert status == 401


def test_credential_is_checked_before_the_body_is_read(served: tuple[str, ServerConf]) -> None:
    """A stranger announcing 100 MB gets 401 at once: the shell reads no body first."""
    import socket
    from urllib.parse import urlsplit

    url, _ = served
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as s:
        s.sendall(b"POST /api/services HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n")
        answer = s.recv(4096)  # no body was sent: only an early answer arrives in time
    assert answer.startswith(b"HTTP/1.1 401")
    assert b"Client.Unauthorized" in answer


def test_oversized_body_is_refused_before_reading(served: tuple[str, ServerConf]) -> None:
    """With the credential, a declared body over the limit is 413 without reading it."""
    import socket
    from urllib.parse import urlsplit

    url, _ = served
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as s:
        s.sendall(b"POST /api/services HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                  + TOKEN.encode() + b"\r\nContent-Length: 100000000\r\n\r\n")
        answer = s.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413")
    assert b"Client.PayloadTooLarge" in answer
