"""Admission gate (sild.gateway.admission; docs/spec/exchange.md §8), with a fixed clock."""

from __future__ import annotations

import pytest

from sild.errors import Overloaded, TooManyRequests
from sild.gateway.admission import SHARED, Gate, Quota


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def gate(default: Quota, *, max_in_flight: int = 100, clock: Clock | None = None,
         **kw: object) -> Gate:
    return Gate(max_in_flight=max_in_flight, default=default, clock=clock or Clock(),
                **kw)  # type: ignore[arg-type]


def test_concurrency_limit_refuses_with_429_and_retry_after() -> None:
    """The caller's (n+1)th request in flight is refused; releasing one lets the next in."""
    g = gate(Quota(concurrency=2), retry_after=3)
    a, _ = g.admit("c"), g.admit("c")
    with pytest.raises(TooManyRequests) as e:
        g.admit("c")
    assert e.value.retry_after == 3
    assert e.value.http_status == 429
    a.release()
    g.admit("c")


def test_limits_are_per_caller() -> None:
    """One caller at its limit does not refuse another."""
    g = gate(Quota(concurrency=1))
    g.admit("flood")
    with pytest.raises(TooManyRequests):
        g.admit("flood")
    g.admit("calm")


def test_release_is_idempotent() -> None:
    """A ticket released twice frees one place, not two."""
    g = gate(Quota(concurrency=1))
    t = g.admit("c")
    t.release()
    t.release()
    assert g.in_flight == 0
    g.admit("c")
    with pytest.raises(TooManyRequests):
        g.admit("c")


def test_token_bucket_burst_then_rate() -> None:
    """``burst`` requests at once, then one per 1/rate seconds; Retry-After when a
    token is back."""
    clock = Clock()
    g = gate(Quota(rate=2, burst=3), clock=clock)
    for _ in range(3):
        g.admit("c").release()
    with pytest.raises(TooManyRequests) as e:
        g.admit("c")
    assert e.value.retry_after == 1  # half a second to the next token, rounded up
    clock.now += 0.5
    g.admit("c").release()
    with pytest.raises(TooManyRequests):
        g.admit("c")


def test_slow_rate_advises_a_longer_retry_after() -> None:
    """At 0.1 requests/s the next token is 10 s away."""
    g = gate(Quota(rate=0.1, burst=1))
    g.admit("c").release()
    with pytest.raises(TooManyRequests) as e:
        g.admit("c")
    assert e.value.retry_after == 10


def test_bucket_does_not_grow_past_burst() -> None:
    """A long idle time refills the bucket to ``burst``, no more."""
    clock = Clock()
    g = gate(Quota(rate=10, burst=2), clock=clock)
    clock.now += 3600
    g.admit("c").release()
    g.admit("c").release()
    with pytest.raises(TooManyRequests):
        g.admit("c")


def test_override_applies_to_its_caller_only() -> None:
    """A per-client override replaces the default for that client alone."""
    g = gate(Quota(concurrency=1), overrides={"vip": Quota(concurrency=3)})
    for _ in range(3):
        g.admit("vip")
    with pytest.raises(TooManyRequests):
        g.admit("vip")
    g.admit("other")
    with pytest.raises(TooManyRequests):
        g.admit("other")


def test_global_bound_sheds_with_503_whoever_asks() -> None:
    """Past max_in_flight every caller gets Overloaded (503), even one with room."""
    g = gate(Quota(concurrency=10), max_in_flight=3, retry_after=2)
    for key in ("a", "a", "b"):
        g.admit(key)
    with pytest.raises(Overloaded) as e:
        g.admit("c")
    assert e.value.http_status == 503
    assert e.value.retry_after == 2
    assert e.value.xroad_code == "Server.Overloaded"


def test_refusals_are_counted_by_reason() -> None:
    """on_refuse names why: concurrency, rate or overloaded."""
    seen: list[str] = []
    g = gate(Quota(concurrency=1, rate=1, burst=1), max_in_flight=2, on_refuse=seen.append)
    t = g.admit("a")
    with pytest.raises(TooManyRequests):
        g.admit("a")  # concurrency
    t.release()
    with pytest.raises(TooManyRequests):
        g.admit("a")  # rate
    g.admit("b")
    g.admit("c")
    with pytest.raises(Overloaded):
        g.admit("d")
    assert seen == ["concurrency", "rate", "overloaded"]


def test_caller_table_is_bounded() -> None:
    """Past max_callers, busy callers are kept and newcomers share one state."""
    g = gate(Quota(concurrency=1), max_callers=2)
    g.admit("a")
    g.admit("b")
    g.admit("c")  # the table is full of busy callers: "c" shares SHARED
    assert SHARED in g._callers
    with pytest.raises(TooManyRequests):
        g.admit("d")  # shares SHARED too, which has one in flight


def test_idle_callers_are_forgotten_when_the_table_is_full() -> None:
    """Callers with nothing in flight and a full bucket make room for new ones."""
    g = gate(Quota(concurrency=1), max_callers=2)
    g.admit("a").release()
    g.admit("b").release()
    g.admit("c")
    assert set(g._callers) == {"c"}


def test_backoff_doubles_per_refusal_in_a_row_up_to_16_times() -> None:
    """Retry-After doubles with each refusal in a row on a connection, capped at 16×."""
    from sild.gateway.admission import backoff

    assert [backoff(1, n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 16, 16]
    assert backoff(3, 2) == 6
    assert backoff(1, 0) == 1


def test_trade_moves_a_request_to_its_caller_without_counting_it_twice() -> None:
    """Gate.trade (SOAP: the client is known once the body is read): the request leaves
    the shared key's place for its caller's, the side's in-flight count stays one, and a
    refusal keeps the old ticket for its holder to release."""
    g = gate(Quota(concurrency=1), max_in_flight=2)
    head = g.admit(SHARED)
    mine = g.trade(head, "soapy")
    assert g.in_flight == 1
    g.admit(SHARED).release()  # the shared place is free again
    other = g.admit(SHARED)
    with pytest.raises(TooManyRequests):
        g.trade(other, "soapy")  # its one place is taken
    assert g.in_flight == 2
    with pytest.raises(Overloaded):
        g.admit("anyone")  # both requests still count in the bound
    other.release()
    mine.release()
    head.release()  # already released by the trade: no double count
    assert g.in_flight == 0
