"""The portal's "who used my data" timeline through real gateways, a real tracker and a
real ledger, on SQLite and PostgreSQL (docs/spec/portal-usage.md; issue #10): the
portal's gateway asks each register's findUsage and usageProof, the badges verify the
anchored proofs, a register that is down is named, a tampered row is "Not verified", and
the downloaded proof checks out with `sild tracker verify`."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from sild.cli import main
from sild.core.access import parse_subject
from sild.core.note import Ed25519Verifier, parse_verifier_key
from sild.core.verification import TrustPolicy
from sild.gateway.serverconf.store import PersonalData
from sild.localnet import GatewaySpec, LocalNet
from sild.portal.usage import HttpUsageSource, TrackerRef
from sild.store import make_engine
from sild.testing.exchange import CLIENT, CONSUMER, PROVIDER, call
from sild.testing.netthread import NetThread
from sild.testing.portal_usage import Person, usage_test_app
from sild.testing.servers import free_port, serve_asgi
from sild.tracker.anchor_proof import anchored_head
from sild.tracker.app import create_tracker_app, openapi_text
from sild.tracker.store import UsageStore

PEOPLE = ("EE60001017869", "EE39901012239", "EE49002124277", "EE49205209387")
REGISTERS = GatewaySpec(PROVIDER.member, PROVIDER.name, PROVIDER.server_code,
                        ("population", "health", "land"))
PORTAL = CONSUMER.member.subsystem("other")  # the portal's member subsystem
PG_URL = os.environ.get("SILD_PG_URL", "")


def _service(sub: str, code: str) -> str:
    return str(REGISTERS.member.subsystem(sub).service(code))


@dataclass
class Net:
    net: LocalNet
    store: UsageStore
    vkey: Path
    source: HttpUsageSource
    people: list[str]


@dataclass
class Portal:
    url: str
    net: LocalNet
    store: UsageStore
    vkey: Path
    person: str


def _use(net: LocalNet, person: str, register: str, purpose: str) -> None:
    echo = REGISTERS.member.subsystem(register).service("echo")
    status, _, body = call(f"{net.is_url_of(CONSUMER.server)}/r1/{echo.path()}/x",
                           headers={"X-Road-Client": str(CLIENT), "Sild-Data-Subject": person,
                                    "Sild-Purpose": purpose, "X-Road-UserId": "EE38001085718"})
    assert status == 200, body


def _anchored(store: UsageStore, person: str, register: str, seq: int) -> None:
    deadline = time.monotonic() + 30
    subsystem = str(REGISTERS.member.subsystem(register))
    while (got := anchored_head(store.engine, subsystem, person)) is None or got.seq != seq:
        assert time.monotonic() < deadline, f"{register} head {seq} not anchored in 30 s"
        time.sleep(0.1)


@contextlib.contextmanager
def _databases(kind: str, root: Path) -> Iterator[Callable[[str], str]]:
    """SQLite files, or fresh PostgreSQL databases dropped afterwards (as conftest's
    pg_databases, once for the module: the network is shared by its tests)."""
    if kind == "sqlite":
        yield lambda name: f"sqlite:///{root}/{name}.db"
        return
    if not PG_URL:
        if os.environ.get("SILD_REQUIRE_PG") == "1":
            pytest.fail("SILD_REQUIRE_PG=1 but SILD_PG_URL is not set")
        pytest.skip("PostgreSQL tests need SILD_PG_URL")
    url = sa.engine.make_url(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    made: dict[str, str] = {}

    def make(label: str) -> str:
        if label not in made:
            made[label] = f"sild_test_{secrets.token_hex(6)}"
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{made[label]}"'))
        return url.set(database=made[label]).render_as_string(hide_password=False)
    try:
        yield make
    finally:
        with admin.connect() as conn:
            for name in made.values():
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def network(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[Net]:
    """Registers population and health with a real tracker, land's tracker down, the
    portal's gateway, a ledger; shared by the module's tests, one person each."""
    root = tmp_path_factory.mktemp(f"portal-{request.param}")
    with _databases(request.param, root) as databases:
        net = LocalNet.create(root / "net", [REGISTERS, CONSUMER], instance_id="EE",
                              database_url=databases, ledger=True)
        engine = make_engine(net.gateway_settings[REGISTERS.server].database_url)
        store = UsageStore(engine)
        vkey = net.root / "ledger" / "ledger.vkey"
        key = parse_verifier_key(vkey.read_text().strip())
        assert isinstance(key, Ed25519Verifier)
        source = HttpUsageSource(
            net.is_url_of(CONSUMER.server), str(PORTAL),
            [TrackerRef("population", _service("population", "findUsage")),
             TrackerRef("health", _service("health", "findUsage")),
             TrackerRef("land", _service("land", "findUsage"))],
            policy=TrustPolicy(log_keys=(key,)))
        with NetThread(net), serve_asgi(create_tracker_app(store, retention_days=365)
                                        ) as tracker:
            sc = net.stores[REGISTERS.server].serverconf
            for sub in ("population", "health", "land"):
                subsystem = REGISTERS.member.subsystem(sub)
                echo, find = subsystem.service("echo"), subsystem.service("findUsage")
                sc.add_service(subsystem, "echo", net.is_url + "/echo", timeout=5)
                sc.grant(echo, parse_subject(str(CLIENT)))
                sc.declare_personal_data(echo, PersonalData(categories=("health",)))
                # land's tracker is down: nothing listens on its port
                url = tracker if sub != "land" else f"http://127.0.0.1:{free_port()}"
                sc.add_service(subsystem, "findUsage", url, timeout=5,
                               openapi=openapi_text().encode())
                sc.grant(find, parse_subject(str(PORTAL)))
            yield Net(net, store, vkey, source, list(PEOPLE))
        engine.dispose()


@pytest.fixture
def portal(network: Net) -> Iterator[Portal]:
    """The usage pages for the next unused person of the shared network."""
    person = network.people.pop()
    app = usage_test_app(network.source, Person(person[2:], "38001085718"),
                         on_close=network.source.aclose)
    with serve_asgi(app, lifespan="on") as url:
        yield Portal(url, network.net, network.store, network.vkey, person)


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def _register(html: str, label: str) -> str:
    return html.split(f'data-register="{label}"', 1)[1].split("</li>", 1)[0]


def _traffic(p: Portal) -> None:
    _use(p.net, p.person, "population", "Address check")
    _use(p.net, p.person, "health", "Treatment")
    _use(p.net, p.person, "population", "Tax return")
    _anchored(p.store, p.person, "population", 2)
    _anchored(p.store, p.person, "health", 1)


def test_timeline_across_registers_with_verified_badges(portal: Portal) -> None:
    """Usages of two registers, newest first, each register verified against the ledger;
    the register whose tracker is down is named and does not hide the others."""
    _traffic(portal)
    status, html = _get(portal.url + "/usage")
    assert status == 200
    purposes = re.findall(r"<td>(Address check|Treatment|Tax return)</td>", html)
    assert purposes == ["Tax return", "Treatment", "Address check"]
    for label in ("population", "health"):
        assert "Verified: complete and anchored in the ledger" in _register(html, label)
    assert "This register did not answer" in _register(html, "land")
    assert html.count('<span class="badge badge-ok">In the proof</span>') == 3


def test_tampered_row_makes_the_badge_not_verified(portal: Portal) -> None:
    """An altered usage row in the register's database → its badge says "Not verified"
    and names the record; the other register stays verified."""
    _traffic(portal)
    with portal.store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE usage_log SET action = 'Nothing to see' "
                             "WHERE action = 'Tax return' AND subject = :p"),
                     {"p": portal.person})
    _, html = _get(portal.url + "/usage")
    population = _register(html, "population")
    assert "Not verified" in population
    assert "record 2 altered" in population
    assert "Verified: complete" in _register(html, "health")


def test_downloaded_proof_verifies_with_the_cli(portal: Portal, tmp_path: Path) -> None:
    """The command the "how" page prints checks the downloaded proof: OK (exit 0)."""
    _traffic(portal)
    _, how = _get(portal.url + "/usage/how")
    assert "sild tracker verify usage-proof-health.json --ledger-key ledger.vkey" in how
    status, body = _get(portal.url + "/usage/proof/health")
    assert status == 200
    (tmp_path / "usage-proof-health.json").write_text(body)
    assert main(["tracker", "verify", str(tmp_path / "usage-proof-health.json"),
                 "--ledger-key", str(portal.vkey)]) == 0


def test_filter_by_purpose_through_the_gateways(portal: Portal) -> None:
    """?purpose= keeps the one matching usage of all registers."""
    _traffic(portal)
    _, html = _get(portal.url + "/usage?purpose=Treatment")
    assert re.findall(r"<td>(Address check|Treatment|Tax return)</td>", html) == ["Treatment"]
