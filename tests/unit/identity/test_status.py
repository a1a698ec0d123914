"""The status contract shared with the OCSP responder (docs/spec/identity.md §5.4)."""

from __future__ import annotations

import datetime as dt

import pytest

from sild.identity.status import CertStatus, StatusAnswer, StatusSource

AT = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)


def test_constructors() -> None:
    """good(), unknown() and revoked(at, reason) build the three RFC 6960 answers."""
    assert StatusAnswer.good() == StatusAnswer(CertStatus.GOOD)
    assert StatusAnswer.unknown().status is CertStatus.UNKNOWN
    r = StatusAnswer.revoked(AT, "keyCompromise")
    assert (r.status, r.revoked_at, r.reason) == (CertStatus.REVOKED, AT, "keyCompromise")


def test_revoked_needs_an_aware_time() -> None:
    """A REVOKED answer without a time, or with a naive one, cannot be built."""
    with pytest.raises(ValueError, match="aware"):
        StatusAnswer(CertStatus.REVOKED)
    with pytest.raises(ValueError, match="aware"):
        StatusAnswer.revoked(AT.replace(tzinfo=None))


def test_good_carries_no_revocation_data() -> None:
    """GOOD and UNKNOWN answers with a revocation time or reason cannot be built."""
    with pytest.raises(ValueError, match="no revocation data"):
        StatusAnswer(CertStatus.GOOD, AT)
    with pytest.raises(ValueError, match="no revocation data"):
        StatusAnswer(CertStatus.UNKNOWN, None, "superseded")


def test_any_object_with_status_is_a_source() -> None:
    """StatusSource is a runtime-checkable Protocol: a dict-backed double satisfies it."""

    class Double:
        def __init__(self) -> None:
            self.answers = {7: StatusAnswer.revoked(AT, "certificateHold")}

        def status(self, serial: int) -> StatusAnswer:
            return self.answers.get(serial, StatusAnswer.unknown())

    d = Double()
    assert isinstance(d, StatusSource)
    assert d.status(7).reason == "certificateHold"
