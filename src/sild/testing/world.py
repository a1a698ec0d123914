"""A registry on a real database with a test PKI, one member and its credentials.

Used by the registry tests and, later, by tests that need a populated registry.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sild.core.identifiers import MemberId, ServerId, SubsystemId
from sild.registry.requests import build_client_request, build_gateway_request
from sild.registry.service import Registry
from sild.store import make_engine, migrate
from sild.testing.clock import SettableClock
from sild.testing.pki import Credential, TestPki

__all__ = ["CLIENT", "OTHER", "OWNER", "SERVER", "World", "registry_world"]

OWNER = MemberId("EE", "GOV", "70000001")
OTHER = MemberId("EE", "COM", "12345678")
SERVER = ServerId(OWNER, "gw1")
CLIENT = SubsystemId(OWNER, "rr")


@dataclass
class World:
    registry: Registry
    clock: SettableClock
    pki: TestPki
    ca_fingerprint: str
    config_key: Ed25519PrivateKey
    owner_sign: Credential
    auth: Credential

    def gateway_request(self, server: ServerId = SERVER, auth: Credential | None = None,
                        owner: Credential | None = None, address: str = "127.0.0.1:5500") -> bytes:
        auth = auth or self.auth
        owner = owner or self.owner_sign
        return build_gateway_request(
            server=server, address=address, auth_certificate=auth.certificate,
            auth_key=auth.key, owner_certificate=owner.certificate, owner_key=owner.key,
            at=self.clock())

    def client_request(self, client: SubsystemId = CLIENT, *,
                       client_cred: Credential | None = None) -> bytes:
        return build_client_request(
            server=SERVER, client=client, owner_certificate=self.owner_sign.certificate,
            owner_key=self.owner_sign.key, at=self.clock(),
            client_certificate=client_cred.certificate if client_cred else None,
            client_key=client_cred.key if client_cred else None)


@contextmanager
def registry_world(db_url: str, folder: Path) -> Iterator[World]:
    """A migrated registry with the test CA approved, a configuration key and one member."""
    clock = SettableClock()
    engine = make_engine(db_url)
    migrate(engine)
    registry = Registry(engine, "EE", clock=clock)
    pki = TestPki.create(folder / "ca", at=clock())
    ca_fp = registry.add_ca(pki.ca.certificate, "Test CA")
    key = Ed25519PrivateKey.generate()
    registry.add_config_key(key.public_key())
    registry.add_member(OWNER, "Ministry of Tests")
    try:
        yield World(registry, clock, pki, ca_fp, key, pki.sign_credential(OWNER),
                    pki.auth_credential(SERVER))
    finally:
        engine.dispose()
