"""Calendar records, round clocks and publication codes (sild.core.calendar)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sild.core.calendar import CalendarRecord, Publication, RoundClock
from sild.core.ledger_errors import LedgerFormatError
from sild.core.merkle import EMPTY_ROOT, RootHash, leaf_hash

roots = st.binary(min_size=32, max_size=32).map(RootHash)


@given(st.integers(0, 2**64 - 1), st.integers(1, 2**64 - 1), roots)
def test_record_round_trip(t: int, k: int, root: RootHash) -> None:
    """A record parses back from its 48 bytes and hashes as an RFC 6962 leaf."""
    rec = CalendarRecord(t, k, root)
    raw = rec.to_bytes()
    assert len(raw) == 48
    assert CalendarRecord.parse(raw) == rec
    assert rec.leaf() == leaf_hash(raw)


def test_empty_round_has_the_empty_root() -> None:
    """An empty round's record carries SHA-256("") and nothing else is accepted."""
    assert CalendarRecord.empty(5).root == EMPTY_ROOT
    with pytest.raises(LedgerFormatError):
        CalendarRecord(5, 0, RootHash(bytes(32)))


def test_record_of_wrong_length_is_refused() -> None:
    """47 or 49 bytes are not a calendar record."""
    for n in (47, 49):
        with pytest.raises(LedgerFormatError):
            CalendarRecord.parse(bytes(n))


def test_round_clock_maps_time_to_index() -> None:
    """Round i covers [genesis + i·p, genesis + (i+1)·p) and ends at genesis + (i+1)·p."""
    c = RoundClock(1_000_000, 1000)
    assert c.round_at(999_999) == -1
    assert c.round_at(1_000_000) == 0
    assert c.round_at(1_000_999) == 0
    assert c.round_at(1_001_000) == 1
    assert c.end_ms(0) == 1_001_000


def test_round_period_limits() -> None:
    """Periods below 100 ms or above 20 s are refused."""
    for p in (99, 20_001):
        with pytest.raises(ValueError, match="period"):
            RoundClock(0, p)


@given(st.integers(1, 2**64 - 1), roots)
def test_publication_code_round_trip(size: int, root: RootHash) -> None:
    """A code parses back to the same size and root, in any case and spacing."""
    p = Publication(size, root)
    code = p.code()
    assert all(len(g) <= 6 for g in code.split("-"))
    assert Publication.from_code(code) == p
    assert Publication.from_code(code.lower().replace("-", " ")) == p


@given(roots, st.integers(0, 70))
def test_publication_code_typo_is_caught(root: RootHash, pos: int) -> None:
    """Changing any one character of a code makes it fail the CRC (or base32) check."""
    code = Publication(123456, root).code().replace("-", "")
    pos %= len(code)
    other = "A" if code[pos] != "A" else "B"
    with pytest.raises(LedgerFormatError):
        Publication.from_code(code[:pos] + other + code[pos + 1 :])
