"""The registry's HTTP interface on a real uvicorn server, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sild.confclient import ConfClient
from sild.core.anchor import Anchor
from sild.core.globalconf import signing_key_of, verify_globalconf
from sild.core.identifiers import MemberId
from sild.crypto.certs import fingerprint
from sild.registry.api import create_app
from sild.registry.publisher import Publisher
from sild.store import registry_tables as t
from sild.testing.servers import serve_asgi
from sild.testing.world import SERVER, World

TOKEN = "test-admin-token"


@pytest.fixture
def served(world: World, tmp_path) -> Iterator[tuple[str, World]]:  # type: ignore[no-untyped-def]
    keys_dir = tmp_path / "keys"
    from sild.crypto.keys import key_id, save_private_key

    save_private_key(keys_dir / f"{key_id(world.config_key.public_key())}.key", world.config_key)
    publisher = Publisher(world.registry, keys_dir, anchor=_anchor(world, "http://unused"),
                          clock=world.clock)
    with serve_asgi(create_app(world.registry, publisher, TOKEN)) as url:
        yield url, world


def _anchor(w: World, url: str) -> Anchor:
    return Anchor("EE", w.clock(), (url + "/globalconf",), (signing_key_of(w.config_key),))


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
    paths = _json(body)["paths"]
    assert "/api/requests/{request_id}/approve" in paths
    assert set(paths["/api/members/{member_id}"]) == {"patch", "delete"}
    assert set(paths["/api/groups/{instance}/{code}"]) == {"patch", "delete"}
    assert "delete" in paths["/api/subsystems/{subsystem_id}"]


def test_healthz(served: tuple[str, World]) -> None:
    """The health endpoint answers 200 with the configuration version."""
    url, w = served
    status, _, body = call(url + "/healthz")
    assert (status, _json(body)["version"]) == (200, w.registry.version())




# --- edit and remove (docs/guide.md §5) ------------------------------------------------------


def _conf_client(url: str, w: World, tmp_path: Path) -> ConfClient:
    """A gateway's configuration client trusting the registry's anchor."""
    return ConfClient(_anchor(w, url), tmp_path / "gw-cache", clock=w.clock)


def _post(url: str, path: str, obj: object) -> tuple[int, dict[str, str], bytes]:
    return call(url + path, "POST", json.dumps(obj).encode(), TOKEN)


def test_edits_and_removals_reach_the_gateways(served: tuple[str, World], tmp_path: Path) -> None:
    """Each edit/removal over the API is in the next document a configuration client accepts."""
    url, w = served
    client = _conf_client(url, w, tmp_path)
    assert _post(url, "/api/members", {"id": "EE/COM/1", "name": "Company"})[0] == 201
    assert _post(url, "/api/subsystems", {"id": "EE/COM/1/crm"})[0] == 201
    assert _post(url, "/api/groups", {"id": "EE/security-servers"})[0] == 201
    assert _post(url, "/api/groups/EE/security-servers/members", {"client": "EE/COM/1/crm"}
                 )[0] == 200
    conf = asyncio.run(client.refresh()).conf
    assert [g.description for g in conf.global_groups] == ["security-servers"]

    status, _, _ = call(url + "/api/members/EE/COM/1", "PATCH",
                        json.dumps({"name": "Company AS"}).encode(), TOKEN)
    assert status == 200
    status, _, _ = call(url + "/api/groups/EE/security-servers", "PATCH",
                        json.dumps({"description": "All security servers"}).encode(), TOKEN)
    assert status == 200
    conf = asyncio.run(client.refresh()).conf
    assert conf.member(MemberId.parse("EE/COM/1")).name == "Company AS"  # type: ignore[union-attr]
    assert conf.global_groups[0].description == "All security servers"

    status, _, body = call(url + "/api/subsystems/EE/COM/1/crm", "DELETE", token=TOKEN)
    assert status == 200
    assert _json(body)["removed"]["group_memberships"] == [
        {"group": "EE/security-servers", "client": "EE/COM/1/crm"}]
    status, _, _ = call(url + "/api/groups/EE/security-servers", "DELETE", token=TOKEN)
    assert status == 200
    status, _, _ = call(url + "/api/members/EE/COM/1", "DELETE", token=TOKEN)
    assert status == 200
    verified = asyncio.run(client.refresh())
    assert verified.conf.member(MemberId.parse("EE/COM/1")) is None
    assert verified.conf.global_groups == ()
    assert verified.conf.version == w.registry.version()


def test_cascade_is_explicit_over_http(served: tuple[str, World]) -> None:
    """A member with a gateway is refused (400) without ?cascade=true and removed with it."""
    url, w = served
    rid = _json(call(url + "/requests", "POST", w.gateway_request())[2])["id"]
    call(f"{url}/api/requests/{rid}/approve", "POST", b"", TOKEN)
    status, headers, body = call(url + "/api/members/EE/GOV/70000001", "DELETE", token=TOKEN)
    assert (status, headers["x-road-error"]) == (400, "Client.InvalidRequest")
    assert "still has gateway(s) EE/GOV/70000001/gw1" in _json(body)["message"]
    status, _, body = call(url + "/api/members/EE/GOV/70000001?cascade=true", "DELETE",
                           token=TOKEN)
    assert status == 200
    assert _json(body)["removed"]["gateways"] == ["EE/GOV/70000001/gw1"]
    assert call(url + "/api/gateways", token=TOKEN)[2] == b"[]"


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("PATCH", "/api/members/EE/GOV/70000001", {"name": ""}, 400, "Client.InvalidRequest"),
        ("PATCH", "/api/members/EE/GOV/70000001", {"name": "x" * 256}, 400,
         "Client.InvalidRequest"),
        ("PATCH", "/api/members/EE/GOV/70000001", {"name": "a\u0000b"}, 400,
         "Client.InvalidRequest"),
        ("PATCH", "/api/members/EE/GOV/70000001", {"name": "\ud800"}, 400,
         "Client.InvalidRequest"),
        ("PATCH", "/api/members/EE/GOV/70000001", {"name": 5}, 400, "Client.BadRequest"),
        ("PATCH", "/api/members/EE/GOV/70000001", {}, 400, "Client.BadRequest"),
        ("PATCH", "/api/members/EE/GOV/404", {"name": "x"}, 404, "Client.NotFound"),
        ("PATCH", "/api/members/EE/GOV", {"name": "x"}, 400, "Client.InvalidClientIdentifier"),
        ("DELETE", "/api/members/EE/GOV/404", None, 404, "Client.NotFound"),
        ("DELETE", "/api/members/EE/G%20V/1", None, 400, "Client.InvalidClientIdentifier"),
        ("DELETE", "/api/members/EE/GOV/70000001?cascade=maybe", None, 400, "Client.BadRequest"),
        ("DELETE", "/api/subsystems/EE/GOV/70000001/nope", None, 404, "Client.NotFound"),
        ("DELETE", "/api/subsystems/EE/GOV/70000001", None, 400,
         "Client.InvalidClientIdentifier"),
        ("PATCH", "/api/groups/EE/nope", {"description": "x"}, 404, "Client.NotFound"),
        ("DELETE", "/api/groups/EE/nope", None, 404, "Client.NotFound"),
        ("PATCH", "/api/groups/EE/g", {"description": "d" * 1025}, 400, "Client.InvalidRequest"),
        ("PATCH", "/api/groups/EE/g", {"description": " "}, 400, "Client.InvalidRequest"),
        ("POST", "/api/groups", {"id": "EE/h", "description": ""}, 400, "Client.InvalidRequest"),
        ("POST", "/api/members", {"id": "EE/COM/2", "name": "x" * 256}, 400,
         "Client.InvalidRequest"),
    ],
)
def test_bad_edits_get_an_xroad_error_and_change_nothing(
    served: tuple[str, World], method: str, path: str, body: object, status: int, code: str
) -> None:
    """Bad names, unknown or malformed ids: X-Road-Error + JSON, nothing stored."""
    url, w = served
    assert _post(url, "/api/groups", {"id": "EE/g", "description": "a group"})[0] == 201
    before = (w.registry.version(), w.registry.members(), w.registry.groups())
    raw = None if body is None else json.dumps(body).encode()  # \\u escapes for NUL, surrogates
    got, headers, answer = call(url + path, method, raw, TOKEN)
    assert (got, headers.get("x-road-error")) == (status, code)
    assert set(_json(answer)) == {"type", "message", "detail"}
    assert (w.registry.version(), w.registry.members(), w.registry.groups()) == before


@pytest.mark.parametrize(
    ("method", "path"),
    [("PATCH", "/api/members/EE/GOV/70000001"), ("DELETE", "/api/members/EE/GOV/70000001"),
     ("DELETE", "/api/subsystems/EE/GOV/70000001/rr"), ("PATCH", "/api/groups/EE/g"),
     ("DELETE", "/api/groups/EE/g")],
)
def test_edits_need_the_credential(served: tuple[str, World], method: str, path: str) -> None:
    """The new management calls are guarded like the others: 401 without the token."""
    url, w = served
    v = w.registry.version()
    status, headers, _ = call(url + path, method, b'{"name": "x", "description": "x"}',
                              token="wrong")
    assert (status, headers["x-road-error"]) == (401, "Client.Unauthorized")
    assert w.registry.version() == v


# --- the publisher's self-check (docs/spec/globalconf.md §5) ----------------------------------


def _plant(w: World, table: sa.Table, **values: object) -> None:
    """Write a row behind the registry's back and bump the version, as a bad migration,
    an old release or a hand-edit of the database would."""
    with w.registry.engine.begin() as conn:
        conn.execute(table.insert().values(**values))
        conn.execute(t.conf_state.update().values(version=t.conf_state.c.version + 1))


def test_bad_data_keeps_the_last_good_document_and_health_fails(
    served: tuple[str, World], tmp_path: Path
) -> None:
    """A document gateways would refuse is not served; /healthz is 500 with the reason."""
    url, w = served
    client = _conf_client(url, w, tmp_path)
    good = call(url + "/globalconf")[2]
    good_version = asyncio.run(client.refresh()).conf.version
    _plant(w, t.global_groups, id="EE/security-servers", description="")
    status, _, body = call(url + "/globalconf")
    assert (status, body) == (200, good)  # the last good document, not the bad one
    status, _, body = call(url + "/healthz")
    assert status == 500
    health = _json(body)
    assert health["status"] == "failing"
    assert health["serving_version"] == good_version
    assert "global_groups[0].description: must be 1-1024 characters" in health["reason"]
    # Gateways keep verifying what is served (the same version, so nothing new).
    assert asyncio.run(client.refresh()).conf.version == good_version
    # The fix (a command that is now possible) makes the registry healthy again.
    assert call(url + "/api/groups/EE/security-servers", "DELETE", token=TOKEN)[0] == 200
    status, _, body = call(url + "/healthz")
    assert (status, _json(body)["status"]) == (200, "ok")
    assert asyncio.run(client.refresh()).conf.version == w.registry.version() > good_version


def test_bad_identifier_in_database_is_caught(served: tuple[str, World]) -> None:
    """A row that does not even parse is a failed self-check, not a 500 on /globalconf."""
    url, w = served
    good = call(url + "/globalconf")[2]
    _plant(w, t.members, id="EE/not an id", name="x", created_at=w.clock())
    assert call(url + "/globalconf")[:3:2] == (200, good)
    status, _, body = call(url + "/healthz")
    assert status == 500
    assert "member identifier" in _json(body)["reason"]


def test_last_good_document_is_kept_across_refreshes(served: tuple[str, World]) -> None:
    """When the refresh interval passes, a failing rebuild still leaves the last good copy."""
    url, w = served
    good = call(url + "/globalconf")[2]
    _plant(w, t.members, id="EE/COM/77", name="", created_at=w.clock())
    w.clock.advance(61)
    assert call(url + "/globalconf")[2] == good
    assert call(url + "/healthz")[0] == 500


def test_no_good_document_at_all_is_a_500_with_the_reason(world: World, tmp_path: Path) -> None:
    """A registry started on bad data serves no document: X-Road error, health 500."""
    from sild.crypto.keys import key_id, save_private_key

    keys_dir = tmp_path / "keys"
    save_private_key(keys_dir / f"{key_id(world.config_key.public_key())}.key", world.config_key)
    _plant(world, t.members, id="EE/COM/78", name="\n", created_at=world.clock())
    publisher = Publisher(world.registry, keys_dir, anchor=_anchor(world, "http://unused"),
                          clock=world.clock)
    with serve_asgi(create_app(world.registry, publisher, TOKEN)) as url:
        status, headers, body = call(url + "/globalconf")
        assert (status, headers["x-road-error"]) == (500, "Server.MalformedGlobalConf")
        assert "members[0].name: must not contain control characters" in _json(body)["message"]
        status, _, body = call(url + "/healthz")
        assert status == 500
        assert _json(body)["serving_version"] is None


def test_document_signed_by_a_key_the_anchor_does_not_know_is_not_served(
    world: World, tmp_path: Path
) -> None:
    """The self-check trusts the anchor: keys that do not match it fail, and health says so."""
    from sild.core.globalconf import signing_key_of as sk
    from sild.crypto.keys import key_id, save_private_key

    keys_dir = tmp_path / "keys"
    save_private_key(keys_dir / f"{key_id(world.config_key.public_key())}.key", world.config_key)
    stranger = Ed25519PrivateKey.generate()
    anchor = Anchor("EE", world.clock(), ("http://unused/globalconf",), (sk(stranger),))
    publisher = Publisher(world.registry, keys_dir, anchor=anchor, clock=world.clock)
    with serve_asgi(create_app(world.registry, publisher, TOKEN)) as url:
        status, _, body = call(url + "/healthz")
        assert status == 500
        assert "signed by unknown key" in _json(body)["reason"]
