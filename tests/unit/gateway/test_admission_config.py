"""``[admission]`` and the timeouts in gateway.toml: round trip and one-line errors."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from sild.core.identifiers import MemberId, ServerId
from sild.errors import ConfigurationError
from sild.gateway.admission import AdmissionSettings, Quota
from sild.gateway.config import GATEWAY_FILE, GatewayLimits, GatewaySettings
from sild.testing.cli import sild

SERVER = ServerId(MemberId("EE", "COM", "10000001"), "gw2")


def write(root: Path, extra: str) -> Path:
    GatewaySettings(root=root, server=SERVER, database_url="sqlite:///x.db").write()
    path = root / GATEWAY_FILE
    path.write_text(path.read_text().split("\n[admission]")[0] + extra)
    return root


def test_defaults_and_round_trip(tmp_path: Path) -> None:
    """Written settings load back equal, overrides included."""
    adm = AdmissionSettings(max_in_flight=50, client=Quota(4, 10.0, 20.0),
                            clients={"EE/GOV/70000001/rr": Quota(16, 100.0, 0.0)},
                            peers={"EE/COM/10000001/gw2": Quota(8, 0.0, 0.0)}, retry_after=2,
                            accept_rate=250.0, accept_burst=40.0)
    s = GatewaySettings(root=tmp_path.resolve(), server=SERVER, database_url="sqlite:///x.db",
                        limits=GatewayLimits(header_timeout=2.5, body_timeout=4,
                                             keepalive_timeout=9, peer_connection_lifetime=0),
                        admission=adm)
    s.write()
    loaded = GatewaySettings.load(tmp_path)
    assert loaded.admission == adm
    assert (loaded.limits.header_timeout, loaded.limits.body_timeout,
            loaded.limits.keepalive_timeout, loaded.limits.peer_connection_lifetime
            ) == (2.5, 4, 9, 0)


def test_override_inherits_unset_keys(tmp_path: Path) -> None:
    """An override table names only what differs; the rest is the client default."""
    write(tmp_path, '\n[admission]\nclient_concurrency = 4\nclient_rate = 10\n'
                    '[admission.clients."EE/GOV/70000001/rr"]\nrate = 50\n')
    adm = GatewaySettings.load(tmp_path).admission
    assert adm.clients == {"EE/GOV/70000001/rr": Quota(concurrency=4, rate=50.0, burst=0.0)}


@pytest.mark.parametrize(("toml", "message"), [
    ("[admission]\nclient_concurrency = -1\n", "[admission] client_concurrency must be"),
    ("[admission]\nclient_rate = \"fast\"\n", "[admission] client_rate must be a number"),
    ("[admission]\nclient_concurrency = 2.5\n", "must be a whole number"),
    ("[admission]\nmax_in_flight = true\n", "[admission] max_in_flight must be"),
    ("[admission]\nmax_in_flight = 0\n", "max_in_flight, retry_after and max_callers"),
    ("[admission]\nretry_after = 0\n", "must be positive"),
    ("[admission]\nclient_rate = nan\n", "client_rate must be a number ≥ 0"),
    ("[admission]\npeer_rate = inf\n", "peer_rate must be a number ≥ 0"),
    ("[admission]\nclinet_rate = 5\n", "unknown setting 'clinet_rate'"),
    ("[admission]\npeers = \"all\"\n", "[admission.peers] must be a table"),
    ('[admission.clients."nonsense"]\nrate = 1\n', "is not a valid id"),
    ('[admission.peers."EE/COM/1"]\nrate = 1\n', "is not a valid id"),
    ('[admission.clients."EE/GOV/70000001/rr"]\nrat = 1\n', "unknown setting 'rat'"),
    ('[admission.clients."EE/GOV/70000001/rr"]\nburst = -3\n', "burst must be"),
    ("[admission]\nclients = 3\n", "[admission.clients] must be a table"),
    ("[admission]\naccept_rate = -1\n", "[admission] accept_rate must be a number ≥ 0"),
    ("[admission]\naccept_burst = \"many\"\n", "[admission] accept_burst must be a number"),
])
def test_bad_admission_settings_are_one_line_errors(tmp_path: Path, toml: str,
                                                    message: str) -> None:
    """Negative limits, wrong types, unknown keys and bad ids: one clear line."""
    write(tmp_path, "\n" + toml)
    with pytest.raises(ConfigurationError) as e:
        GatewaySettings.load(tmp_path)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("toml", ["header_timeout = -1", "body_timeout = 0",
                                  'keepalive_timeout = "long"',
                                  "peer_connection_lifetime = -5",
                                  'peer_connection_lifetime = "2m"',
                                  "peer_connection_lifetime = nan"])
def test_bad_timeouts_are_one_line_errors(tmp_path: Path, toml: str) -> None:
    """Timeouts must be positive numbers (the peer connection lifetime: ≥ 0)."""
    write(tmp_path, "")
    path = tmp_path / GATEWAY_FILE
    key = toml.split(" ")[0]
    path.write_text(re.sub(rf"^{key} = .*$", toml, path.read_text(), flags=re.M))
    with pytest.raises(ConfigurationError) as e:
        GatewaySettings.load(tmp_path)
    assert "[limits]" in str(e.value)


def test_gateway_serve_reports_a_bad_limit_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`sild gateway serve` on a bad [admission] exits 1 (the operator's local
    configuration, cli/_exit.py) with one line, no traceback."""
    write(tmp_path, "\n[admission]\npeer_concurrency = -5\n")
    code = sild("gateway", "serve", "--dir", str(tmp_path))
    err = capsys.readouterr().err
    assert code == 1, err
    assert "peer_concurrency" in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_replace_keeps_settings_frozen() -> None:
    """AdmissionSettings is a frozen value (STYLE.md rule 8)."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        AdmissionSettings().max_in_flight = 3  # type: ignore[misc]
