"""A short flood from one client (ARCHITECTURE.md §8 "flood from one client"; issue #12
fairness): while it lasts, another client of another gateway keeps being served, and
the flooder's excess is answered at once with 429 + ``Retry-After`` (or 503 when the
gateway sheds load; sild/gateway/admission.py), never queued or dropped."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import aiohttp

from sild.exercise.model import Attack, Outcome, Result, error_code
from sild.exercise.target import Target

__all__ = ["ATTACKS", "FLOOD_CONNECTIONS", "FLOOD_REQUESTS"]

FLOOD_CONNECTIONS = 200  # above the default per-client concurrency (64, gateway.toml)
FLOOD_REQUESTS = 1000
VICTIM_REQUESTS = 20


async def _flood(t: Target, stats: Counter[str], stop: asyncio.Event) -> None:
    url = f"{t.is_url(t.consumer)}/r1/{t.service.path()}/38001085718"
    headers = {"X-Road-Client": str(t.client)}
    conn = aiohttp.TCPConnector(limit=FLOOD_CONNECTIONS, force_close=False)
    sent = 0

    async def one(session: aiohttp.ClientSession) -> None:
        nonlocal sent
        while sent < FLOOD_REQUESTS and not stop.is_set():
            sent += 1
            try:
                async with session.get(url, headers=headers,
                                       timeout=aiohttp.ClientTimeout(total=30)) as resp:
                    body = await resp.read()
                    key = str(resp.status)
                    if resp.status in (429, 503):
                        key += "+Retry-After" if resp.headers.get("Retry-After") else \
                            " without Retry-After"
                    elif resp.status >= 400:
                        key += " " + error_code(body)
                    stats[key] += 1
            except (aiohttp.ClientError, TimeoutError) as e:
                stats[f"failed ({type(e).__name__})"] += 1

    async with aiohttp.ClientSession(connector=conn) as session:
        await asyncio.gather(*(one(session) for _ in range(FLOOD_CONNECTIONS)))


async def _victim(t: Target, n: int = VICTIM_REQUESTS) -> tuple[list[float], list[str]]:
    bank = t.bank or t.consumer
    client = f"{bank.server.owner}/bank" if t.bank is not None else str(t.client)
    service = f"{t.provider.server.owner}/rr/population/persons" if t.bank is not None else \
        t.service.path()
    url = f"{t.is_url(bank)}/r1/{service}/{t.person}"
    times: list[float] = []
    failures: list[str] = []
    async with aiohttp.ClientSession() as session:
        for _ in range(n):
            started = time.monotonic()
            try:
                async with session.get(url, headers={
                        "X-Road-Client": client, "Sild-Data-Subject": t.person,
                        "Sild-Purpose": "Customer due diligence (AML)",
                        "X-Road-UserId": "EE38001085718"},
                                       timeout=aiohttp.ClientTimeout(total=30)) as resp:
                    body = await resp.read()
                    if resp.status != 200:
                        failures.append(f"HTTP {resp.status} {error_code(body)}")
            except (aiohttp.ClientError, TimeoutError) as e:
                failures.append(type(e).__name__)
            times.append(time.monotonic() - started)
            await asyncio.sleep(0.02)
    return times, failures


async def flood(t: Target) -> Result:
    a = FLOOD
    stats: Counter[str] = Counter()
    stop = asyncio.Event()
    unloaded, _ = await _victim(t, 10)  # the baseline, in the same run
    flooding = asyncio.create_task(_flood(t, stats, stop))
    await asyncio.sleep(0.3)  # let the flood build up
    times, failures = await _victim(t)
    stop.set()
    await flooding
    refused = {k: v for k, v in stats.items() if k.startswith(("429", "503"))}
    served = "; ".join(f"{k}: {v}" for k, v in sorted(stats.items()))
    worst = max(times) * 1000 if times else 0.0
    base = sorted(unloaded)[len(unloaded) // 2] * 1000 if unloaded else 0.0
    victim = (f"the other client: {len(times) - len(failures)}/{len(times)} served, "
              f"slowest {worst:.0f} ms (median {base:.0f} ms unloaded)")
    bad = [k for k in stats if not k.startswith(("200", "429+", "503+"))]
    if failures or bad:
        return a.result(Outcome.UNDETECTED, "nothing",
                        f"{victim} ({', '.join(failures[:3])}); flood answers: {served}")
    by = "admission (per-client concurrency, sild/gateway/admission.py)" if refused else \
        "capacity (the flood was absorbed without refusals)"
    return a.result(Outcome.STOPPED, by, f"{victim}; flood answers: {served}")


FLOOD = Attack("flood.one-client", "availability",
               f"{FLOOD_CONNECTIONS} connections from one client while another is served",
               flood)
ATTACKS = (FLOOD,)
