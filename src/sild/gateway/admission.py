"""Admission at a gateway port: per-caller concurrency and rate limits, and a global
in-flight bound with load shedding (docs/spec/exchange.md §8; ARCHITECTURE.md §8
"flood from one client": other clients keep their service).

A port asks its :class:`Gate` on the request head, **before a byte of the body is read**
and before the pipeline runs (so a refusal writes no log row and costs one dictionary
lookup). A caller is an IS's client subsystem (``X-Road-Client``) on the consumer's IS
port, and the calling gateway (its TLS certificate) on the provider's peer port.

1. the side's requests in flight ≥ ``max_in_flight`` → :class:`~sild.errors.Overloaded`
   (503), whoever asks: load is shed, never queued;
2. the caller's requests in flight ≥ its ``concurrency`` →
   :class:`~sild.errors.TooManyRequests` (429);
3. the caller's token bucket (``rate`` per second, ``burst`` deep) is empty →
   :class:`~sild.errors.TooManyRequests` (429), ``Retry-After`` when a token is back.

A SOAP request names its client only in the body: the IS port admits it on its head
under the shared key, and once its X-Road header is read and the client checked, the
SOAP front end trades that ticket for one of its client's (:meth:`Gate.trade`: steps
2–3, the request already past step 1), so SOAP callers have per-client limits too and
the shared key bounds only requests not yet read (docs/spec/soap.md §2).

An admitted request holds a :class:`Ticket` until its answer is written. Nothing waits
in a queue: the answer is immediate either way. Per-caller state is bounded
(``max_callers``); past it, idle callers are forgotten and, if none is idle, newcomers
share one state. Time is an input (``clock``, STYLE.md rule 8).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sild.errors import Overloaded, TooManyRequests

__all__ = ["MAX_BACKOFF_DOUBLINGS", "SHARED", "AdmissionSettings", "Gate", "Quota", "Ticket",
           "backoff"]

# The state that callers without one of their own share (unknown or too many callers).
SHARED = "(shared)"
# Consecutive refusals on one connection double its Retry-After and hold up to 2**4 times.
MAX_BACKOFF_DOUBLINGS = 4


@dataclass(frozen=True, slots=True)
class Quota:
    """One caller's limits; 0 means no limit."""

    # Requests of this caller in flight at once (a connection pool's worth).
    concurrency: int = 0
    # Sustained requests per second: the token bucket's refill rate.
    rate: float = 0.0
    # Requests that may come at once above the rate: the bucket's size (0: max(1, rate)).
    burst: float = 0.0

    @property
    def bucket(self) -> float:
        return self.burst or max(1.0, self.rate)


@dataclass(frozen=True)
class AdmissionSettings:
    """``[admission]`` in gateway.toml (docs/operations.md "Admission")."""

    # Requests one side (consumer: IS port; provider: peer port) has in flight at once;
    # past it new requests get 503 + Retry-After. Bounds memory and latency under flood.
    max_in_flight: int = 1024
    # Every client subsystem's limits on the IS port, unless overridden below.
    client: Quota = Quota(concurrency=64)
    # Per-client overrides, by client id ("EE/GOV/70000001/rr").
    clients: Mapping[str, Quota] = field(default_factory=dict)
    # Every calling gateway's limits on the peer port (it carries many clients: the
    # consumer side's pool opens up to 256 connections per provider).
    peer: Quota = Quota(concurrency=256)
    # Per-peer overrides, by the calling gateway's server id ("EE/COM/10000001/gw2").
    peers: Mapping[str, Quota] = field(default_factory=dict)
    # Seconds advised in Retry-After after a concurrency or in-flight refusal; a refused
    # connection is also not read for this long (the kernel's window pushes back).
    retry_after: int = 1
    # Callers remembered per side (a stranger may invent client ids).
    max_callers: int = 10_000
    # New connections each port accepts per second (per process), and the bucket for a
    # burst; past it they wait in the kernel's queue (sild.web.listen). A flood of new
    # connections costs ~90 µs of Python each even when refused; kept-alive clients are
    # not limited by this. 0 = no limit.
    accept_rate: float = 1000.0
    accept_burst: float = 1000.0


class _Caller:
    __slots__ = ("in_flight", "quota", "stamp", "tokens")

    def __init__(self, quota: Quota, now: float) -> None:
        self.quota = quota
        self.in_flight = 0
        self.tokens = quota.bucket
        self.stamp = now


