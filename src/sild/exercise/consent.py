"""Consent bypass (docs/spec/tracker.md; research/citizen.md §2): the locked person's
health records without break-glass, and break-glass from outside the emergency group."""

from __future__ import annotations

import aiohttp

from sild.exercise.model import Attack, Outcome, Result, error_code, error_text
from sild.exercise.target import Target
from sild.gateway.config import GatewaySettings

__all__ = ["ATTACKS"]


async def _ask(t: Target, gateway: GatewaySettings, client: str,
               extra: dict[str, str]) -> tuple[int, bytes]:
    health = t.health
    assert health is not None
    service = f"{health.server.owner}/tis/health/visits"  # sild/demo_plan.py
    person = t.locked_person
    headers = {"X-Road-Client": client, "X-Road-UserId": "EE38001085718",
               "Sild-Purpose": "Exercise", "Sild-Data-Subject": person, **extra}
    async with aiohttp.ClientSession() as session, session.get(
            f"{t.is_url(gateway)}/r1/{service}/{person}", headers=headers,
            timeout=aiohttp.ClientTimeout(total=15)) as resp:
        return resp.status, await resp.read()


def _judge(a: Attack, status: int, body: bytes, expected: str, by: str) -> Result:
    code = error_code(body)
    if status >= 400 and code.endswith(expected):
        return a.result(Outcome.STOPPED, by, error_text(status, body))
    return a.result(Outcome.UNDETECTED, "nothing",
                    f"HTTP {status} {code or body[:120]!r} (expected {expected})")


async def locked_without_break_glass(t: Target) -> Result:
    """The doctor asks for a locked person's health records, no emergency given."""
    a = LOCKED
    if t.health is None or not t.locked_person:
        return a.result(Outcome.SKIPPED, "—", "no register with a locked person in this network")
    status, body = await _ask(t, t.consumer, str(t.client), {})
    return _judge(a, status, body, "AccessDenied", "the person's lock (consent service, "
                  "asked by the provider's gateway)")


async def break_glass_outside_group(t: Target) -> Result:
    """The police (granted the service, not in the emergency group) claim an emergency."""
    a = BREAK_GLASS
    if t.health is None or t.police is None or not t.locked_person:
        return a.result(Outcome.SKIPPED, "—", "no police gateway or locked person here")
    police = f"{t.police.server.owner}/polis"
    status, body = await _ask(t, t.police, police, {"Sild-Emergency": "exercise"})
    return _judge(a, status, body, "EmergencyNotPermitted",
                  "the emergency group (global configuration)")


LOCKED = Attack("consent.locked-without-break-glass", "consent",
                "a locked person's health records without Sild-Emergency",
                locked_without_break_glass)
BREAK_GLASS = Attack("consent.break-glass-outside-group", "consent",
                     "Sild-Emergency from a client outside the emergency group",
                     break_glass_outside_group)
ATTACKS = (LOCKED, BREAK_GLASS)
