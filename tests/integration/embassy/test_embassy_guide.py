"""docs/guide.md §12 (data embassy) runs as printed in a fresh bash, without the venv on
PATH, on the instance that §2 starts with (`sild init ee --instance EE`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.integration.test_guide_walkthrough import (  # the walk-through's own runner
    INSTALLED,
    ROOT,
    _run,
    _script,
    _section,
)


@pytest.mark.slow
@INSTALLED
def test_guide_section_12_runs_as_printed(tmp_path: Path) -> None:
    """Keygen, backup, list, verify, restore as printed; the restored instance is whole."""
    script = _script(_section((ROOT / "docs" / "guide.md").read_text(), 12), 4000, 4000)
    assert script.count(".venv/bin/sild ") == 6, script
    head, _, rest = script.partition("EXIT\n")  # after `set -e` and the trap
    done = _run(f"{head}EXIT\n.venv/bin/sild init ee --instance EE\n{rest}", tmp_path)
    assert "OK: " in done.stdout
    assert "signed by home" in done.stdout
    restored = tmp_path / "ee-restored"
    assert (restored / "ca" / "ca.key").read_bytes() == (tmp_path / "ee" / "ca" / "ca.key"
                                                         ).read_bytes()
    assert (restored / "registry.db").is_file()