class Ticket:
    """An admitted request's place; :meth:`release` once its answer is written."""

    __slots__ = ("_caller", "_gate")

    def __init__(self, gate: Gate, caller: _Caller) -> None:
        self._gate: Gate | None = gate
        self._caller = caller

    def release(self) -> None:
        gate = self._gate
        if gate is not None:  # idempotent: a connection lost mid-answer releases too
            self._gate = None
            self._caller.in_flight -= 1
            gate.in_flight -= 1


class Gate:
    """One side's admission (see the module docstring for the order of checks)."""

    def __init__(self, *, max_in_flight: int, default: Quota,
                 overrides: Mapping[str, Quota] | None = None, retry_after: int = 1,
                 max_callers: int = 10_000, what: str = "client",
                 clock: Callable[[], float] = time.monotonic,
                 on_refuse: Callable[[str], None] | None = None) -> None:
        self.max_in_flight = max_in_flight
        self.default = default
        self.overrides = dict(overrides or {})
        self.retry_after = retry_after
        self.max_callers = max_callers
        self.what = what
        self.clock = clock
        self.on_refuse = on_refuse
        self.in_flight = 0
        self._callers: dict[str, _Caller] = {}

    def admit(self, key: str) -> Ticket:
        """A ticket, or :class:`Overloaded` / :class:`TooManyRequests` at once."""
        if self.in_flight >= self.max_in_flight:  # (1)
            self._refused("overloaded")
            raise Overloaded(f"the gateway has {self.in_flight} requests in flight, its "
                             "limit; try again later", retry_after=self.retry_after)
        caller = self._check(key)
        caller.in_flight += 1
        self.in_flight += 1
        return Ticket(self, caller)

    def trade(self, ticket: Ticket, key: str) -> Ticket:
        """``ticket``'s request, admitted already (step 1), now as ``key``'s: steps 2–3
        for ``key``, then ``ticket`` is released. Raises as :meth:`admit`, keeping
        ``ticket`` (its holder releases it with the refusal)."""
        caller = self._check(key)
        caller.in_flight += 1
        self.in_flight += 1
        ticket.release()
        return Ticket(self, caller)

    def _check(self, key: str) -> _Caller:
        caller = self._callers.get(key)
        if caller is None:
            caller = self._caller(key)
        quota = caller.quota
        if quota.concurrency and caller.in_flight >= quota.concurrency:  # (2)
            self._refused("concurrency")
            raise TooManyRequests(f"{self.what} {key} has {caller.in_flight} requests in "
                                  "flight, its limit", retry_after=self.retry_after)
        if quota.rate:  # (3) token bucket
            now = self.clock()
            tokens = min(quota.bucket, caller.tokens + (now - caller.stamp) * quota.rate)
            caller.stamp = now
            if tokens < 1.0:
                caller.tokens = tokens
                self._refused("rate")
                raise TooManyRequests(
                    f"{self.what} {key} is over its rate of {quota.rate:g} requests/s",
                    retry_after=max(1, math.ceil((1.0 - tokens) / quota.rate)))
            caller.tokens = tokens - 1.0
        return caller

    def quota_of(self, key: str) -> Quota:
        return self.overrides.get(key, self.default)

    def _refused(self, reason: str) -> None:
        if self.on_refuse is not None:
            self.on_refuse(reason)

    def _caller(self, key: str) -> _Caller:
        now = self.clock()
        if len(self._callers) >= self.max_callers:
            self._forget_idle(now)
            if len(self._callers) >= self.max_callers:
                key = SHARED
                shared = self._callers.get(key)
                if shared is not None:
                    return shared
        caller = self._callers[key] = _Caller(self.quota_of(key), now)
        return caller

    def _forget_idle(self, now: float) -> None:
        """Drop callers with nothing in flight and a bucket that has filled up again:
        remembering them would change nothing."""
        for key, c in list(self._callers.items()):
            q = c.quota
            full = not q.rate or c.tokens + (now - c.stamp) * q.rate >= q.bucket
            if c.in_flight == 0 and full and key in self._callers:
                del self._callers[key]


def backoff(retry_after: int, streak: int) -> int:
    """Seconds to advise (and not read) after the ``streak``-th refusal in a row on one
    connection: ``retry_after`` doubled each time, at most 16 times over. A client that
    honours Retry-After is rarely refused twice; one that ignores it costs ever less."""
    return retry_after << min(max(streak - 1, 0), MAX_BACKOFF_DOUBLINGS)
