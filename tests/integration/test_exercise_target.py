"""``sild exercise --target FILE``: a network given by a target file, not the demo, and
the outage attacks (ledger down, registry down) against it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from sild.cli import main
from sild.core.access import parse_subject
from sild.localnet import LocalNet
from sild.testing.exchange import CLIENT, CONSUMER, ECHO, PROVIDER
from sild.testing.netthread import NetThread


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalNet, Path]]:
    """A running network on SQLite and the target file that describes it."""
    root = tmp_path_factory.mktemp("exercise")
    net = LocalNet.create(root / "net", [PROVIDER, CONSUMER], instance_id="EE")
    with NetThread(net):
        sc = net.stores[PROVIDER.server].serverconf
        sc.add_service(ECHO.subsystem, "echo", net.is_url + "/echo", timeout=5)
        sc.grant(ECHO, parse_subject(str(CLIENT)))
        target = root / "net" / "target.toml"
        target.write_text(f'''registry = "registry"
provider = "gateways/{PROVIDER.server_code}"
consumer = "gateways/{CONSUMER.server_code}"
service = "{ECHO}"
client = "{CLIENT}"

[urls]
consumer = "http://{net.gateway_settings[CONSUMER.server].is_listen}"
''')
        yield net, target


def test_outages_against_a_network_given_by_file(
        network: tuple[LocalNet, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """Ledger and registry down: served from queue and cache, then refused; exit 0."""
    _, target = network
    assert main(["exercise", "--target", str(target), "--only", "outage", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    results = {r["attack"]: r for r in report["attacks"]}
    assert set(results) == {"outage.registry-down", "outage.ledger-down"}
    assert {r["outcome"] for r in results.values()} == {"stopped"}
    assert "HTTP 200; then HTTP 500 Server.ClientProxy.OutdatedGlobalConf" in \
        results["outage.registry-down"]["evidence"]
    assert "TimestampingFailed" in results["outage.ledger-down"]["evidence"]


def test_an_unreachable_url_in_the_target_is_no_drill(
        network: tuple[LocalNet, Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A [urls] address nothing answers on: exit 3, in words."""
    _, target = network
    other = target.parent / "unreachable.toml"
    other.write_text(target.read_text().replace(
        "[urls]\n", "[urls]\n").rsplit("consumer = ", 1)[0] + 'consumer = "http://127.0.0.1:9"\n')
    assert main(["exercise", "--target", str(other), "--only", "outage"]) == 3
    assert "is the network running?" in capsys.readouterr().err


@pytest.mark.parametrize(("text", "message"), [
    ("registry = 'registry'\n", "provider (a folder) is required"),
    ("registry = 'registry'\nprovider = 'nowhere'\nconsumer = 'nowhere'\n",
     "is not a gateway folder"),
    ("not toml at all [", "is not a TOML target file"),
    ("registry = 3\n", "registry must be a string"),
    ("registry = 'registry'\nprovider = 'gateways/gw1'\nconsumer = 'gateways/gw2'\n"
     "[urls]\nconsumer = 'ftp://x'\n", "urls.consumer must be http://HOST:PORT"),
    ("registry = 'registry'\nprovider = 'gateways/gw1'\nconsumer = 'gateways/gw2'\n"
     "[urls]\nconsumer = 'http://127.0.0.1:99999'\n", "urls.consumer must be http://HOST:PORT"),
    ("registry = 'registry'\nprovider = 'gateways/gw1'\nconsumer = 'gateways/gw2'\n"
     "[urls]\nledger = 'http://127.0.0.1:1'\n", "unknown urls.ledger"),
    ("registry = 'registry'\nprovider = 'gateways/gw1'\nconsumer = 'gateways/gw2'\n"
     "service = 'not an id'\n", "service identifier 'not an id'"),
])
def test_bad_target_files_are_refused_in_one_line(
        network: tuple[LocalNet, Path], text: str, message: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Each malformed target file: exit 1 and one line naming the problem."""
    _, target = network
    bad = target.parent / "bad.toml"
    bad.write_text(text)
    assert main(["exercise", "--target", str(bad)]) == 1
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_a_missing_target_file_is_refused(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A target file that does not exist: exit 1, in words."""
    assert main(["exercise", "--target", str(tmp_path / "none.toml")]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_neither_demo_nor_target_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """Without --demo-dir or --target there is no network to attack."""
    assert main(["exercise"]) == 1
    assert "--demo-dir DIR or --target FILE" in capsys.readouterr().err
