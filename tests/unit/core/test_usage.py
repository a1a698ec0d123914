"""sild.core.usage and sild.core.usage_proof: the pure parts of the data tracker
(docs/spec/tracker.md §1, §3)."""

from __future__ import annotations

import base64
import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sild.core.usage import (
    CHAIN_START,
    UsageContent,
    chain_next,
    chain_over,
    check_category,
    parse_purpose,
    parse_subject,
    parse_subjects,
)
from sild.core.usage_proof import PROOF_TYPE, verify_usage_proof
from sild.errors import InvalidPersonalCode, InvalidRequest, MissingHeader

ANN, BOB = "EE60001017869", "EE39901012239"


def test_subjects_in_every_accepted_spelling() -> None:
    assert parse_subjects([f"{ANN}, {BOB}"], max_subjects=5) == (ANN, BOB)
    assert parse_subjects([ANN, BOB, ANN], max_subjects=5) == (ANN, BOB)  # repeated header
    assert parse_subjects(["PNOEE-60001017869"], max_subjects=5) == (ANN,)
    assert parse_subject("JP123456789018") == "JP123456789018"


@pytest.mark.parametrize(("values", "error"), [
    ([], MissingHeader), ([" , "], MissingHeader), (["60001017869"], InvalidPersonalCode),
    (["ee60001017869"], InvalidPersonalCode), (["EE60001017860"], InvalidPersonalCode),
    (["XX1"], InvalidPersonalCode), ([f"{ANN},{BOB},EE38001085718"], InvalidRequest),
    (["EE6000101786\x00"], InvalidRequest),
])
def test_bad_subjects(values: list[str], error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_subjects(values, max_subjects=2)


def test_purpose_and_category_rules() -> None:
    assert parse_purpose(["  Treatment "]) == "Treatment"
    for bad in ([], [""], ["a", "b"], ["x" * 201], ["bell\x07"]):
        with pytest.raises((MissingHeader, InvalidRequest)):
            parse_purpose(bad)
    assert check_category("health") == "health"
    for cat in ("", "Health", "a" * 33, "tax!", 7):
        with pytest.raises(InvalidRequest):
            check_category(cat)


def _content(seq: int, **kw: object) -> UsageContent:
    base: dict[str, object] = dict(
        register="EE/GOV/1/rr", subject=ANN, seq=seq,
        logged_at=f"2026-12-01T12:00:{seq:02d}.000000Z", action="Lookup", purpose_code="",
        legal_basis="", receiver="EE/COM/1/his", receiver_name="Clinic", user_id="",
        service="EE/GOV/1/rr/x", message_id=f"m{seq}", consent_id="",
        categories=("health",), flags=())
    base.update(kw)
    return UsageContent(**base)  # type: ignore[arg-type]


def test_the_record_hash_binds_time_place_sealing_and_content() -> None:
    h = _content(1).record_hash()
    assert _content(1).record_hash() == h
    for other in (_content(2), _content(1, logged_at="2026-12-01T12:00:00.000001Z"),
                  _content(1, flags=("sealed",)), _content(1, action="Other")):
        assert other.record_hash() != h
    assert chain_over(CHAIN_START, [h]) == chain_next(CHAIN_START, h)
    with pytest.raises(ValueError, match="32 bytes"):
        chain_next(b"short", h)


def _proof(n: int) -> dict[str, object]:
    chain = CHAIN_START
    records = []
    for i in range(1, n + 1):
        c = _content(i)
        chain = chain_next(chain, c.record_hash())
        records.append({"seq": i, "logged_at": c.logged_at, "content": c.content(),
                        "chain": base64.b64encode(chain).decode()})
    return {"type": PROOF_TYPE, "register": "EE/GOV/1/rr", "subject": ANN,
            "periodStart": None, "periodEnd": None,
            "from": {"seq": 0, "chain": base64.b64encode(CHAIN_START).decode()},
            "records": records, "head": {"seq": n, "chain": base64.b64encode(chain).decode()},
            "expired": False}


def test_a_built_proof_verifies() -> None:
    result = verify_usage_proof(_proof(5))
    assert result.ok, result.summary()
    assert result.records == 5


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_any_single_change_to_a_proof_is_caught(data: st.DataObject) -> None:
    """Drop, swap, duplicate or edit one record: never OK, never an exception."""
    proof = _proof(6)
    records: list[dict[str, object]] = proof["records"]  # type: ignore[assignment]
    i = data.draw(st.integers(0, len(records) - 1))
    change = data.draw(st.sampled_from(["drop", "swap", "dup", "edit", "time", "foreign"]))
    mutated = copy.deepcopy(proof)
    recs: list[dict[str, object]] = mutated["records"]  # type: ignore[assignment]
    if change == "drop":
        del recs[i]
    elif change == "swap":
        j = (i + 1) % len(recs)
        recs[i], recs[j] = recs[j], recs[i]
    elif change == "dup":
        recs.insert(i, copy.deepcopy(recs[i]))
    elif change == "edit":
        recs[i]["content"]["action"] = "Edited"  # type: ignore[index]
    elif change == "time":
        recs[i]["logged_at"] = "2020-01-01T00:00:00.000000Z"
    else:
        recs[i]["content"]["subject"] = BOB  # type: ignore[index]
    assert not verify_usage_proof(mutated).ok
