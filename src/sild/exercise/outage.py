"""The ledger or the registry down (ARCHITECTURE.md §8; docs/operations.md "Failure
behaviour"): traffic keeps flowing from the cached configuration or the queue of
unanchored rounds, and stops — fails closed — once that is no longer acceptable.

The drill does not control the network's registry or ledger processes, so it takes
them away from one gateway of its own: a copy of the consumer gateway's folder (the
same identity, a fresh database and cache, its own ports), started in this process.

* **registry down**: the copy's anchor points at the drill's own mirror, which serves
  the live configuration re-signed with the registry's keys to expire in a few seconds
  (the insider view), then goes away. Calls through the copy must be served from the
  cache until that expiry and refused with ``OutdatedGlobalConf`` after it.
* **ledger down**: the copy anchors in a ledger that does not answer, with
  ``max_unanchored`` of a few seconds. Calls must be served while rounds queue and
  refused with ``TimestampingFailed`` once the oldest round has waited too long.

Either outage succeeds (UNDETECTED) if traffic stops at once (an outage becomes a denial
of service) or never stops (a stale configuration or an unanchored log is trusted).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sild.clock import utc_now
from sild.confclient.client import ConfClient
from sild.core.anchor import parse_anchor
from sild.core.globalconf import sign_globalconf
from sild.crypto.keys import load_private_key
from sild.embedded import free_port
from sild.errors import ConfigurationError
from sild.exercise.model import Attack, Outcome, Result, error_code, error_text
from sild.exercise.target import Target
from sild.gateway.config import AnchoringSettings, GatewaySettings
from sild.gateway.runtime import Gateway
from sild.gateway.stores import GatewayStores

__all__ = ["ATTACKS", "GRACE"]

GRACE = 4.0  # seconds the configuration (or the unanchored queue) stays acceptable


@contextlib.asynccontextmanager
async def _drill_gateway(t: Target, *, anchor: bytes | None = None,
                         anchoring: AnchoringSettings | None = None
                         ) -> AsyncIterator[GatewaySettings]:
    """A copy of the consumer gateway (same keys, fresh database and cache), running."""
    with tempfile.TemporaryDirectory(prefix="sild-exercise-") as tmp:
        root = Path(tmp) / "gw"
        shutil.copytree(t.consumer.root, root, ignore=shutil.ignore_patterns(
            "confcache", "*.db", "*.db-*"))
        (root / "confcache").mkdir()
        s = dataclasses.replace(
            t.consumer, root=root, database_url=f"sqlite:///{Path(tmp) / 'gw.db'}",
            is_listen=f"127.0.0.1:{free_port()}", peer_listen=f"127.0.0.1:{free_port()}",
            admin_listen=f"127.0.0.1:{free_port()}",
            anchoring=anchoring or AnchoringSettings(),
            tracker=dataclasses.replace(t.consumer.tracker, notify=""))
        s.write()
        if anchor is not None:
            s.anchor_path.write_bytes(anchor)
        stores = GatewayStores(s)
        await stores.start()
        gateway = Gateway(s, stores.log, stores.serverconf)
        try:
            await gateway.start()
            yield s
        finally:
            await gateway.stop()
            await stores.close()


async def _call(t: Target, s: GatewaySettings) -> tuple[int, bytes]:
    """One ordinary lookup through the drill's gateway."""
    headers = {"X-Road-Client": str(t.client)}
    if t.person:  # a personal-data service, as the demo's population register
        headers |= {"X-Road-UserId": "EE38001085718", "Sild-Purpose": "Exercise",
                    "Sild-Data-Subject": t.person}
    async with aiohttp.ClientSession() as session, session.get(
            f"http://{s.is_listen}/r1/{t.service.path()}/{t.person or 'exercise'}",
            headers=headers, timeout=aiohttp.ClientTimeout(total=15)) as resp:
        return resp.status, await resp.read()


async def _served_then_refused(a: Attack, t: Target, s: GatewaySettings, *, until: float,
                               expected: str, by: str, before: str) -> Result:
    """Served now (before ``until``, monotonic), refused with ``expected`` after it."""
    status, body = await _call(t, s)
    if status != 200:
        return a.result(Outcome.UNDETECTED, "nothing (traffic stopped at once)",
                        f"{before}: {error_text(status, body)} instead of 200")
    await asyncio.sleep(max(0.0, until - time.monotonic()) + 0.5)
    deadline = time.monotonic() + GRACE + 5
    while True:  # anchoring's check runs on its own period; give it a little time
        late_status, late_body = await _call(t, s)
        if late_status >= 400 and error_code(late_body).endswith(expected):
            return a.result(Outcome.STOPPED, by, f"{before}: HTTP 200; then "
                            f"{error_text(late_status, late_body)}")
        if time.monotonic() > deadline:
            return a.result(Outcome.UNDETECTED, "nothing (served past the limit)",
                            f"{before}: HTTP 200; past the limit still "
                            f"HTTP {late_status} {error_code(late_body)}".rstrip())
        await asyncio.sleep(0.5)


async def registry_down(t: Target) -> Result:
    a = REGISTRY_DOWN
    anchor = parse_anchor(t.consumer.anchor_path.read_bytes())
    with tempfile.TemporaryDirectory() as tmp:
        live = (await ConfClient(anchor, Path(tmp)).refresh()).conf
    keys: list[Ed25519PrivateKey] = []
    for k in live.signing_keys:
        key = load_private_key(t.instance.config_keys_dir / f"{k.key_id}.key", passphrase=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigurationError(f"configuration key {k.key_id} is not Ed25519")
        keys.append(key)
    now = utc_now()
    short = sign_globalconf(dataclasses.replace(
        live, issued_at=now, expires_at=now + timedelta(seconds=GRACE)), keys)
    expires = time.monotonic() + GRACE
    # The drill's registry mirror, up for the copy's first fetch only.
    async def serve(_: web.Request) -> web.Response:
        return web.Response(body=short)

    app = web.Application()
    app.router.add_get("/{tail:.*}", serve)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    raw = json.loads(t.consumer.anchor_path.read_bytes())
    raw["sources"] = [{"url": f"http://127.0.0.1:{port}/globalconf"}]
    try:
        async with _drill_gateway(t, anchor=json.dumps(raw).encode()) as s:
            await runner.cleanup()  # the registry is down from now on
            return await _served_then_refused(
                a, t, s, until=expires, expected="OutdatedGlobalConf",
                by="the gateway fails closed when its cached configuration expires",
                before=f"registry unreachable, configuration version {live.version} "
                       f"cached for {GRACE:.0f} s")
    finally:
        await runner.cleanup()


async def ledger_down(t: Target) -> Result:
    a = LEDGER_DOWN
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    anchoring = AnchoringSettings(ledger_url=dead, period=0.2, max_unanchored=GRACE)
    async with _drill_gateway(t, anchoring=anchoring) as s:
        return await _served_then_refused(
            a, t, s, until=time.monotonic() + GRACE, expected="TimestampingFailed",
            by="the gateway stops when its log has waited too long for the ledger",
            before=f"ledger unreachable, rounds queued, max_unanchored {GRACE:.0f} s")


REGISTRY_DOWN = Attack("outage.registry-down", "availability",
                       "the registry goes away: served from cache until the configuration "
                       "expires, then OutdatedGlobalConf", registry_down)
LEDGER_DOWN = Attack("outage.ledger-down", "availability",
                     "the ledger goes away: served while rounds queue, then "
                     "TimestampingFailed", ledger_down)
ATTACKS = (REGISTRY_DOWN, LEDGER_DOWN)
