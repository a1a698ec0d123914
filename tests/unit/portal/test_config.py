"""portal.toml: every setting checked once, a bad one named (sild.portal.config)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sild.errors import ConfigurationError
from sild.portal.config import load_config

GOOD = """
gateway_url = "http://127.0.0.1:8080"
client = "EE/GOV/70006317/portal"
demo = true
[registers]
population = "EE/GOV/70000001/rr/population"
[consent]
url = "http://127.0.0.1:8483"
token_file = "consent-token"
[[doctors]]
name = "Family doctor"
client = "EE/COM/10000001/his"
[[demo_persons]]
code = "EE38001085718"
name = "Mari Maasikas"
"""


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "consent-token").write_text("secret\n")
    path = tmp_path / "portal.toml"
    path.write_text(text)
    return path


def test_a_good_configuration_loads(tmp_path: Path) -> None:
    """Identifiers parsed, the token read from its file, defaults filled in."""
    c = load_config(_write(tmp_path, GOOD))
    assert str(c.client) == "EE/GOV/70006317/portal"
    assert str(c.registers["population"]) == "EE/GOV/70000001/rr/population"
    assert c.consent is not None
    assert c.consent.token == "secret"
    assert c.listen == "127.0.0.1:8487"
    assert not c.secure_cookies


def test_https_public_url_makes_cookies_secure(tmp_path: Path) -> None:
    """public_url = https://… → secure_cookies."""
    c = load_config(_write(tmp_path, 'public_url = "https://portal.example"\n' + GOOD))
    assert c.secure_cookies


@pytest.mark.parametrize(("change", "named"), [
    (("client = \"EE/GOV/70006317/portal\"", "client = \"nonsense\""), "client"),
    (("gateway_url = \"http://127.0.0.1:8080\"", "gateway_url = \"ftp://x\""), "gateway_url"),
    (("demo = true", "demo = \"yes\""), "demo"),
    (("population =", "rockets ="), "rockets"),
    (("token_file = \"consent-token\"", "token_file = \"missing\""), "token_file"),
    (("code = \"EE38001085718\"", "code = \"EE38001085719\""), "demo_persons"),
    (("client = \"EE/COM/10000001/his\"", "client = \"EE/COM\""), "doctors"),
    (("demo = true", "demo = true\nlisten = \"nohost\""), "listen"),
    (("demo = true", "demo = true\nsurprise = 1"), "surprise"),
])
def test_a_bad_setting_is_named(tmp_path: Path, change: tuple[str, str], named: str) -> None:
    """Each malformed setting → ConfigurationError naming it."""
    with pytest.raises(ConfigurationError, match=named):
        load_config(_write(tmp_path, GOOD.replace(*change, 1)))


def test_demo_persons_need_demo_mode(tmp_path: Path) -> None:
    """[[demo_persons]] with demo = false → refused (no demo login outside demo mode)."""
    with pytest.raises(ConfigurationError, match="demo = true"):
        load_config(_write(tmp_path, GOOD.replace("demo = true", "demo = false")))


def test_not_toml_is_a_configuration_error(tmp_path: Path) -> None:
    """A file that is not TOML → ConfigurationError, no traceback."""
    with pytest.raises(ConfigurationError, match="not TOML"):
        load_config(_write(tmp_path, "= = ="))


def test_ledger_keys_give_the_badges_a_trust_policy(tmp_path: Path) -> None:
    """ledger_keys = ["ledger.vkey"] → a TrustPolicy with that Ed25519 key."""
    from sild.core.note import Ed25519Signer
    from sild.portal.config import ledger_policy

    signer = Ed25519Signer.from_seed("ledger.example/demo", bytes(32))
    (tmp_path / "ledger.vkey").write_text(signer.verifier().vkey() + "\n")
    c = load_config(_write(tmp_path, 'ledger_keys = ["ledger.vkey"]\n' + GOOD))
    policy = ledger_policy(c)
    assert policy is not None
    assert [k.name for k in policy.log_keys] == ["ledger.example/demo"]
    assert ledger_policy(load_config(_write(tmp_path, GOOD))) is None


@pytest.mark.parametrize("content", [b"\x00\xff binary", b"not a key", b""])
def test_a_bad_ledger_key_file_is_named(tmp_path: Path, content: bytes) -> None:
    """A ledger_keys file that is binary, text or empty → ConfigurationError naming it."""
    (tmp_path / "ledger.vkey").write_bytes(content)
    with pytest.raises(ConfigurationError, match="ledger_keys"):
        load_config(_write(tmp_path, 'ledger_keys = ["ledger.vkey"]\n' + GOOD))


def test_a_ledger_key_that_is_a_folder_is_named(tmp_path: Path) -> None:
    """ledger_keys naming a folder → ConfigurationError, not a traceback."""
    (tmp_path / "ledger.vkey").mkdir()
    with pytest.raises(ConfigurationError, match="ledger_keys"):
        load_config(_write(tmp_path, 'ledger_keys = ["ledger.vkey"]\n' + GOOD))
