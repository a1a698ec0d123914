"""Run the attacks one after another (they must not disturb each other's evidence)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from sild.exercise import conf, consent, flood, is_port, logs, outage, peer
from sild.exercise.model import Attack, Outcome, Result
from sild.exercise.target import Target

__all__ = ["ATTACKS", "preflight", "run_attacks"]

ATTACKS: tuple[Attack, ...] = (*peer.ATTACKS, *is_port.ATTACKS, *conf.ATTACKS, *consent.ATTACKS,
                               *logs.ATTACKS, *flood.ATTACKS, *outage.ATTACKS)


async def preflight(target: Target) -> None:
    """:class:`TransportError` (exit 3) unless the network answers at all: a stopped
    network is not a drill that failed, nor one that passed."""
    from sild.errors import TransportError

    for settings in (target.consumer, target.provider):
        host, port = settings.is_listen.rsplit(":", 1)
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 5)
        except (OSError, TimeoutError) as e:
            raise TransportError(f"{settings.server}'s IS port {settings.is_listen} does not "
                                 f"answer ({e.strerror if isinstance(e, OSError) else 'timeout'}); "
                                 "is the network running?") from e
        writer.close()


async def run_attacks(target: Target, attacks: Sequence[Attack] = ATTACKS,
                      progress: Callable[[Result, float], None] | None = None) -> list[Result]:
    """Each attack in turn. One that breaks (an exception: the drill could not carry it
    out) counts as UNDETECTED, so a broken drill never passes silently."""
    results = []
    for attack in attacks:
        started = time.monotonic()
        try:
            result = await attack.run(target)
        except Exception as e:  # reported, and fails the drill
            result = attack.result(Outcome.UNDETECTED, "nothing (the attack could not be "
                                   "judged)", f"{type(e).__name__}: {e}")
        if progress is not None:
            progress(result, time.monotonic() - started)
        results.append(result)
    return results
