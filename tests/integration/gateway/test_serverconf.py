"""ServerConf on SQLite and PostgreSQL: services, rights, groups, cache, metaservices."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from structlog.testing import capture_logs

from sild.core.access import Endpoint, LocalGroupId, parse_subject
from sild.core.globalconf import GlobalConf, GlobalGroupEntry
from sild.core.identifiers import GlobalGroupId, MemberId, ServiceId, SubsystemId
from sild.errors import AccessDenied, DuplicateEntry, InvalidRequest, NotFound, xroad_code_at
from sild.gateway.serverconf.store import (
    InvalidServiceType,
    ServerConf,
    ServiceDisabled,
    UnknownService,
)
from sild.store import make_engine, migrate

PROVIDER = SubsystemId(MemberId("EE", "GOV", "70000001"), "registry")
CLIENT = SubsystemId(MemberId("EE", "COM", "12345678"), "shop")
STRANGER = SubsystemId(MemberId("EE", "COM", "87654321"), "crm")
SVC = ServiceId(PROVIDER, "persons")
GROUP = GlobalGroupId("EE", "trusted")

PETSTORE = json.dumps({
    "openapi": "3.0.3",
    "info": {"title": "pets", "version": "1"},
    "paths": {
        "/pets": {"get": {}, "post": {}, "summary": "not an operation"},
        "/pets/{petId}": {"get": {}, "delete": {}},
    },
}).encode()


def make_conf(*members: SubsystemId) -> GlobalConf:
    """A real global configuration whose group 'trusted' holds ``members``."""
    when = datetime(2026, 1, 1, tzinfo=UTC)
    return GlobalConf(instance="EE", version=1, issued_at=when,
                      expires_at=datetime(2026, 1, 2, tzinfo=UTC), refresh_interval=60,
                      signing_keys=(),
                      global_groups=(GlobalGroupEntry(GROUP, "trusted", members),))


@pytest.fixture
def sc(db_url: str) -> Iterator[ServerConf]:
    engine = make_engine(db_url)
    migrate(engine, "serverconf")
    yield ServerConf(engine)
    engine.dispose()


def test_unknown_service(sc: ServerConf) -> None:
    """A service that was never added is UnknownService, reported as ServerProxy."""
    with pytest.raises(UnknownService) as e:
        sc.check_access(SVC, CLIENT, "GET", "/x", make_conf())
    assert xroad_code_at(e.value, "ServerProxy") == "Server.ServerProxy.UnknownService"
    assert e.value.message == f"Unknown service: SERVICE:{SVC}"


def test_deny_by_default(sc: ServerConf) -> None:
    """A fresh service with no rights refuses everyone with X-Road's message."""
    sc.add_service(PROVIDER, "persons", "http://127.0.0.1:9/api")
    with pytest.raises(AccessDenied) as e:
        sc.check_access(SVC, CLIENT, "GET", "/x", make_conf())
    assert xroad_code_at(e.value, "ServerProxy") == "Server.ServerProxy.AccessDenied"
    assert e.value.message == f"Request is not allowed: SERVICE:{SVC}"


def test_service_level_grant(sc: ServerConf) -> None:
    """A service-level grant allows every method and path, for that client only."""
    sc.add_service(PROVIDER, "persons", "https://is.example/api", timeout=5)
    sc.grant(SVC, CLIENT)
    desc = sc.check_access(SVC, CLIENT, "DELETE", "/a/b", make_conf())
    assert (desc.url, desc.timeout, desc.verify_tls) == ("https://is.example/api", 5, True)
    with pytest.raises(AccessDenied):
        sc.check_access(SVC, STRANGER, "GET", "/a", make_conf())


def test_endpoint_grant_needs_a_defined_endpoint(sc: ServerConf) -> None:
    """Granting on an endpoint that the service does not define is NotFound."""
    sc.add_service(PROVIDER, "persons", "http://is/api")
    with pytest.raises(NotFound):
        sc.grant(SVC, CLIENT, Endpoint("GET", "/persons/*"))


def test_endpoint_level_grant(sc: ServerConf) -> None:
    """An endpoint grant allows only matching method and path."""
    sc.add_service(PROVIDER, "persons", "http://is/api")
    sc.add_endpoint(SVC, Endpoint("GET", "/persons/*"))
    sc.grant(SVC, CLIENT, Endpoint("GET", "/persons/*"))
    sc.check_access(SVC, CLIENT, "GET", "/persons/38001010000", make_conf())
    for method, path in [("POST", "/persons/1"), ("GET", "/persons/1/x"), ("GET", "/other")]:
        with pytest.raises(AccessDenied):
            sc.check_access(SVC, CLIENT, method, path, make_conf())


