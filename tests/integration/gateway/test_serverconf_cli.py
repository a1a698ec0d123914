"""`sild gateway service …` and `sild gateway local-group …` round trips through main()."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sild.cli import main
from sild.core.globalconf import GlobalConf, GlobalGroupEntry
from sild.core.identifiers import GlobalGroupId, ServerId, ServiceId, SubsystemId
from sild.errors import AccessDenied
from sild.gateway.config import GatewaySettings
from sild.gateway.serverconf.store import ServerConf, ServiceDisabled
from sild.store import make_engine, migrate

SUB = "EE/GOV/70000001/registry"
SVC = f"{SUB}/persons"
CLIENT = SubsystemId.parse("EE/COM/12345678/shop")
MEMBER_OF_GROUP = SubsystemId.parse("EE/COM/555/app")
PARTNER = SubsystemId.parse("EE/COM/777/crm")


@pytest.fixture
def gwdir(tmp_path: Path, db_url: str) -> str:
    """A gateway folder whose settings point at the test database."""
    root = tmp_path / "gw"
    GatewaySettings(root=root, server=ServerId.parse("EE/GOV/70000001/gw1"),
                    database_url=db_url).write()
    return str(root)


def sild(*args: str) -> int:
    return main(list(args))


def conf() -> GlobalConf:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    group = GlobalGroupEntry(GlobalGroupId("EE", "trusted"), "", (MEMBER_OF_GROUP,))
    return GlobalConf(instance="EE", version=1, issued_at=when, expires_at=when.replace(day=2),
                      refresh_interval=60, signing_keys=(), global_groups=(group,))


@pytest.fixture
def gateway_view(gwdir: str) -> Iterator[ServerConf]:
    """The gateway's own ServerConf on the same database, with no cache delay."""
    engine = make_engine(GatewaySettings.load(Path(gwdir)).database_url)
    migrate(engine, "serverconf")
    yield ServerConf(engine, ttl=0)
    engine.dispose()


def test_service_round_trip(gwdir: str, tmp_path: Path, gateway_view: ServerConf,
                            capsys: pytest.CaptureFixture[str]) -> None:
    """add → endpoint-add → grant (client, global, local) → list → check, as a gateway sees it."""
    spec = tmp_path / "pets.json"
    spec.write_text(json.dumps({"openapi": "3.0.0", "info": {}, "paths": {
        "/pets/{id}": {"get": {}}}}))
    assert sild("gateway", "service", "add", SUB, "persons", "http://127.0.0.1:9/api",
                "--timeout", "7", "--dir", gwdir) == 0
    assert sild("gateway", "service", "add", SUB, "pets", "https://is.example/",
                "--openapi", str(spec), "--no-verify-tls", "--dir", gwdir) == 0
    assert sild("gateway", "service", "endpoint-add", SVC, "get", "/persons/*",
                "--dir", gwdir) == 0
    assert sild("gateway", "service", "grant", SVC, str(CLIENT), "--endpoint",
                "GET /persons/*", "--dir", gwdir) == 0
    assert sild("gateway", "service", "grant", SVC, "group:EE/trusted", "--dir", gwdir) == 0
    assert sild("gateway", "local-group", "add", SUB, "partners", "--dir", gwdir) == 0
    assert sild("gateway", "local-group", "add-member", SUB, "partners", str(PARTNER),
                "--dir", gwdir) == 0
    assert sild("gateway", "service", "grant", f"{SUB}/pets", "local:partners",
                "--dir", gwdir) == 0
    capsys.readouterr()
    assert sild("gateway", "service", "list", SUB, "--dir", gwdir) == 0
    out = capsys.readouterr().out
    for text in ("persons", "GET /persons/*", f"subsystem {CLIENT} [GET /persons/*]",
                 "globalgroup EE/trusted", "localgroup partners", "NO VERIFY", "OPENAPI"):
        assert text in out
    assert sild("gateway", "local-group", "list", "--dir", gwdir) == 0
    assert str(PARTNER) in capsys.readouterr().out

    sc, persons = gateway_view, ServiceId.parse(SVC)
    assert sc.check_access(persons, CLIENT, "GET", "/persons/1", conf()).timeout == 7
    sc.check_access(persons, MEMBER_OF_GROUP, "POST", "/anything", conf())
    sc.check_access(ServiceId.parse(f"{SUB}/pets"), PARTNER, "GET", "/pets/1", conf())
    with pytest.raises(AccessDenied):
        sc.check_access(persons, CLIENT, "POST", "/persons/1", conf())


