"""Doubles for the configuration client (docs/spec/globalconf.md): an in-memory
:class:`~sild.confclient.Fetcher` and small builders for signed documents and anchors.
"""

from __future__ import annotations

import base64
import hashlib
import textwrap
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sild.core.anchor import Anchor
from sild.core.globalconf import (
    CaEntry,
    GatewayEntry,
    GlobalConf,
    GlobalGroupEntry,
    MemberEntry,
    RevokedCert,
    SigningKey,
    signing_key_of,
)
from sild.core.identifiers import GlobalGroupId, MemberId, ServerId, SubsystemId
from sild.errors import SildError, TransportError

__all__ = ["MemoryFetcher", "fake_certificate_pem", "make_anchor", "make_conf"]

T0 = datetime(2026, 11, 22, 16, 0, 0, tzinfo=UTC)


class MemoryFetcher:
    """A :class:`~sild.confclient.Fetcher` serving bytes from a dict; records every URL."""

    def __init__(self) -> None:
        self.responses: dict[str, bytes | SildError] = {}
        self.requests: list[str] = []

    def serve(self, url: str, raw: bytes) -> None:
        self.responses[url] = raw

    def down(self, url: str) -> None:
        """Make ``url`` unreachable: fetches raise :class:`TransportError`."""
        self.responses[url] = TransportError(f"GET {url}: connection refused", url=url)

    async def fetch(self, url: str) -> bytes:
        self.requests.append(url)
        answer = self.responses.get(url)
        if answer is None:
            raise TransportError(f"GET {url} returned HTTP 404", url=url, status=404)
        if isinstance(answer, SildError):
            raise answer
        return answer


def fake_certificate_pem(der: bytes) -> tuple[str, str]:
    """A PEM block around ``der`` and its SHA-256 fingerprint (not a real certificate)."""
    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode(), 64))
    pem = f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"
    return pem, hashlib.sha256(der).hexdigest()


def make_conf(
    keys: Sequence[Ed25519PrivateKey | SigningKey],
    *,
    instance: str = "EE",
    version: int = 1,
    issued_at: datetime = T0,
    lifetime: timedelta = timedelta(seconds=600),
    refresh_interval: int = 60,
) -> GlobalConf:
    """A small but complete document: one CA with a revocation, two members, a gateway,
    a global group; ``signing_keys`` are ``keys``."""
    signing = tuple(k if isinstance(k, SigningKey) else signing_key_of(k) for k in keys)
    pem, fingerprint = fake_certificate_pem(b"test root CA " + instance.encode())
    gov = MemberId(instance, "GOV", "70000562")
    com = MemberId(instance, "COM", "12345678")
    rr = SubsystemId(gov, "rr")
    return GlobalConf(
        instance=instance,
        version=version,
        issued_at=issued_at,
        expires_at=issued_at + lifetime,
        refresh_interval=refresh_interval,
        signing_keys=signing,
        cas=(CaEntry("Test Root CA", pem, fingerprint, (RevokedCert("1f", issued_at),)),),
        members=(MemberEntry(gov, "Ministry", ("rr",)), MemberEntry(com, "Company", ())),
        gateways=(GatewayEntry(ServerId(gov, "gw1"), "127.0.0.1:5500", "ab" * 32, (rr, gov)),),
        global_groups=(GlobalGroupEntry(GlobalGroupId(instance, "all"), "everyone", (rr,)),),
    )


def make_anchor(
    keys: Sequence[Ed25519PrivateKey],
    sources: Sequence[str] = ("http://127.0.0.1:4000/globalconf",),
    *,
    instance: str = "EE",
    generated_at: datetime = T0,
) -> Anchor:
    """An anchor trusting ``keys`` and downloading from ``sources``."""
    return Anchor(instance, generated_at, tuple(sources), tuple(signing_key_of(k) for k in keys))