def test_revoke_removes_exactly_that_right(sc: ServerConf) -> None:
    """Revoking the service-level right denies again; revoking twice is NotFound."""
    sc.add_service(PROVIDER, "persons", "http://is/api")
    sc.grant(SVC, CLIENT)
    with pytest.raises(DuplicateEntry):
        sc.grant(SVC, CLIENT)
    sc.revoke(SVC, CLIENT)
    with pytest.raises(AccessDenied):
        sc.check_access(SVC, CLIENT, "GET", "/", make_conf())
    with pytest.raises(NotFound):
        sc.revoke(SVC, CLIENT)


def test_global_group_grant(sc: ServerConf) -> None:
    """A global-group grant follows the group's members in the global configuration."""
    sc.add_service(PROVIDER, "persons", "http://is/api")
    sc.grant(SVC, GROUP)
    sc.check_access(SVC, CLIENT, "GET", "/x", make_conf(CLIENT))
    with pytest.raises(AccessDenied):
        sc.check_access(SVC, CLIENT, "GET", "/x", make_conf(STRANGER))


def test_local_group_grant(sc: ServerConf) -> None:
    """A local-group grant admits members added later, and only them."""
    sc.add_service(PROVIDER, "persons", "http://is/api")
    sc.add_local_group(PROVIDER, "partners", "our partners")
    sc.grant(SVC, LocalGroupId("partners"))
    with pytest.raises(AccessDenied):
        sc.check_access(SVC, CLIENT, "GET", "/x", make_conf())
    sc.add_local_group_member(PROVIDER, "partners", CLIENT)
    sc.check_access(SVC, CLIENT, "GET", "/x", make_conf())
    with pytest.raises(AccessDenied):
        sc.check_access(SVC, STRANGER, "GET", "/x", make_conf())
    [group] = sc.local_groups(PROVIDER)
    assert (group.code, group.description, group.members) == ("partners", "our partners",
                                                              (CLIENT,))


def test_grant_to_missing_local_group_is_refused(sc: ServerConf) -> None:
    """A local group must exist in the service's subsystem before it is granted."""
    sc.add_service(PROVIDER, "persons", "http://is/api")
    with pytest.raises(NotFound):
        sc.grant(SVC, LocalGroupId("nobody"))


def test_disabled_service(sc: ServerConf) -> None:
    """A disabled service refuses allowed clients with the notice; enabling restores it."""
    sc.add_service(PROVIDER, "persons", "http://is/api")
    sc.grant(SVC, CLIENT)
    sc.set_disabled(SVC, True, notice="maintenance until 14:00")
    with pytest.raises(ServiceDisabled) as e:
        sc.check_access(SVC, CLIENT, "GET", "/x", make_conf())
    assert "maintenance until 14:00" in e.value.message
    assert xroad_code_at(e.value, "ServerProxy") == "Server.ServerProxy.ServiceDisabled"
    with pytest.raises(AccessDenied):  # X-Road checks access before the disabled state
        sc.check_access(SVC, STRANGER, "GET", "/x", make_conf())
    sc.set_disabled(SVC, False)
    sc.check_access(SVC, CLIENT, "GET", "/x", make_conf())


@pytest.mark.parametrize("url", ["ftp://is/api", "is/api", "http:///nohost", "http://is:99999/",
                                 "http://is/a b"])
def test_bad_urls_are_refused(sc: ServerConf, url: str) -> None:
    """Only absolute http(s) URLs with a host are accepted."""
    with pytest.raises(InvalidRequest):
        sc.add_service(PROVIDER, "persons", url)


def test_duplicate_service_is_refused(sc: ServerConf) -> None:
    """The same service code twice in one subsystem is DuplicateEntry."""
    sc.add_service(PROVIDER, "persons", "http://is/api")
    with pytest.raises(DuplicateEntry):
        sc.add_service(PROVIDER, "persons", "http://is/other")


