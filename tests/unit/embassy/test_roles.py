"""Re-pointing restored settings keeps every line it does not own."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from sild.embassy.roles import set_toml_string


@pytest.mark.parametrize(("text", "expected_lines"), [
    ('[gateway]\nserver = "EE/X/1/gw"\ndatabase = "sqlite:////old.db"  # old\n'
     '[future]\nknob = 3\n# a comment\n', 6),
    ('# top\n[gateway]\nserver = "EE/X/1/gw"\n\n[limits]\nmax_body = 10\n', 7),
    ('[limits]\nmax_body = 10\n', 5),
])
def test_database_is_set_and_the_rest_kept(tmp_path: Path, text: str,
                                            expected_lines: int) -> None:
    """Replaced or inserted in its section; unknown sections and comments survive."""
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    set_toml_string(path, "gateway", "database", 'sqlite:////new "gw".db')
    out = path.read_text()
    data = tomllib.loads(out)
    assert data["gateway"]["database"] == 'sqlite:////new "gw".db'
    assert len(out.splitlines()) == expected_lines
    for line in text.splitlines():
        if not line.startswith("database"):
            assert line in out.splitlines()
