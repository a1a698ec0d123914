"""Hypothesis against the ledger's raw ASGI interface (docs/spec/ledger.md §8; it
publishes no OpenAPI): every number in a path or query, every body a submitter can send.
Issue 12: 0 tracebacks, 0 hangs, 0 5xx that are not protocol errors."""

from __future__ import annotations

import json
import urllib.parse

import requests
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sild.testing.fuzz import EXAMPLES, TIMEOUT, check_answer

_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                     suppress_health_check=list(HealthCheck))
BIG = [0, 1, 2**31, 2**32, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 10**19 - 1, 10**19, 10**30]
numbers = st.one_of(st.sampled_from(BIG), st.integers(min_value=0, max_value=10**25))
texts = st.one_of(st.sampled_from(["", "-1", "1e309", "nan", "inf", "0x10", " 1", "1.5",
                                   "99999999999999999999", "٣"]),
                  st.text(max_size=30), numbers.map(str))
# Waits that end quickly (a round about to close may be long-polled for as long as asked,
# up to 30 s, by design); long waits for rounds that cannot close: test_far_rounds.
waits = st.one_of(st.sampled_from(["", "0", "0.01", "nan", "-1", "-inf", "abc", "1e-9",
                                   "٣", "0x1", "1_0"]), st.text(max_size=10).filter(
                                       lambda t: not _long(t)))


def _long(text: str) -> bool:
    try:
        return float(text) > 0.05
    except ValueError:
        return False


def _get(session: requests.Session, url: str, what: str) -> None:
    try:
        resp = session.get(url, timeout=TIMEOUT)
    except requests.Timeout as e:
        raise AssertionError(f"hang: {what}") from e
    check_answer(resp.status_code, resp.content, what)


@_SETTINGS
@given(r=numbers, leaf=numbers, wait=waits)
@example(r=2**63, leaf=0, wait="0")
def test_receipt_ids(world, r: int, leaf: int, wait: str) -> None:  # type: ignore[no-untyped-def]
    """``GET /receipt/<round>.<leaf>``: any pair of numbers is an answer or a 4xx."""
    with requests.Session() as s:
        _get(s, f"{world.ledger_url}/receipt/{r}.{leaf}?wait={wait}", f"receipt {r}.{leaf}")


@_SETTINGS
@given(r=numbers, first=texts, count=texts, wait=waits)
def test_receipts_query(world, r: int, first: str, count: str, wait: str) -> None:  # type: ignore[no-untyped-def]
    """``GET /receipts/<round>?first=&count=&wait=``: any query is an answer or a 4xx."""
    q = urllib.parse.urlencode({"first": first, "count": count, "wait": wait})
    with requests.Session() as s:
        _get(s, f"{world.ledger_url}/receipts/{r}?{q}", f"receipts {r}?{q}")


@_SETTINGS
@given(path=st.one_of(
    st.builds(lambda a, b: f"/tile/{a}/{b}", texts, texts),
    st.builds(lambda n: f"/publication/{n}", numbers),
    st.builds(lambda n, w: f"/tile/entries/{n}.p/{w}", numbers, numbers),
    st.text(max_size=60).map(lambda t: "/" + urllib.parse.quote(t))))
def test_static_paths(world, path: str) -> None:  # type: ignore[no-untyped-def]
    """Tiles, publications, anything: served, or 404/4xx."""
    with requests.Session() as s:
        _get(s, world.ledger_url + path, path)


@_SETTINGS
@given(body=st.one_of(st.binary(max_size=300),
                      st.lists(st.one_of(st.text(max_size=70), numbers.map(str),
                                         st.binary(max_size=33).map(bytes.hex)),
                               max_size=5).map(lambda hs: json.dumps({"hashes": hs}).encode()),
                      st.binary(max_size=40).map(lambda b: b"\x01" + b)),
       ctype=st.sampled_from(["application/octet-stream", "application/json", "text/plain"]))
def test_submissions(world, body: bytes, ctype: str) -> None:  # type: ignore[no-untyped-def]
    """``POST /add`` from an authenticated submitter: accepted or refused, never a 500."""
    with requests.Session() as s:
        try:
            resp = s.post(world.ledger_url + "/add", data=body, timeout=TIMEOUT,
                          headers={"content-type": ctype,
                                   "authorization": f"Bearer {world.ledger_credential}"})
        except requests.Timeout as e:
            raise AssertionError("hang: POST /add") from e
    check_answer(resp.status_code, resp.content, f"POST /add {body[:40]!r}")
    assert resp.status_code != 401


def test_far_rounds_are_not_long_polled(world) -> None:  # type: ignore[no-untyped-def]
    """A round that cannot close within the wait answers 202 at once: a stranger cannot
    hold a connection for 30 s by asking for round 2^31 (found by this suite)."""
    import time

    with requests.Session() as s:
        for r in (2**31, 2**62, 10**18):
            t0 = time.monotonic()
            resp = s.get(f"{world.ledger_url}/receipt/{r}.0?wait=1e309", timeout=TIMEOUT)
            assert resp.status_code == 202
            assert time.monotonic() - t0 < 2


def test_two_to_the_63(world) -> None:  # type: ignore[no-untyped-def]
    """The numbers of issue 12 by name: 2^63 as an id is a clear 4xx everywhere."""
    big = str(2**63)
    with requests.Session() as s:
        for url in (f"{world.ledger_url}/receipt/{big}.0", f"{world.ledger_url}/receipt/0.{big}",
                    f"{world.ledger_url}/receipts/0?first={big}&count=1",
                    f"{world.ledger_url}/publication/{big}",
                    f"{world.registry_url}/requests/{big}",
                    f"{world.registry_url}/requests/{2**31}"):
            status = s.get(url, timeout=TIMEOUT).status_code
            assert 400 <= status < 500, (url, status)
        status = s.post(f"{world.registry_url}/api/requests/{big}/approve", timeout=TIMEOUT,
                        headers={"authorization": f"Bearer {world.registry_token}"}).status_code
        assert status == 400  # Client.InvalidRequest (FastAPI's validation, X-Road mapped)
