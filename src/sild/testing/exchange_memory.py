"""Two gateways' pipelines joined in memory: the whole exchange without sockets.

STYLE.md rule 5: every I/O dependency of the pipelines is a small interface with an
in-memory double here. :func:`memory_exchange` builds a consumer and a provider
pipeline over real certificates (a real test CA), a real signed and verified global
configuration, in-memory message logs and access rules, a peer transport that hands the
consumer's frame straight to the provider pipeline (optionally through a ``tamper``
function, to play a network attacker), and an IS that is a plain function. Integration
tests keep the real sockets, TLS and databases.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from multidict import CIMultiDict

from sild.core.globalconf import (
    CaEntry,
    GatewayEntry,
    GlobalConf,
    MemberEntry,
    VerifiedGlobalConf,
    sign_globalconf,
    signing_key_of,
    verify_globalconf,
)
from sild.core.identifiers import MemberId, ServerId, ServiceId, SubsystemId
from sild.crypto.certs import cert_pem, fingerprint, fingerprint_der
from sild.gateway.config import GatewayLimits
from sild.gateway.context import GatewayContext, StaticTarget
from sild.gateway.exchange.consumer import consumer_pipeline
from sild.gateway.exchange.pipeline import Pipeline
from sild.gateway.exchange.provider import provider_pipeline
from sild.gateway.exchange.record import (
    Answer,
    ConsumerExchange,
    Incoming,
    IsReply,
    ProviderExchange,
)
from sild.gateway.exchange.transports import PeerReply
from sild.gateway.signer import MemberSigner, SignKeys
from sild.testing.gateway_doubles import MemoryAccess, MemoryLog
from sild.testing.pki import Credential, TestPki

__all__ = ["MemoryExchange", "MemoryIs", "MemoryPeer", "memory_exchange"]

IsFunction = Callable[[str, str, list[tuple[str, str]], bytes], IsReply]


class StaticConf:
    """A :class:`~sild.gateway.context.ConfSource` that always has the same document."""

    def __init__(self, verified: VerifiedGlobalConf) -> None:
        self.verified = verified

    def current(self) -> VerifiedGlobalConf:
        return self.verified


@dataclass
class MemoryIs:
    """An :class:`~sild.gateway.exchange.transports.IsTransport` calling a function."""

    answer: IsFunction
    calls: list[tuple[str, str, list[tuple[str, str]], bytes]] = field(default_factory=list)

    async def call(self, *, method: str, url: str, headers: list[tuple[str, str]],
                   body: bytes, time_limit: float, verify_tls: bool, limit: int) -> IsReply:
        self.calls.append((method, url, headers, body))
        return self.answer(method, url, headers, body)


@dataclass
class MemoryPeer:
    """A :class:`~sild.gateway.exchange.transports.PeerTransport` that runs the provider
    pipeline in memory, as if over mutual TLS with ``client_certificate``."""

    provider: Callable[[ProviderExchange], Awaitable[Answer]]
    client_certificate: bytes
    clock: Callable[[], datetime]
    tamper: Callable[[bytes], bytes] = lambda frame: frame
    sent: list[bytes] = field(default_factory=list)

    async def send(self, provider: GatewayEntry, frame: bytes, *, limit: int) -> PeerReply:
        frame = self.tamper(frame)
        self.sent.append(frame)

        async def body(n: int) -> bytes:
            return frame[:n + 1]

        answer = await self.provider(ProviderExchange(
            request_in=self.clock(),
            incoming=Incoming("POST", "/sild/v1/message", CIMultiDict(), body,
                              lambda: self.client_certificate)))
        headers = {k.lower(): v for k, v in answer.headers}
        return PeerReply(answer.status, headers.get("x-road-error"),
                         headers.get("content-type", ""), answer.body)


@dataclass
class MemoryExchange:
    consumer: Pipeline[ConsumerExchange, Answer]
    provider: Pipeline[ProviderExchange, Answer]
    peer: MemoryPeer
    information_system: MemoryIs
    consumer_log: MemoryLog
    provider_log: MemoryLog
    access: MemoryAccess
    client: SubsystemId
    service: ServiceId
    clock: Callable[[], datetime]

    async def call(self, method: str, path: str, headers: dict[str, str] | None = None,
                   body: bytes = b"") -> Answer:
        """What an IS gets for ``METHOD /r1/...path`` on the consumer gateway."""
        async def read(n: int) -> bytes:
            return body[:n + 1]

        hdrs = CIMultiDict(headers or {})
        return await self.consumer.run(ConsumerExchange(
            request_in=self.clock(), incoming=Incoming(method, path, hdrs, read, lambda: None)))


def _signer(cred: Credential, member: MemberId) -> MemberSigner:
    der = cred.certificate.public_bytes(serialization.Encoding.DER)
    return MemberSigner(member, cred.key, cred.certificate, der, fingerprint_der(der))


def memory_exchange(folder: Path, *, at: datetime, answer: IsFunction) -> MemoryExchange:
    """A consumer gateway (EE/COM/10000001/gw2, client …/his) and a provider gateway
    (EE/GOV/70000001/gw1, service …/rr/echo granted to the client) joined in memory."""
    pki = TestPki.create(folder, at=at - timedelta(minutes=1))
    provider_member, consumer_member = MemberId("EE", "GOV", "70000001"), MemberId(
        "EE", "COM", "10000001")
    provider_id, consumer_id = ServerId(provider_member, "gw1"), ServerId(consumer_member, "gw2")
    client = consumer_member.subsystem("his")
    service = provider_member.subsystem("rr").service("echo")
    p_auth, c_auth = pki.auth_credential(provider_id), pki.auth_credential(consumer_id)
    conf_key = Ed25519PrivateKey.generate()
    conf = GlobalConf(
        instance="EE", version=1, issued_at=at - timedelta(seconds=1),
        expires_at=at + timedelta(days=1), refresh_interval=60,
        signing_keys=(signing_key_of(conf_key),),
        cas=(CaEntry("Test CA", cert_pem(pki.ca.certificate), fingerprint(pki.ca.certificate),
                     ()),),
        members=(MemberEntry(provider_member, "Provider", ("rr",)),
                 MemberEntry(consumer_member, "Consumer", ("his",))),
        gateways=(GatewayEntry(provider_id, "provider:5500", fingerprint(p_auth.certificate),
                               (service.subsystem,)),
                  GatewayEntry(consumer_id, "consumer:5500", fingerprint(c_auth.certificate),
                               (client,))))
    verified = verify_globalconf(sign_globalconf(conf, [conf_key]),
                                 trusted_keys={signing_key_of(conf_key).key_id:
                                               signing_key_of(conf_key)},
                                 instance="EE", at=at, last=None)
    limits = GatewayLimits(max_body=1024 * 1024)
    now = [at]

    def clock() -> datetime:
        return now[0]

    provider_log, consumer_log, access = MemoryLog(), MemoryLog(), MemoryAccess()
    access.services[service] = StaticTarget("http://is.example/echo", 5.0)
    access.allowed[service] = {client}
    p_ctx = GatewayContext(server=provider_id, limits=limits, keys=SignKeys(
        {provider_member: _signer(pki.sign_credential(provider_member), provider_member)}),
        confclient=StaticConf(verified), log=provider_log, access=access, clock=clock)
    c_ctx = GatewayContext(server=consumer_id, limits=limits, keys=SignKeys(
        {consumer_member: _signer(pki.sign_credential(consumer_member), consumer_member)}),
        confclient=StaticConf(verified), log=consumer_log, access=MemoryAccess(), clock=clock)
    information_system = MemoryIs(answer)
    provider = provider_pipeline(p_ctx, information_system)
    peer = MemoryPeer(provider.run, c_auth.certificate.public_bytes(serialization.Encoding.DER),
                      clock)
    consumer = consumer_pipeline(c_ctx, peer)
    return MemoryExchange(consumer, provider, peer, information_system, consumer_log,
                          provider_log, access, client, service, clock)
