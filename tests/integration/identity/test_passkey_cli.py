"""`sild identity oidc passkey list|remove` on a real instance (docs/spec/identity.md §7)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from sild.cli import main
from sild.cli._common import instance_of
from sild.identity.oidc.home import OidcHome
from sild.identity.oidc.passkey_store import PasskeyStore
from sild.testing.cli import own_lines


@pytest.fixture
def inst(tmp_path: Path) -> Path:
    root = tmp_path / "inst"
    assert main(["init", str(root), "--instance", "EE"]) == 0
    assert main(["identity", "init", "--dir", str(root)]) == 0
    assert main(["identity", "oidc", "init", "--dir", str(root)]) == 0
    return root


def _add_passkey(inst: Path) -> str:
    """A stored passkey, as a registration leaves it (the challenge path is tested over
    HTTP in test_passkey_flow)."""
    import argparse

    home = OidcHome.load(instance_of(argparse.Namespace(dir=str(inst))))
    engine = home.identity.engine()
    try:
        store = PasskeyStore(engine, lambda: datetime.now(UTC))
        from sild.store.identity_tables import passkeys

        with engine.begin() as conn:
            conn.execute(passkeys.insert().values(
                credential_id="Y3JlZC0x", person_code="EE38001085718", user_handle="aGFuZGxl",
                public_key=b"\xa1", sign_count=3, transports='["internal"]',
                aaguid="00000000-0000-0000-0000-000000000000", backed_up=False,
                created_at=datetime.now(UTC), last_used_at=None))
        assert [p.credential_id for p in store.passkeys("EE38001085718")] == ["Y3JlZC0x"]
    finally:
        engine.dispose()
    return "Y3JlZC0x"


def test_list_and_remove_a_persons_passkey(inst: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """An operator lists a person's passkeys and removes a lost one."""
    cid = _add_passkey(inst)
    capsys.readouterr()
    assert main(["identity", "oidc", "passkey", "list", "--person", "EE38001085718",
                 "--dir", str(inst)]) == 0
    out = capsys.readouterr().out
    assert cid in out
    assert "internal" in out
    assert main(["identity", "oidc", "passkey", "remove", cid, "--dir", str(inst)]) == 0
    assert f"passkey {cid} removed" in capsys.readouterr().out
    assert main(["identity", "oidc", "passkey", "list", "--person", "EE38001085718",
                 "--dir", str(inst)]) == 0
    out = capsys.readouterr().out
    assert cid not in out
    assert "none" in out


def test_bad_input_is_one_line_exit_2(inst: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A malformed personal code or an unknown credential: one line on stderr, exit 2."""
    assert main(["identity", "oidc", "passkey", "list", "--person", "EE38001085719",
                 "--dir", str(inst)]) == 2
    err = own_lines(capsys.readouterr().err)
    assert len(err.splitlines()) == 1
    assert main(["identity", "oidc", "passkey", "remove", "nope", "--dir", str(inst)]) == 2
    err = own_lines(capsys.readouterr().err)
    assert "no passkey" in err
    assert len(err.splitlines()) == 1
