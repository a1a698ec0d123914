"""An identity service on a real store (SQLite and PostgreSQL) with a real person CA."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from sild.ca import CertificateAuthority
from sild.crypto.keys import load_private_key
from sild.identity.eresidency import EResidency
from sild.identity.person_ca import PersonCA
from sild.identity.records import OfficerRole
from sild.identity.service import IdentityService
from sild.identity.token import KdfParams
from sild.store import make_engine, migrate
from sild.testing.clock import FIXED_NOW, SettableClock

FAST_KDF = KdfParams(n=2**10)


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(FIXED_NOW)


@pytest.fixture
def person_ca(tmp_path: Path) -> PersonCA:
    root = CertificateAuthority.create(tmp_path / "root", name="EE Sild Root CA", at=FIXED_NOW)
    return PersonCA.create(tmp_path / "person-ca", root_certificate=root.certificate,
                           root_key=load_private_key(tmp_path / "root" / "ca.key"),
                           name="EE Sild Person CA", at=FIXED_NOW)


@pytest.fixture
def service(db_url: str, tmp_path: Path, person_ca: PersonCA,
            clock: SettableClock) -> Iterator[IdentityService]:
    engine = make_engine(db_url)
    migrate(engine, "identity")
    svc = IdentityService(engine, issuer=person_ca.certificate, ca=person_ca,
                          tokens_dir=tmp_path / "tokens", clock=clock, kdf=FAST_KDF,
                          rng=random.Random(1))
    try:
        yield svc
    finally:
        engine.dispose()


@pytest.fixture
def eres(service: IdentityService) -> EResidency:
    service.add_officer("Peeter Politsei", OfficerRole.POLICE)
    service.add_officer("Rita Registrar", OfficerRole.REGISTRAR)
    service.add_officer("Kalle Kaks", OfficerRole.REGISTRAR)
    return EResidency(service)
