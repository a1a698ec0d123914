"""KSI-style imprints with time-aware algorithm deprecation (sild.core.imprint)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sild.core.imprint import ALGORITHMS, Imprint, parse_imprint
from sild.core.ledger_errors import HashAlgorithmError

NOW = datetime(2026, 8, 1, tzinfo=UTC)
SHA1_DEPRECATED = datetime(2016, 7, 1, tzinfo=UTC)  # research/ksi-tlog.md §1.2


def test_sha256_imprint_is_id_01_and_digest() -> None:
    """A SHA-256 imprint is 0x01 followed by the 32-byte digest (libksi hash.h)."""
    imp = Imprint.of(b"abc", at=NOW)
    assert bytes(imp) == b"\x01" + hashlib.sha256(b"abc").digest()


@pytest.mark.parametrize(
    ("alg_id", "name", "size"),
    [(0x01, "SHA-256", 32), (0x04, "SHA-384", 48), (0x05, "SHA-512", 64), (0x08, "SHA3-256", 32)],
)
def test_ksi_algorithm_ids(alg_id: int, name: str, size: int) -> None:
    """The id table follows libksi: SHA-384 is 0x04, SHA-512 0x05, SHA3-256 0x08."""
    imp = parse_imprint(bytes([alg_id]) + b"\x07" * size, at=NOW)
    assert imp.algorithm.name == name
    assert imp.digest == b"\x07" * size


@given(st.sampled_from(sorted(ALGORITHMS)), st.binary(max_size=200))
def test_imprint_round_trip(alg_id: int, data: bytes) -> None:
    """Every algorithm's imprint, at a time it is trusted, parses back to the same bytes."""
    alg = ALGORITHMS[alg_id]
    raw = bytes([alg_id]) + data[: alg.digest_size].ljust(alg.digest_size, b"\x00")
    at = NOW if alg.status_at(NOW) == "trusted" else SHA1_DEPRECATED - timedelta(days=1)
    assert bytes(parse_imprint(raw, at=at)) == raw


@pytest.mark.parametrize("alg_id", [0x03, 0x06, 0x0C, 0x7F, 0xFF])
def test_unknown_or_retired_ids_refused(alg_id: int) -> None:
    """Retired ids (0x03, 0x06) and unknown ids are refused."""
    with pytest.raises(HashAlgorithmError, match="unknown"):
        parse_imprint(bytes([alg_id]) + b"\x00" * 32, at=NOW)


@given(st.integers(min_value=0, max_value=100).filter(lambda n: n != 32))
def test_wrong_digest_length_refused(n: int) -> None:
    """A SHA-256 imprint with any digest length other than 32 is refused."""
    with pytest.raises(HashAlgorithmError, match="digest bytes"):
        parse_imprint(b"\x01" + b"\x00" * n, at=NOW)


def test_empty_imprint_refused() -> None:
    """Zero bytes are not an imprint."""
    with pytest.raises(HashAlgorithmError, match="empty"):
        parse_imprint(b"", at=NOW)


def test_sha1_accepted_before_its_deprecation_date() -> None:
    """SHA-1 imprints dated before 2016-07-01 are still accepted."""
    raw = b"\x00" + hashlib.sha1(b"x").digest()  # noqa: S324 - testing the deprecation table
    assert parse_imprint(raw, at=SHA1_DEPRECATED - timedelta(seconds=1)).algorithm.name == "SHA-1"


def test_sha1_refused_from_its_deprecation_date() -> None:
    """SHA-1 imprints are refused from 2016-07-01 on; the time is an input."""
    raw = b"\x00" + hashlib.sha1(b"x").digest()  # noqa: S324 - testing the deprecation table
    with pytest.raises(HashAlgorithmError, match="deprecated"):
        parse_imprint(raw, at=SHA1_DEPRECATED)


def test_computing_a_deprecated_imprint_refused() -> None:
    """Imprint.of refuses to compute with an algorithm deprecated at ``at``."""
    with pytest.raises(HashAlgorithmError, match="deprecated"):
        Imprint.of(b"x", algorithm="SHA-1", at=NOW)


def test_naive_time_refused() -> None:
    """A time without a time zone is a programming error, not a guess."""
    with pytest.raises(ValueError, match="timezone"):
        parse_imprint(b"\x01" + b"\x00" * 32, at=datetime(2026, 1, 1))
