"""A rolled-back global configuration (docs/spec/globalconf.md §4 step 5).

An attacker who controls the path to the registry (or a mirror) serves an older,
genuinely signed document — one from before a gateway's certificate was revoked, say.
The drill fetches the live document, makes an older one signed with the registry's own
configuration keys (what a captured old document is), checks that it verifies on its
own, then points a fresh configuration client, which has seen the live one, at it:
the rollback must be refused.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sild.clock import utc_now
from sild.confclient.client import ConfClient
from sild.core.anchor import parse_anchor
from sild.core.globalconf import sign_globalconf, verify_globalconf
from sild.crypto.keys import load_private_key
from sild.errors import ConfigurationError, GlobalConfError
from sild.exercise.model import Attack, Outcome, Result
from sild.exercise.target import Target

__all__ = ["ATTACKS"]


class _Serve:
    """A configuration source that answers with fixed bytes (the attacker's mirror)."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    async def fetch(self, url: str) -> bytes:
        return self.raw


async def rollback(t: Target) -> Result:
    a = ROLLBACK
    anchor = parse_anchor(t.provider.anchor_path.read_bytes())
    with tempfile.TemporaryDirectory() as tmp:
        client = ConfClient(anchor, Path(tmp))
        live = await client.refresh()  # from the anchor's sources: the live registry
        conf = live.conf
        keys: list[Ed25519PrivateKey] = []
        for k in conf.signing_keys:
            key = load_private_key(t.instance.config_keys_dir / f"{k.key_id}.key",
                                   passphrase=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ConfigurationError(f"configuration key {k.key_id} is not Ed25519")
            keys.append(key)
        older = replace(conf, version=max(conf.version - 1, 0),
                        issued_at=conf.issued_at - timedelta(minutes=5))
        raw = sign_globalconf(older, keys)
        # It is a genuine document: alone, it verifies against the anchor.
        verify_globalconf(raw, trusted_keys=anchor.trusted_keys, instance=anchor.instance,
                          at=utc_now(), last=None)
        # The client restarts from its cache (the rollback floor persists, §4 step 7) and
        # now reaches the attacker's mirror instead of the registry.
        client = ConfClient(anchor, Path(tmp), fetcher=_Serve(raw))
        client.load_cached()
        try:
            got = await client.refresh()
        except GlobalConfError as e:
            return a.result(Outcome.STOPPED, "configuration client's rollback floor",
                            f"{e.xroad_code}: {e.message}")
        return a.result(Outcome.UNDETECTED, "nothing",
                        f"version {got.conf.version} accepted after version {conf.version}")


ROLLBACK = Attack("conf.rollback", "global configuration",
                  "an older, genuinely signed global configuration served to a client",
                  rollback)
ATTACKS = (ROLLBACK,)
