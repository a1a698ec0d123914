"""Sub-commands of `sild gateway` (placeholder until its part lands)."""

from __future__ import annotations

from typing import Any


def add_subcommands(s: Any) -> None:
    """Add this module's actions to the `sild gateway` sub-parser group `s`."""
