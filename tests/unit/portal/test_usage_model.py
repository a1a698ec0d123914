"""The timeline's pure core: merging, inclusion, sealed entries, filters and paging
(docs/spec/portal-usage.md §2–§3)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from sild.core.usage import record_hash
from sild.errors import InvalidRequest
from sild.portal.usage_model import (
    MAX_FILTER,
    Entry,
    Filters,
    entries_from_find,
    mark_included,
    merge,
    sealed_from_proof,
    timeline,
)

T0 = datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC)
LABELS = ("population", "health")


def entry(register: str, minutes: int, *, org: str = "10000001", purpose: str = "Lookup",
          sealed: bool = False) -> Entry:
    return Entry(register, T0 + timedelta(minutes=minutes), action="" if sealed else purpose,
                 receiver_code="" if sealed else org, receiver_system="" if sealed else "his",
                 sealed=sealed)


def parse(**params: str | list[str]) -> Filters:
    return Filters.parse({k: v if isinstance(v, list) else [v] for k, v in params.items()},
                         registers=LABELS)


def test_merge_is_newest_first_across_registers() -> None:
    """Entries of all registers interleave by time, newest first."""
    a = [entry("population", 5), entry("population", 1)]
    b = [entry("health", 3), entry("health", 0)]
    assert [e.at.minute for e in merge([a, b])] == [5, 3, 1, 0]


def test_entries_from_find_reads_the_protocol_answer() -> None:
    """A findUsage v2 answer becomes entries with UTC times and the total."""
    total, got = entries_from_find("health", {"totalUsages": 7, "usages": [
        {"logtime": "2026-12-01T10:00:00Z", "action": "Visit", "receiverCode": "1",
         "receiverName": "Clinic", "receiverSystem": "his"}]})
    assert total == 7
    assert got == [Entry("health", T0, "Visit", "1", "Clinic", "his")]


@pytest.mark.parametrize("answer", [
    [], {"usages": []}, {"totalUsages": -1, "usages": []}, {"totalUsages": 1, "usages": [1]},
    {"totalUsages": 1, "usages": [{"logtime": "2026-12-01T10:00:00Z"}]},
    {"totalUsages": 1, "usages": [{"logtime": "yesterday", "action": "a",
                                   "receiverCode": "1", "receiverSystem": "s"}]},
])
def test_entries_from_find_refuses_malformed_answers(answer: object) -> None:
    """Anything but a findUsage answer is a ValueError (shown as "did not answer")."""
    with pytest.raises(ValueError):  # noqa: PT011  (the message varies by defect)
        entries_from_find("health", answer)


def _content(action: str, receiver: str) -> dict[str, object]:
    return {"action": action, "receiver": receiver, "flags": []}


def test_mark_included_matches_each_record_once() -> None:
    """Two identical usages need two records in the proof to both count as included."""
    e = entry("population", 0)
    proof = {"records": [{"logged_at": "2026-12-01T10:00:00.123456Z",
                          "content": _content("Lookup", "EE/COM/10000001/his")}]}
    got = mark_included([e, e], proof)
    assert [g.included for g in got] == [True, False]


def test_mark_included_needs_the_same_receiver() -> None:
    """A record of another receiver does not account for the entry."""
    proof = {"records": [{"logged_at": "2026-12-01T10:00:00.000000Z",
                          "content": _content("Lookup", "EE/COM/99999999/his")}]}
    assert not mark_included([entry("population", 0)], proof)[0].included


def test_sealed_from_proof_gives_time_and_record_hash() -> None:
    """A sealed record of the period shows its time and its recomputed record hash."""
    digest = bytes(range(32))
    at = "2026-12-01T10:00:00.000000Z"
    proof = {"periodStart": None, "periodEnd": None, "records": [
        {"seq": 4, "logged_at": at, "digest": base64.b64encode(digest).decode(),
         "sealed": True, "chain": ""}]}
    (got,) = sealed_from_proof("health", proof)
    assert got.sealed
    assert got.at == T0
    assert got.record_hash == base64.b64encode(
        record_hash(4, at, digest, sealed=True)).decode()


def test_sealed_from_proof_skips_records_outside_the_period() -> None:
    """The record before the period is listed in a proof but is not an entry."""
    proof = {"periodStart": "2026-12-02T00:00:00.000000Z", "periodEnd": None, "records": [
        {"seq": 1, "logged_at": "2026-12-01T10:00:00.000000Z",
         "digest": base64.b64encode(bytes(32)).decode(), "sealed": True}]}
    assert sealed_from_proof("health", proof) == []


def test_filters_by_register_org_and_purpose() -> None:
    """Each filter keeps only its entries; sealed entries have no organisation or purpose."""
    every = [entry("population", 3, org="1", purpose="Tax"), entry("health", 2, org="2"),
             entry("health", 1, sealed=True)]
    assert [e.at.minute for e in timeline(every, parse(register="health")).entries] == [2, 1]
    assert [e.at.minute for e in timeline(every, parse(org="1")).entries] == [3]
    assert [e.at.minute for e in timeline(every, parse(purpose="Lookup")).entries] == [2]


def test_paging_cuts_pages_and_clamps_past_the_end() -> None:
    """Page 2 of 5 entries at size 2 holds the 3rd and 4th; a page past the end is the last."""
    every = merge([[entry("population", m) for m in range(5)]])
    page = timeline(every, parse(page="2"), size=2)
    assert [e.at.minute for e in page.entries] == [2, 1]
    assert (page.number, page.pages, page.matching, page.has_next) == (2, 3, 5, True)
    assert timeline(every, parse(page="9"), size=2).number == 3


def test_form_choices_come_from_every_entry() -> None:
    """The organisation and purpose lists offer what occurs, not just the filtered page."""
    every = [entry("population", 1, org="1", purpose="Tax"), entry("health", 0, org="2")]
    page = timeline(every, parse(org="2"))
    assert page.purposes == ("Lookup", "Tax")
    assert [code for code, _ in page.organisations] == ["1", "2"]


def test_empty_values_mean_all() -> None:
    """An empty select ("All") is no filter."""
    assert parse(register="", org="", purpose="", page="") == Filters()


@pytest.mark.parametrize(("params", "says"), [
    ({"register": "police"}, "no register called"),
    ({"register": ["health", "population"]}, "more than once"),
    ({"org": "x" * (MAX_FILTER + 1)}, "longer than"),
    ({"purpose": "a\x00b"}, "control characters"),
    ({"page": "0"}, "whole number"),
    ({"page": "-1"}, "whole number"),
    ({"page": "two"}, "whole number"),
    ({"page": "１"}, "whole number"),  # a full-width digit
    ({"page": "9999999"}, "whole number"),
])
def test_bad_filters_are_refused_with_a_reason(params: dict[str, str | list[str]],
                                               says: str) -> None:
    """Every bad query value is an InvalidRequest naming the problem."""
    with pytest.raises(InvalidRequest, match=says):
        parse(**params)


def test_query_keeps_filters_for_page_links() -> None:
    """Page links carry the filters; page 1 is left out."""
    f = parse(register="health", purpose="Visit")
    assert f.query(page=2) == {"register": "health", "purpose": "Visit", "page": "2"}
    assert f.query(page=1) == {"register": "health", "purpose": "Visit"}


def test_mark_included_takes_the_records_microseconds() -> None:
    """An included entry gets the proof's exact time, so one second's usages order truly."""
    proof = {"records": [{"logged_at": "2026-12-01T10:00:00.250000Z",
                          "content": _content("Lookup", "EE/COM/10000001/his")}]}
    (got,) = mark_included([entry("population", 0)], proof)
    assert got.at == T0.replace(microsecond=250000)
