"""Fixtures for identity unit tests: an instance root and a person CA under it."""

from __future__ import annotations

from pathlib import Path

import pytest

from sild.ca import CertificateAuthority
from sild.crypto.keys import load_private_key
from sild.identity.person_ca import PersonCA
from sild.identity.token import KdfParams
from sild.testing.clock import FIXED_NOW

# Cheap scrypt for unit tests; the default cost has a test of its own.
FAST_KDF = KdfParams(n=2**10)


@pytest.fixture
def root(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority.create(tmp_path / "root", name="EE Sild Root CA", at=FIXED_NOW)


@pytest.fixture
def person_ca(tmp_path: Path, root: CertificateAuthority) -> PersonCA:
    return PersonCA.create(
        tmp_path / "person-ca", root_certificate=root.certificate,
        root_key=load_private_key(tmp_path / "root" / "ca.key"), name="EE Sild Person CA",
        at=FIXED_NOW, ocsp_url="http://127.0.0.1:4100/ocsp",
    )
