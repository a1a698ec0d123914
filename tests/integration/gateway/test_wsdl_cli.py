"""`sild gateway service add --wsdl URL|FILE`, the stored services and getWsdl, on SQLite
and PostgreSQL; every bad input is one line and stores nothing (docs/spec/wsdl.md §4)."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from sild.cli import main
from sild.core.globalconf import GlobalConf
from sild.core.identifiers import ServerId, ServiceId, SubsystemId
from sild.errors import (
    AccessDenied,
    ConfigurationError,
    InvalidServiceType,
    UnknownService,
    WsdlDownloadFailed,
)
from sild.gateway.config import GatewaySettings
from sild.gateway.serverconf.store import ServerConf
from sild.soap.wsdl import MAX_WSDL_BYTES, XROAD_ENDPOINT, parse_wsdl
from sild.soap.wsdl_source import read_wsdl
from sild.store import make_engine, migrate
from sild.store import serverconf_tables as t
from sild.testing.wsdl import SAMPLE_WSDL, sample_wsdl

SUB = "EE/GOV/70000001/rr"
SUBSYSTEM = SubsystemId.parse(SUB)
GET_PERSON = ServiceId(SUBSYSTEM, "getPerson")
LIST_PERSONS = ServiceId(SUBSYSTEM, "listPersons")
CLIENT = SubsystemId.parse("EE/COM/12345678/shop")


@pytest.fixture
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """SQLite; PostgreSQL too for the tests marked BOTH (storage semantics)."""
    if getattr(request, "param", "sqlite") == "sqlite":
        return f"sqlite:///{tmp_path}/test.db"
    url: str = request.getfixturevalue("pg_url")
    return url


# Each PostgreSQL test creates a database (~3 s): only storage behaviour runs on both.
BOTH = pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
    indirect=True)


@pytest.fixture
def gwdir(tmp_path: Path, database: str) -> str:
    """A gateway folder whose settings point at the test database."""
    root = tmp_path / "gw"
    GatewaySettings(root=root, server=ServerId.parse("EE/GOV/70000001/gw1"),
                    database_url=database).write()
    return str(root)


@pytest.fixture
def sc(gwdir: str) -> Iterator[ServerConf]:
    """The gateway's own ServerConf on the same database, with no cache delay."""
    engine = make_engine(GatewaySettings.load(Path(gwdir)).database_url)
    migrate(engine, "serverconf")
    yield ServerConf(engine, ttl=0)
    engine.dispose()


@pytest.fixture
def wsdl_file(tmp_path: Path) -> Path:
    path = tmp_path / "rr.wsdl"
    path.write_bytes(sample_wsdl("http://is.example:8000/rr"))
    return path


@pytest.fixture
def wsdl_server() -> Iterator[str]:
    """A plain HTTP server on loopback: /rr.wsdl is the sample WSDL, anything else 404."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/big.wsdl":
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b" " * (MAX_WSDL_BYTES + 1))
                return
            if self.path != "/rr.wsdl":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/xml")
            self.end_headers()
            self.wfile.write(SAMPLE_WSDL)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.handle_error = lambda *args: None  # type: ignore[method-assign]  # client gave up
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def sild(*args: str) -> int:
    return main(list(args))


def _conf() -> GlobalConf:
    from datetime import UTC, datetime

    when = datetime(2026, 1, 1, tzinfo=UTC)
    return GlobalConf(instance="EE", version=1, issued_at=when, expires_at=when.replace(day=2),
                      refresh_interval=60, signing_keys=(), global_groups=())


def _count(sc: ServerConf, table: sa.Table) -> int:
    with sc.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() or 0)


@BOTH
def test_each_operation_becomes_a_service(gwdir: str, wsdl_file: Path, sc: ServerConf,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """--wsdl FILE adds getPerson (version v1) and listPersons at the WSDL's address."""
    assert sild("gateway", "service", "add", SUB, "--wsdl", str(wsdl_file), "--dir", gwdir) == 0
    out = capsys.readouterr().out
    assert "added 2 SOAP services" in out
    assert f"{GET_PERSON} (version v1)" in out
    services = {d.id: d for d in sc.services(SUBSYSTEM)}
    assert set(services) == {GET_PERSON, LIST_PERSONS}
    assert services[GET_PERSON].service_version == "v1"
    assert services[LIST_PERSONS].service_version is None
    assert {d.url for d in services.values()} == {"http://is.example:8000/rr"}
    assert {d.service_type for d in services.values()} == {"WSDL"}


