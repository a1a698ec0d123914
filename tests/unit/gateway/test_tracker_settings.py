"""``gateway.toml`` ``[tracker]`` (docs/operations.md): written, read back, and every
bad value refused at load with one message naming the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from sild.core.identifiers import ServerId
from sild.errors import ConfigurationError
from sild.gateway.config import GatewaySettings, TrackerSettings


def _settings(root: Path, tracker: TrackerSettings) -> GatewaySettings:
    return GatewaySettings(root=root, server=ServerId.parse("EE/GOV/70000001/gw1"),
                           database_url="sqlite://", tracker=tracker)


def test_tracker_settings_round_trip(tmp_path: Path) -> None:
    t = TrackerSettings(covert_group="secret-services", consent_url="http://127.0.0.1:8080/r1/x",
                        consent_client="EE/GOV/70000001/rr", consent_cache=2.5,
                        retention_days=30,
                        register_retention=(("EE/GOV/70000001/rr", 730),))
    _settings(tmp_path, t).write()
    back = GatewaySettings.load(tmp_path).tracker
    assert back == t
    assert back.retention_for("EE/GOV/70000001/rr") == 730
    assert back.retention_for("EE/GOV/70000001/other") == 30
    assert back.retention_for(None) == 30


@pytest.mark.parametrize(("table", "message"), [
    ('"not-a-subsystem" = 10', "tracker.retention"),
    ('"EE/GOV/70000001/rr" = 0', "at least 1 day"),
    ('"EE/GOV/70000001/rr" = "long"', "malformed"),
])
def test_bad_register_retention(tmp_path: Path, table: str, message: str) -> None:
    _settings(tmp_path, TrackerSettings()).write()
    path = tmp_path / "gateway.toml"
    path.write_text(path.read_text() + f"\n[tracker.retention]\n{table}\n")
    with pytest.raises(ConfigurationError, match=message):
        GatewaySettings.load(tmp_path)


@pytest.mark.parametrize(("text", "message"), [
    ('covert_group = "two words"', "covert_group"),
    ('emergency_group = ""', "emergency_group"),
    ('consent = "ftp://x"', "consent must be an http"),
    ('consent_client = "nonsense"', "consent_client"),
    ("consent_cache = -1", "consent_cache"),
    ("retention_days = 0", "retention_days"),
    ('retention_days = "many"', "malformed"),
])
def test_bad_tracker_settings_are_refused_at_load(tmp_path: Path, text: str,
                                                  message: str) -> None:
    _settings(tmp_path, TrackerSettings()).write()
    path = tmp_path / "gateway.toml"
    path.write_text(_replace(path.read_text(), text))
    with pytest.raises(ConfigurationError, match=message):
        GatewaySettings.load(tmp_path)


def _replace(toml: str, line: str) -> str:
    """``toml`` with the [tracker] setting of ``line``'s key replaced by ``line``."""
    head, tracker = toml.split("[tracker]\n")
    key = line.split(" =")[0]
    rows = [line if row.startswith(f"{key} = ") else row for row in tracker.splitlines()]
    assert line in rows
    return head + "[tracker]\n" + "\n".join(rows) + "\n"
