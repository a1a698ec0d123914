"""The gateway's ledger API key (`[anchoring] credential`, docs/spec/ledger.md §8.1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sild.core.identifiers import ServerId
from sild.errors import ConfigurationError
from sild.gateway.config import AnchoringSettings, GatewaySettings
from sild.ledger.submitters import read_credential


def test_credential_is_relative_to_the_gateway_folder(tmp_path: Path) -> None:
    """A relative `credential` names a file in the gateway folder; it round-trips."""
    s = GatewaySettings(root=tmp_path.resolve(), server=ServerId.parse("EE/GOV/1/gw"),
                        database_url="sqlite:///x.db",
                        anchoring=AnchoringSettings("http://127.0.0.1:8470",
                                                    credential="keys/ledger.credential"))
    s.write()
    loaded = GatewaySettings.load(tmp_path)
    assert loaded.anchoring.credential == str(tmp_path.resolve() / "keys/ledger.credential")
    loaded.write()
    assert GatewaySettings.load(tmp_path) == loaded


@pytest.mark.parametrize("content", [b"", b"no-dot", b"a.b c", bytes(range(256)), b"x" * 300])
def test_a_bad_credential_file_is_one_clear_error(tmp_path: Path, content: bytes) -> None:
    """Empty, malformed or binary credential files are ConfigurationError, not a crash."""
    path = tmp_path / "ledger.credential"
    path.write_bytes(content)
    with pytest.raises(ConfigurationError, match="credential"):
        read_credential(path)


def test_missing_credential_file(tmp_path: Path) -> None:
    """A credential file that is not there names itself."""
    with pytest.raises(ConfigurationError, match="cannot read ledger credential"):
        read_credential(tmp_path / "nope")
