"""Fixtures for signed-document unit tests: an in-memory signing world (no HTTP)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sild.doc.container import Container, write_container
from sild.doc.sign import add_signature, new_container
from sild.testing.documents import DocWorld

DATA = {"leping.txt": b"The parties agree.\n", "lisa 1.pdf": b"%PDF-1.7 annex\n"}
TYPES = {"leping.txt": "text/plain", "lisa 1.pdf": "application/pdf"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DocWorld:
    return DocWorld(Path(tmp_path_factory.mktemp("docworld")))


def signed(world: DocWorld, container: Container | None = None, **services: object) -> Container:
    """``container`` (default: DATA) with one more signature by the world's signer."""
    return add_signature(container or new_container(DATA, TYPES), certificate=world.certificate,
                         chain=world.chain, sign=world.sign,
                         services=world.services(**services),  # type: ignore[arg-type]
                         at=world.at)


@pytest.fixture(scope="module")
def signed_zip(world: DocWorld) -> bytes:
    return write_container(signed(world))


@pytest.fixture(scope="module")
def signed_one(world: DocWorld) -> Container:
    """One signed container for tests that must see the same bytes every time."""
    return signed(world)