def test_openapi_import(sc: ServerConf) -> None:
    """Every path+method of the OpenAPI description becomes an endpoint; templates become *."""
    desc = sc.add_service(PROVIDER, "pets", "http://is/", openapi=PETSTORE)
    assert [str(e) for e in desc.endpoints] == [
        "DELETE /pets/*", "GET /pets", "GET /pets/*", "POST /pets"]
    assert desc.service_type == "OPENAPI"
    doc = sc.openapi(PROVIDER, "pets")
    assert (json.loads(doc.text), doc.media_type) == (json.loads(PETSTORE), "application/json")


def test_openapi_yaml_import(sc: ServerConf) -> None:
    """A YAML description is accepted and served back as YAML."""
    yaml_doc = b"openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    put: {}\n"
    desc = sc.add_service(PROVIDER, "a", "http://is/", openapi=yaml_doc)
    assert desc.endpoints == (Endpoint("PUT", "/a"),)
    assert sc.openapi(PROVIDER, "a").media_type == "application/yaml"


@pytest.mark.parametrize(("doc", "problem"), [
    (b"{not json", "neither JSON nor YAML"),
    (b"[1, 2]", "object at the top level"),
    (b'{"swagger": "2.0", "paths": {}}', "swagger 2.0"),
    (b'{"openapi": "3.0.0"}', "no 'paths'"),
    (b'{"openapi": "3.0.0", "paths": {"pets": {"get": {}}}}', "must start with /"),
    (b'{"openapi": "3.0.0", "paths": {"/p": []}}', "must be an object"),
    (b"\xff\xfe", "not UTF-8"),
])
def test_malformed_openapi_is_refused(sc: ServerConf, doc: bytes, problem: str) -> None:
    """A malformed description is InvalidRequest naming the problem, and nothing is stored."""
    with pytest.raises(InvalidRequest, match=problem):
        sc.add_service(PROVIDER, "pets", "http://is/", openapi=doc)
    assert sc.services() == []


def test_openapi_of_plain_rest_service(sc: ServerConf) -> None:
    """getOpenAPI for a service without a description is ServiceType; unknown is UnknownService."""
    sc.add_service(PROVIDER, "persons", "http://is/api")
    with pytest.raises(InvalidServiceType):
        sc.openapi(PROVIDER, "persons")
    with pytest.raises(UnknownService):
        sc.openapi(PROVIDER, "nothing")


def test_remove_service_removes_rights(sc: ServerConf) -> None:
    """A removed and re-added service starts again with no rights."""
    sc.add_service(PROVIDER, "persons", "http://is/api")
    sc.grant(SVC, CLIENT)
    sc.remove_service(SVC)
    sc.add_service(PROVIDER, "persons", "http://is/api")
    with pytest.raises(AccessDenied):
        sc.check_access(SVC, CLIENT, "GET", "/x", make_conf())


def test_list_methods_shape(sc: ServerConf) -> None:
    """listMethods returns X-Road's REST metadata JSON for each service."""
    sc.add_service(PROVIDER, "pets", "http://is/", openapi=PETSTORE)
    sc.add_service(PROVIDER, "persons", "http://is/api")
    sc.add_endpoint(SVC, Endpoint("GET", "/persons/*"))
    data = sc.list_methods(PROVIDER)
    assert data["service"][0] == {
        "member_class": "GOV", "member_code": "70000001", "object_type": "SERVICE",
        "service_code": "persons", "service_type": "REST", "subsystem_code": "registry",
        "xroad_instance": "EE", "endpoint_list": [{"method": "GET", "path": "/persons/*"}]}
    assert [s["service_type"] for s in data["service"]] == ["REST", "OPENAPI"]
    assert sc.list_methods(CLIENT) == {"service": []}


def test_allowed_methods_lists_only_what_the_client_may_call(sc: ServerConf) -> None:
    """allowedMethods omits services without rights and filters endpoints by rights."""
    sc.add_service(PROVIDER, "pets", "http://is/", openapi=PETSTORE)
    sc.add_service(PROVIDER, "persons", "http://is/api")
    sc.grant(ServiceId(PROVIDER, "pets"), CLIENT, Endpoint("GET", "/pets/*"))
    data = sc.allowed_methods(PROVIDER, CLIENT, make_conf())
    assert [(s["service_code"], s["endpoint_list"]) for s in data["service"]] == [
        ("pets", [{"method": "GET", "path": "/pets/*"}])]
    assert sc.allowed_methods(PROVIDER, STRANGER, make_conf()) == {"service": []}