def test_revoke_disable_enable_remove(gwdir: str, gateway_view: ServerConf) -> None:
    """revoke, disable/enable and remove change what the gateway allows."""
    assert sild("gateway", "service", "add", SUB, "persons", "http://is/", "--dir", gwdir) == 0
    assert sild("gateway", "service", "grant", SVC, str(CLIENT), "--dir", gwdir) == 0
    sc, persons = gateway_view, ServiceId.parse(SVC)
    sc.check_access(persons, CLIENT, "GET", "/", conf())
    assert sild("gateway", "service", "disable", SVC, "--notice", "back at 14:00",
                "--dir", gwdir) == 0
    with pytest.raises(ServiceDisabled, match="back at 14:00"):
        sc.check_access(persons, CLIENT, "GET", "/", conf())
    assert sild("gateway", "service", "enable", SVC, "--dir", gwdir) == 0
    sc.check_access(persons, CLIENT, "GET", "/", conf())
    assert sild("gateway", "service", "revoke", SVC, str(CLIENT), "--dir", gwdir) == 0
    with pytest.raises(AccessDenied):
        sc.check_access(persons, CLIENT, "GET", "/", conf())
    assert sild("gateway", "service", "remove", SVC, "--dir", gwdir) == 0
    assert sc.services() == []


@pytest.mark.parametrize(("argv", "code", "message"), [
    (["service", "add", "EE/GOV/1", "x", "http://is/"], 2, "subsystem identifier"),
    (["service", "add", SUB, "x", "ftp://is/"], 2, "http:// or https://"),
    (["service", "add", SUB, "x", "http://is/", "--timeout", "0"], 2, "timeout"),
    (["service", "add", SUB, "x", "http://is/", "--openapi", "/nonexistent.json"], 1,
     "cannot read"),
    (["service", "remove", SVC], 2, "Unknown service"),
    (["service", "grant", SVC, "group:EE"], 2, "global group identifier"),
    (["service", "grant", SVC, "local:a b"], 2, "local group code"),
    (["service", "endpoint-add", SVC, "FETCH", "/x"], 2, "endpoint method"),
    (["local-group", "add-member", SUB, "nope", str(CLIENT)], 1, "does not exist"),
])
def test_bad_input_is_one_line(gwdir: str, capsys: pytest.CaptureFixture[str],
                               argv: list[str], code: int, message: str) -> None:
    """Bad input gives a one-line error and exit code 2 (input) or 1 (our state)."""
    assert sild("gateway", *argv, "--dir", gwdir) == code
    err = capsys.readouterr().err
    assert err.startswith("sild: error:")
    assert message in err
    assert "Traceback" not in err


def test_malformed_openapi_file(gwdir: str, tmp_path: Path, gateway_view: ServerConf,
                                capsys: pytest.CaptureFixture[str]) -> None:
    """A malformed OpenAPI file is refused naming the problem; no service is created."""
    bad = tmp_path / "bad.json"
    bad.write_text('{"openapi": "3.0.0", "paths": {"pets": {"get": {}}}}')
    assert sild("gateway", "service", "add", SUB, "pets", "http://is/", "--openapi", str(bad),
                "--dir", gwdir) == 2
    assert "must start with /" in capsys.readouterr().err
    assert gateway_view.services() == []


def test_not_a_gateway_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--dir pointing at an empty folder is a one-line ConfigurationError."""
    assert sild("gateway", "service", "list", "--dir", str(tmp_path)) == 1
    assert "is not a gateway folder" in capsys.readouterr().err

