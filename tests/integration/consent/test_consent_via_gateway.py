"""The consent service as a member subsystem behind a provider gateway, asked by
ConsentClient through a consumer gateway's /r1/<service id> prefix: real HTTP, real
mutual TLS between the gateways (docs/spec/consent.md §5.4)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from sild.consent.app import create_consent_app
from sild.consent.client import ConsentClient, ConsentDecision
from sild.consent.service import ConsentService
from sild.gateway.context import StaticTarget
from sild.store import make_engine, migrate
from sild.testing.consent import DOCTOR, PERSON, signing_key
from sild.testing.exchange import CLIENT, PROVIDER, Net, setup_services, start_net
from sild.testing.servers import serve_asgi

CONSENT = PROVIDER.member.subsystem("rr").service("consent")
UNGRANTED = PROVIDER.member.subsystem("rr").service("consent-closed")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Net, ConsentService]]:
    root = tmp_path_factory.mktemp("consent-net")
    engine = make_engine(f"sqlite:///{root}/consent.db")
    migrate(engine, "consent")
    service = ConsentService(engine, key=signing_key())
    thread, net = start_net(root / "net")
    with thread, serve_asgi(create_consent_app(service, admin_token="t" * 20)) as url:
        setup_services(net)
        net.access["gw1"].services[CONSENT] = StaticTarget(url, 5.0)
        net.access["gw1"].allowed[CONSENT] = {CLIENT}
        net.access["gw1"].services[UNGRANTED] = StaticTarget(url, 5.0)
        yield net, service
    engine.dispose()


def via(net: Net, service: object = CONSENT) -> ConsentClient:
    return ConsentClient(f"{net.consumer_url()}/r1/{service.path()}",  # type: ignore[attr-defined]
                         headers={"X-Road-Client": str(CLIENT)}, cache_ttl=0, timeout=10)


def decide(client: ConsentClient, consent: str | None = None) -> ConsentDecision:
    async def run() -> ConsentDecision:
        try:
            return await client.decide(PERSON, ("health", "population"), DOCTOR, "treatment",
                                       consent)
        finally:
            await client.close()
    return asyncio.run(run())


def test_decision_through_the_exchange(world: tuple[Net, ConsentService]) -> None:
    """Allow, then the person locks health: deny, with the locked category, via two gateways."""
    net, service = world
    assert decide(via(net)).allowed
    service.lock(PERSON, "health", actor="p")
    try:
        d = decide(via(net))
        assert (d.allowed, d.locked) == (False, ("health",))
        assert "person has locked their health data" in d.reason
    finally:
        service.unlock(PERSON, "health", actor="p")


def test_forged_consent_relayed_through_the_exchange(world: tuple[Net, ConsentService]) -> None:
    """The service's Client.* refusal reaches the client through both gateways."""
    from sild.errors import RelayedError

    net, _ = world
    with pytest.raises(RelayedError) as e:
        decide(via(net), consent="eyJhbGciOiJFUzI1NiJ9.e30.AAAA")
    assert e.value.xroad_code == "Client.InvalidSignatureValue"


def test_no_access_right_fails_closed(world: tuple[Net, ConsentService]) -> None:
    """A gateway refusal (no access right to the consent service): no decision, an error."""
    from sild.errors import ConsentUnavailable

    net, _ = world
    with pytest.raises(ConsentUnavailable):
        decide(via(net, UNGRANTED))


def test_unknown_consumer_header_fails_closed(world: tuple[Net, ConsentService]) -> None:
    """A consumer gateway that does not know the X-Road-Client: an error, never allow."""
    from sild.errors import ConsentUnavailable, RelayedError

    net, _ = world
    client = ConsentClient(f"{net.consumer_url()}/r1/{CONSENT.path()}",
                           headers={"X-Road-Client": "EE/COM/99999999/nobody"}, timeout=10)
    with pytest.raises((ConsentUnavailable, RelayedError)):
        decide(client)