def test_changes_from_another_process_show_after_ttl(db_url: str) -> None:
    """A second ServerConf (another process) sees a grant once its TTL has passed."""
    engine = make_engine(db_url)
    migrate(engine, "serverconf")
    now = [100.0]
    gateway = ServerConf(engine, ttl=2.0, clock=lambda: now[0])
    cli = ServerConf(engine)
    cli.add_service(PROVIDER, "persons", "http://is/api")
    with pytest.raises(AccessDenied):
        gateway.check_access(SVC, CLIENT, "GET", "/x", make_conf())
    cli.grant(SVC, CLIENT)
    now[0] += 1.0
    with pytest.raises(AccessDenied):  # still within the TTL: the cached snapshot answers
        gateway.check_access(SVC, CLIENT, "GET", "/x", make_conf())
    now[0] += 1.5
    gateway.check_access(SVC, CLIENT, "GET", "/x", make_conf())
    engine.dispose()


def test_own_changes_show_at_once(sc: ServerConf) -> None:
    """A change through the same object invalidates its cache immediately."""
    sc.ttl = 3600
    sc.add_service(PROVIDER, "persons", "http://is/api")
    with pytest.raises(AccessDenied):
        sc.check_access(SVC, CLIENT, "GET", "/x", make_conf())
    sc.grant(SVC, CLIENT)
    sc.check_access(SVC, CLIENT, "GET", "/x", make_conf())


def test_unverified_tls_warns_on_use(sc: ServerConf) -> None:
    """A service added with verify_tls=False logs a warning each time it is used."""
    sc.add_service(PROVIDER, "persons", "https://is/api", verify_tls=False)
    sc.add_service(PROVIDER, "safe", "https://is/api")
    sc.grant(SVC, CLIENT)
    sc.grant(ServiceId(PROVIDER, "safe"), CLIENT)
    with capture_logs() as logs:
        sc.check_access(SVC, CLIENT, "GET", "/x", make_conf())
        sc.check_access(SVC, CLIENT, "GET", "/x", make_conf())
        sc.check_access(ServiceId(PROVIDER, "safe"), CLIENT, "GET", "/x", make_conf())
    warned = [e for e in logs if e["event"] == "service_tls_unverified"]
    assert [(e["log_level"], e["service"]) for e in warned] == [("warning", str(SVC))] * 2


def test_hot_path_reads_no_database_while_kept_fresh(db_url: str) -> None:
    """With keep_fresh running, check_access issues no SQL; another process's change
    (a second ServerConf, as the CLI) is seen after the next refresh (access.md §5)."""
    import asyncio
    import threading

    import sqlalchemy as sa

    engine = make_engine(db_url)
    migrate(engine, "serverconf")
    ticks = [0.0]
    gateway = ServerConf(engine, ttl=0.2, clock=lambda: ticks[0])
    cli = ServerConf(engine)
    cli.add_service(PROVIDER, "persons", "http://127.0.0.1:9/", timeout=5)
    statements: list[str] = []
    loop_thread = threading.get_ident()

    def count(*args: object) -> None:  # only what runs on the event loop's thread
        if threading.get_ident() == loop_thread:
            statements.append(str(args[2]))

    async def scenario() -> None:
        stop = asyncio.Event()
        ready = asyncio.Event()
        task = asyncio.create_task(gateway.keep_fresh(stop, ready))
        # its first refresh, in a worker thread (a fixed 0.1 s wait failed on loaded CI)
        await asyncio.wait_for(ready.wait(), 30)
        sa.event.listen(engine, "before_cursor_execute", count)
        try:
            for _ in range(5):  # each call past the ttl: a reader without keep_fresh
                ticks[0] += 10.0  # would check the stored version here
                with pytest.raises(AccessDenied):
                    gateway.check_access(SVC, CLIENT, "GET", "/x", make_conf())
            handler_sql = list(statements)
        finally:
            sa.event.remove(engine, "before_cursor_execute", count)
        assert handler_sql == []
        await asyncio.to_thread(cli.grant, SVC, parse_subject(str(CLIENT)))
        for _ in range(100):  # seen within a few refresh periods
            try:
                gateway.check_access(SVC, CLIENT, "GET", "/x", make_conf())
                break
            except AccessDenied:
                await asyncio.sleep(0.02)
        else:
            pytest.fail("the change made elsewhere was never seen")
        stop.set()
        await task

    try:
        asyncio.run(scenario())
    finally:
        engine.dispose()
