"""The registry's HTTP interface on a real uvicorn server, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from sild.core.globalconf import signing_key_of, verify_globalconf
from sild.crypto.certs import fingerprint
from sild.registry.api import create_app
from sild.registry.publisher import Publisher
from sild.testing.servers import serve_asgi
from sild.testing.world import SERVER, World

TOKEN = "test-admin-token"


@pytest.fixture
def served(world: World, tmp_path) -> Iterator[tuple[str, World]]:  # type: ignore[no-untyped-def]
    keys_dir = tmp_path / "keys"
    from sild.crypto.keys import key_id, save_private_key

    save_private_key(keys_dir / f"{key_id(world.config_key.public_key())}.key", world.config_key)
    publisher = Publisher(world.registry, keys_dir, clock=world.clock)
    with serve_asgi(create_app(world.registry, publisher, TOKEN)) as url:
        yield url, world


def call(url: str, method: str = "GET", body: bytes | None = None,
         token: str | None = None, content_type: str = "application/json",
         ) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        req.add_header("Content-Type", content_type)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def _json(body: bytes) -> Any:
    return json.loads(body)


def test_globalconf_is_signed_and_verifies(served: tuple[str, World]) -> None:
    """GET /globalconf serves a document that verifies against the anchor key."""
    url, w = served
    status, headers, body = call(url + "/globalconf")
    assert status == 200
    assert headers["content-type"].startswith("application/vnd.sild.globalconf")
    anchor_key = signing_key_of(w.config_key)
    verified = verify_globalconf(body, trusted_keys={anchor_key.key_id: anchor_key},
                                 instance="EE", at=w.clock(), last=None)
    assert verified.conf.version == w.registry.version()
    assert verified.conf.expires_at - verified.conf.issued_at == timedelta(seconds=600)


def test_globalconf_is_reissued_after_a_change(served: tuple[str, World]) -> None:
    """A change shows in the next document with a higher version."""
    url, _ = served
    first = _json(call(url + "/globalconf")[2])
    status, _, _ = call(url + "/api/members", "POST",
                        json.dumps({"id": "EE/COM/1", "name": "C"}).encode(), TOKEN)
    assert status == 201
    second = _json(call(url + "/globalconf")[2])
    assert first != second
    assert "EE/COM/1" in call(url + "/api/members", token=TOKEN)[2].decode()


def test_registration_over_http_and_admin_approval(served: tuple[str, World]) -> None:
    """POST /requests queues a signed request; the admin API approves it."""
    url, w = served
    status, _, body = call(url + "/requests", "POST", w.gateway_request())
    assert status == 202
    rid = _json(body)["id"]
    assert _json(call(f"{url}/requests/{rid}")[2])["state"] == "SUBMITTED"
    status, _, body = call(f"{url}/api/requests/{rid}/approve", "POST", b"", TOKEN)
    assert status == 200
    assert _json(body)["state"] == "APPROVED"
    gws = _json(call(url + "/api/gateways", token=TOKEN)[2])
    assert gws[0]["id"] == str(SERVER)
    assert gws[0]["auth_fingerprint"] == fingerprint(w.auth.certificate)


@pytest.mark.parametrize("token", [None, "wrong", ""])
def test_admin_api_needs_the_credential(served: tuple[str, World], token: str | None) -> None:
    """Management calls without the right bearer token get 401 and an X-Road error."""
    url, _ = served
    status, headers, body = call(url + "/api/members", token=token)
    assert status == 401
    assert headers["x-road-error"] == "Client.Unauthorized"
    assert set(_json(body)) == {"type", "message", "detail"}


@pytest.mark.parametrize(
    ("path", "body", "code", "status"),
    [
        ("/requests", b"garbage", "Client.InvalidRequest", 400),
        ("/requests", b"{}", "Client.InvalidRequest", 400),
        ("/requests", b"x" * 70_000, "Client.InvalidRequest", 400),
        ("/api/members", b'{"id": "EE/GO V/1", "name": "x"}', "Client.InvalidClientIdentifier",
         400),
        ("/api/members", b'{"id": "EE/GOV/70000001", "name": "dup"}', "Client.Duplicate", 409),
        ("/api/members", b'{"name": "no id"}', "Client.BadRequest", 400),
        ("/api/members", b"not json", "Client.BadRequest", 400),
        ("/api/requests/12345/approve", b"", "Client.NotFound", 404),
    ],
)
def test_bad_input_gets_an_xroad_error(served: tuple[str, World], path: str, body: bytes,
                                       code: str, status: int) -> None:
    """Malformed bodies and identifiers get X-Road-Error + JSON, never a 500."""
    url, _ = served
    got, headers, raw = call(url + path, "POST", body, TOKEN)
    assert (got, headers.get("x-road-error")) == (status, code)
    assert _json(raw)["type"] == code


def test_openapi_is_published(served: tuple[str, World]) -> None:
    """The management API publishes its OpenAPI description."""
    url, _ = served
    status, _, body = call(url + "/openapi.json")
    assert status == 200
    assert "/api/requests/{request_id}/approve" in _json(body)["paths"]


def test_healthz(served: tuple[str, World]) -> None:
    """The health endpoint answers 200 with the configuration version."""
    url, w = served
    status, _, body = call(url + "/healthz")
    assert (status, _json(body)["version"]) == (200, w.registry.version())


