"""The OpenSSL index.txt status source (docs/spec/ocsp.md §4)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sild.errors import ConfigurationError
from sild.identity.ocsp_index import IndexFileSource, parse_index
from sild.identity.status import CertStatus

INDEX = (
    "V\t281206120000Z\t\t0A\tunknown\t/CN=good\n"
    "R\t281206120000Z\t261201093000Z,keyCompromise\t0B\tunknown\t/CN=revoked\n"
    "E\t241206120000Z\t\t0C\tunknown\t/CN=expired\n"
    "R\t281206120000Z\t261201093000Z\t0D\tunknown\t/CN=no reason\n"
)


def test_index_lines_map_to_answers() -> None:
    """V → good, R → revoked with time and reason, E → good; RFC 6960 §2.2."""
    t = parse_index(INDEX)
    assert t[0x0A].status is CertStatus.GOOD
    assert t[0x0B].status is CertStatus.REVOKED
    assert t[0x0B].revoked_at == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    assert t[0x0B].reason == "keyCompromise"
    assert t[0x0C].status is CertStatus.GOOD
    assert t[0x0D].reason == "unspecified"


def test_unlisted_serial_is_unknown(tmp_path: Path) -> None:
    """A serial that is not in the file is unknown."""
    p = tmp_path / "index.txt"
    p.write_text(INDEX)
    assert IndexFileSource(p).status(0xFF).status is CertStatus.UNKNOWN


def test_revocation_takes_effect_on_the_next_question(tmp_path: Path) -> None:
    """Rewriting the file changes the next answer (no restart, no cache)."""
    p = tmp_path / "index.txt"
    p.write_text("V\t281206120000Z\t\t0A\tunknown\t/CN=a\n")
    src = IndexFileSource(p)
    assert src.status(0x0A).status is CertStatus.GOOD
    p.write_text("R\t281206120000Z\t261206120000Z,superseded\t0A\tunknown\t/CN=a\n")
    os.utime(p, ns=(1, 1))  # a different mtime even on coarse-clock file systems
    assert src.status(0x0A).status is CertStatus.REVOKED


@pytest.mark.parametrize("line", [
    "X\t281206120000Z\t\t0A\tunknown\t/CN=a",
    "V\t281206120000Z\t\t0A\tunknown",
    "V\tyesterday\t\t0A\tunknown\t/CN=a",
    "V\t281206120000Z\t\tzz\tunknown\t/CN=a",
    "R\t281206120000Z\tnever\t0A\tunknown\t/CN=a",
])
def test_malformed_line_names_its_number(line: str) -> None:
    """A bad line is a one-line error that names the line."""
    with pytest.raises(ConfigurationError, match="line 2"):
        parse_index("V\t281206120000Z\t\t01\tunknown\t/CN=ok\n" + line + "\n")


def test_broken_file_fails_closed(tmp_path: Path) -> None:
    """Once the file turns bad or vanishes every question fails; no stale 'good'."""
    p = tmp_path / "index.txt"
    p.write_text(INDEX)
    src = IndexFileSource(p)
    p.write_text("garbage\n")
    os.utime(p, ns=(2, 2))
    with pytest.raises(ConfigurationError, match="line 1"):
        src.status(0x0A)
    p.unlink()
    with pytest.raises(ConfigurationError):
        src.status(0x0A)


@pytest.mark.parametrize("kind", ["missing", "folder", "binary"])
def test_unusable_file_is_refused_at_start(tmp_path: Path, kind: str) -> None:
    """A missing file, a folder or binary bytes is a clear start-up error."""
    p = tmp_path / "index.txt"
    if kind == "folder":
        p.mkdir()
    elif kind == "binary":
        p.write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(ConfigurationError, match="cannot use OCSP index"):
        IndexFileSource(p)
