"""Real containers made by Estonia's DigiDoc software (open-eid test resources,
tests/data/doc/README.md), verified with their TEST trust anchors."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from sild.doc.trust import TrustList
from sild.doc.verify import Indication, verify_container
from sild.errors import InvalidContainer

DATA = Path(__file__).resolve().parents[2] / "data" / "doc"
TRUST = TrustList.from_paths([DATA / "trust"])
NOW = datetime(2026, 12, 6, tzinfo=UTC)


def _verify(name: str, trust: TrustList = TRUST) -> tuple[Indication, str]:
    r = verify_container((DATA / name).read_bytes(), trust=trust, at=NOW)
    assert len(r.signatures) == 1
    return r.indication, r.signatures[0].reason


def test_digidoc4j_lt_container_is_valid() -> None:
    """valid-asice.asice (DigiDoc4j, XAdES-LT, RSA, SK's TEST TSA and OCSP) → VALID."""
    r = verify_container((DATA / "valid-asice.asice").read_bytes(), trust=TRUST, at=NOW)
    assert r.indication is Indication.VALID
    s = r.signatures[0]
    assert s.signer_serial == "11404176865"
    assert s.timestamp == datetime(2018, 11, 23, 12, 24, 4, tzinfo=UTC)
    assert [st.status.value for st in s.steps] == ["OK"] * 10


def test_digidoc4j_lt_container_without_trust_is_indeterminate() -> None:
    """The same container with no trust anchors is not VALID."""
    ind, reason = _verify("valid-asice.asice", TrustList())
    assert ind is Indication.INDETERMINATE
    assert "TSA is not trusted" in reason


def test_bdoc_tm_is_indeterminate() -> None:
    """BDOC-TM (time-mark) is a profile Sild does not validate: said so, INDETERMINATE."""
    ind, reason = _verify("valid-bdoc-tm.bdoc")
    assert ind is Indication.INDETERMINATE
    assert reason.startswith("profile: BDOC-TM (time-mark) signature")


def test_libdigidocpp_forged_signature_is_invalid() -> None:
    """libdigidocpp's forged_lt.asice: the signature value does not verify."""
    assert _verify("forged_lt.asice") == (
        Indication.INVALID, "signature-value: the signature value does not verify over SignedInfo")


def test_digidoc4j_uncovered_file_is_invalid() -> None:
    """signature_does_not_cover_datafile.asice: the signature names another file."""
    ind, reason = _verify("signature_does_not_cover_datafile.asice")
    assert ind is Indication.INVALID
    assert "does not hold: test.xtx" in reason


def test_digidoc4j_zip_bomb_is_refused() -> None:
    """zip-bomb.asice is refused as a container before anything is inflated."""
    with pytest.raises(InvalidContainer, match="first entry is not 'mimetype'"):
        verify_container((DATA / "zip-bomb.asice").read_bytes(), trust=TRUST, at=NOW)
