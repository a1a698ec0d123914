"""Submitter quotas with a fake clock (sild.ledger.submitters; docs/spec/ledger.md §8.1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sild.errors import QuotaExceeded, Unauthorized
from sild.ledger.home import init_ledger
from sild.ledger.submitters import Submitters, add_key


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    init_ledger(tmp_path / "l", origin="quota.test/l")
    return tmp_path / "l"


def _subs(folder: Path, clock: Clock) -> Submitters:
    s = Submitters(folder, max_batch=10, max_round=100, clock=clock)
    s._reload(force=True)
    return s


def test_rate_bucket_refills_with_time(folder: Path) -> None:
    """A key at 5 hashes/s holds max(rate, max_batch) = 10; empty, it waits 1/rate each."""
    cred = add_key(folder, "a", rate=5, share=1.0)
    clock = Clock()
    s = _subs(folder, clock)
    who = s.authenticate(f"Bearer {cred}")
    s.charge(who, 10, round_index=1, round_ends_in_s=1)
    with pytest.raises(QuotaExceeded) as e:
        s.ready(who)
    assert e.value.fields["retry_after"] == 1
    with pytest.raises(QuotaExceeded) as e:
        s.charge(who, 10, round_index=1, round_ends_in_s=1)
    assert e.value.fields["retry_after"] == 2  # 10 hashes at 5/s
    clock.t += 2
    s.charge(who, 10, round_index=1, round_ends_in_s=1)


def test_round_share_resets_each_round_and_refunds(folder: Path) -> None:
    """A 0.25 share of 100 is 25 hashes per round; the next round starts from zero."""
    cred = add_key(folder, "b", share=0.25)
    s = _subs(folder, Clock())
    who = s.authenticate(f"Bearer {cred}")
    s.charge(who, 10, round_index=7, round_ends_in_s=0.4)
    s.charge(who, 10, round_index=7, round_ends_in_s=0.4)
    with pytest.raises(QuotaExceeded, match="share of round 7") as e:
        s.charge(who, 10, round_index=7, round_ends_in_s=0.4)
    assert e.value.fields["retry_after"] == 1
    s.refund(who, 10, round_index=7)
    s.charge(who, 10, round_index=7, round_ends_in_s=0.4)
    s.charge(who, 10, round_index=8, round_ends_in_s=0.4)


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic abc", "Bearer nodot",
                                    "Bearer a.", "Bearer .x", "bearer zz.zz"])
def test_malformed_credentials_are_401(folder: Path, header: str | None) -> None:
    """Any malformed or unknown Authorization header is Unauthorized, never a crash."""
    add_key(folder, "a")
    with pytest.raises(Unauthorized):
        _subs(folder, Clock()).authenticate(header)