def test_list_shows_the_version_and_type(gwdir: str, wsdl_file: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """`service list` shows each operation with its version and type WSDL."""
    assert sild("gateway", "service", "add", SUB, "--wsdl", str(wsdl_file), "--dir", gwdir) == 0
    capsys.readouterr()
    assert sild("gateway", "service", "list", SUB, "--dir", gwdir) == 0
    out = capsys.readouterr().out
    assert "getPerson (version v1)" in out
    assert "WSDL" in out


def test_url_option_overrides_the_address(gwdir: str, wsdl_file: Path, sc: ServerConf) -> None:
    """--url replaces the WSDL's soap:address as the provider IS URL."""
    assert sild("gateway", "service", "add", SUB, "--wsdl", str(wsdl_file),
                "--url", "https://other.example/soap", "--dir", gwdir) == 0
    assert sc.service(GET_PERSON).url == "https://other.example/soap"


def test_wsdl_from_a_url(gwdir: str, wsdl_server: str, sc: ServerConf) -> None:
    """--wsdl URL downloads the WSDL over HTTP."""
    assert sild("gateway", "service", "add", SUB, "--wsdl", f"{wsdl_server}/rr.wsdl",
                "--dir", gwdir) == 0
    assert {d.id for d in sc.services(SUBSYSTEM)} == {GET_PERSON, LIST_PERSONS}


def test_access_rights_are_per_operation(gwdir: str, wsdl_file: Path, sc: ServerConf) -> None:
    """A grant on getPerson allows it and leaves listPersons denied."""
    assert sild("gateway", "service", "add", SUB, "--wsdl", str(wsdl_file), "--dir", gwdir) == 0
    assert sild("gateway", "service", "grant", str(GET_PERSON), str(CLIENT), "--dir", gwdir) == 0
    assert sc.check_access(GET_PERSON, CLIENT, "POST", "", _conf()).id == GET_PERSON
    with pytest.raises(AccessDenied):
        sc.check_access(LIST_PERSONS, CLIENT, "POST", "", _conf())


@BOTH
def test_get_wsdl_serves_the_rewritten_document(gwdir: str, wsdl_file: Path,
                                                sc: ServerConf) -> None:
    """getWsdl answers with the WSDL, its address rewritten to the X-Road endpoint."""
    assert sild("gateway", "service", "add", SUB, "--wsdl", str(wsdl_file), "--dir", gwdir) == 0
    served = sc.wsdl(SUBSYSTEM, "getPerson", "v1")
    assert b"is.example" not in served
    assert XROAD_ENDPOINT.encode() in served
    assert parse_wsdl(served).operations == parse_wsdl(wsdl_file.read_bytes()).operations


def test_get_wsdl_of_a_wrong_version_is_unknown(gwdir: str, wsdl_file: Path,
                                                sc: ServerConf) -> None:
    """getWsdl for a version the service does not have is UnknownService."""
    assert sild("gateway", "service", "add", SUB, "--wsdl", str(wsdl_file), "--dir", gwdir) == 0
    with pytest.raises(UnknownService):
        sc.wsdl(SUBSYSTEM, "getPerson", "v2")


def test_get_wsdl_of_a_rest_service_is_a_service_type_error(sc: ServerConf) -> None:
    """getWsdl for a REST service is X-Road's ServiceType error."""
    sc.add_service(SUBSYSTEM, "persons", "http://is.example/")
    with pytest.raises(InvalidServiceType):
        sc.wsdl(SUBSYSTEM, "persons")


@BOTH
def test_removing_the_last_operation_drops_the_document(gwdir: str, wsdl_file: Path,
                                                        sc: ServerConf) -> None:
    """The stored WSDL goes when none of its operations is a service any more."""
    assert sild("gateway", "service", "add", SUB, "--wsdl", str(wsdl_file), "--dir", gwdir) == 0
    sc.remove_service(GET_PERSON)
    assert _count(sc, t.sc_wsdls) == 1
    sc.remove_service(LIST_PERSONS)
    assert _count(sc, t.sc_wsdls) == 0


def _bad(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize(("make", "code", "message"), [
    (lambda p, u: str(p / "missing.wsdl"), 1, "No such file"),
    (lambda p, u: str(p), 1, "is a folder"),
    (lambda p, u: _bad(p, "bin.wsdl", bytes(range(256))), 2, "not well-formed"),
    (lambda p, u: _bad(p, "x.json", b'{"openapi": "3.0.0"}'), 2, "not well-formed"),
    (lambda p, u: _bad(p, "h.xml", b"<html/>"), 2, "not a WSDL 1.1 document"),
    (lambda p, u: _bad(p, "xxe.wsdl", b'<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                       b"<d>&x;</d>"), 2, "DOCTYPE"),
    (lambda p, u: _bad(p, "rpc.wsdl", sample_wsdl(style="rpc")), 2, "rpc-style"),
    (lambda p, u: _bad(p, "bad-addr.wsdl", sample_wsdl("ftp://is/")), 2, "http:// or https://"),
    (lambda p, u: "http://127.0.0.1:9/rr.wsdl", 3, "cannot download"),
    (lambda p, u: f"{u}/nope.wsdl", 3, "HTTP 404"),
])
def test_bad_wsdl_is_one_line_and_stores_nothing(
        gwdir: str, tmp_path: Path, wsdl_server: str, sc: ServerConf,
        capsys: pytest.CaptureFixture[str], make: object, code: int, message: str) -> None:
    """Missing file, folder, binary, not WSDL, XXE, rpc, bad address, unreachable, 404."""
    source = make(tmp_path, wsdl_server)  # type: ignore[operator]
    assert sild("gateway", "service", "add", SUB, "--wsdl", source, "--dir", gwdir) == code
    err = capsys.readouterr().err
    assert err.startswith("sild: error:")
    assert message in err
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert (_count(sc, t.sc_services), _count(sc, t.sc_wsdls)) == (0, 0)


@BOTH
def test_duplicate_operation_stores_nothing(gwdir: str, wsdl_file: Path, sc: ServerConf,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """An operation whose code already exists refuses the whole WSDL."""
    sc.add_service(SUBSYSTEM, "listPersons", "http://is.example/")
    assert sild("gateway", "service", "add", SUB, "--wsdl", str(wsdl_file), "--dir", gwdir) == 2
    assert "listPersons" in capsys.readouterr().err
    assert (_count(sc, t.sc_services), _count(sc, t.sc_wsdls)) == (1, 0)


def test_wsdl_without_address_needs_url(gwdir: str, tmp_path: Path, sc: ServerConf,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """No soap:address and no --url: refused, naming --url."""
    raw = SAMPLE_WSDL.replace(b'<soap:address location="http://127.0.0.1:9/persons"/>', b"")
    source = _bad(tmp_path, "noaddr.wsdl", raw)
    assert sild("gateway", "service", "add", SUB, "--wsdl", source, "--dir", gwdir) == 2
    assert "--url" in capsys.readouterr().err
    assert _count(sc, t.sc_services) == 0


@pytest.mark.parametrize(("argv", "message"), [
    (["getPerson", "--wsdl", "x.wsdl"], "give no CODE or URL"),
    (["--wsdl", "x.wsdl", "--openapi", "o.json"], "exclude each other"),
    ([], "give CODE and URL"),
    (["c", "http://is/", "--url", "http://x/"], "--url goes with --wsdl"),
])
def test_wrong_argument_combinations(gwdir: str, capsys: pytest.CaptureFixture[str],
                                     argv: list[str], message: str) -> None:
    """CODE/URL with --wsdl, --wsdl with --openapi, nothing, --url without --wsdl: refused."""
    assert sild("gateway", "service", "add", SUB, *argv, "--dir", gwdir) == 1
    assert message in capsys.readouterr().err


def test_list_methods_names_type_and_version(gwdir: str, wsdl_file: Path,
                                             sc: ServerConf) -> None:
    """listMethods shows the operations as WSDL services, with service_version if any."""
    assert sild("gateway", "service", "add", SUB, "--wsdl", str(wsdl_file), "--dir", gwdir) == 0
    listed = {s["service_code"]: s for s in sc.list_methods(SUBSYSTEM)["service"]}
    assert listed["getPerson"]["service_type"] == "WSDL"
    assert listed["getPerson"]["service_version"] == "v1"
    assert "service_version" not in listed["listPersons"]


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    """A WSDL file over the size limit is refused before it is read."""
    big = tmp_path / "big.wsdl"
    with big.open("wb") as f:
        f.truncate(MAX_WSDL_BYTES + 1)
    with pytest.raises(ConfigurationError, match="larger than"):
        read_wsdl(str(big))


def test_oversized_download_is_refused(wsdl_server: str) -> None:
    """A download past the size limit is refused without reading further."""
    with pytest.raises(WsdlDownloadFailed, match="larger than"):
        read_wsdl(f"{wsdl_server}/big.wsdl")


def test_silent_server_times_out() -> None:
    """A server that accepts and never answers is WsdlDownloadFailed after the timeout."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        with pytest.raises(WsdlDownloadFailed, match="no answer within"):
            read_wsdl(f"http://127.0.0.1:{port}/rr.wsdl", timeout=0.3)
