"""The garbage collector of a long-running server process (issue 12, fairness).

CPython's full (generation 2) collection walks every tracked object. A served gateway
held ~155 k of them, nearly all made at start-up and alive as long as the process, and
each full collection cost it 100–190 ms with the event loop stopped: one such pause in
a 10 s window was the p99 of every client (measured with a gc callback under
bench/bench_fairness.py).
:func:`settle_after_start` moves what start-up made into the permanent generation
(``gc.freeze``), so later collections walk only what requests made since.
"""

from __future__ import annotations

import gc

__all__ = ["settle_after_start"]


def settle_after_start() -> None:
    """Collect start-up's garbage, then exempt what is left from later collections.

    For a server process once it is up, not for a library caller: frozen objects are
    never collected, so a process that keeps making and dropping long-lived structures
    (a test session) should not call it."""
    gc.collect()
    gc.freeze()
