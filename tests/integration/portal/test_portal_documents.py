"""Documents in the portal (docs/spec/portal.md §5): a container uploaded is checked by
sild.doc and reported; bad uploads are clear 400s; no CSRF token → 403."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sild.doc.container import write_container
from sild.doc.report import Indication
from sild.doc.sign import add_signature, new_container
from sild.doc.verify import verify_container
from sild.errors import PinError
from sild.portal.app import create_portal_app
from sild.portal.demo import config_of
from sild.portal.signing import SignerKit
from sild.testing.documents import DocWorld
from sild.testing.portal_country import Country
from sild.testing.servers import serve_asgi

from .conftest import PAGE, Browser, Portal


def _upload(b: Browser, data: bytes, *, token: str | None) -> tuple[int, str]:
    body = {"csrf_token": token} if token is not None else {}
    r = b.http.post(b.url + "/documents/verify", data=body, allow_redirects=False,
                    files={"container": ("letter.asice", data,
                                         "application/vnd.etsi.asic-e+zip")}, timeout=30)
    return r.status_code, r.text


def _signed(tmp_path: Path) -> bytes:
    world = DocWorld(tmp_path)
    c = new_container({"letter.txt": b"Dear portal"}, {"letter.txt": "text/plain"})
    c = add_signature(c, certificate=world.certificate, chain=world.chain, sign=world.sign,
                      services=world.services(), at=world.at)
    return write_container(c)


def test_a_signed_container_is_reported(tmp_path: Path, country: Country,
                                        portal: Portal) -> None:
    """A real ASiC-E with one XAdES signature: the signer and the file are shown."""
    b = portal.client()
    b.demo_login(country.patient())
    status, text = _upload(b, _signed(tmp_path), token=b.csrf("/documents"))
    assert status == 200, text[:500]
    assert "letter.txt" in text
    assert "Jõeorg" in text or "J\\u00f5eorg" in text or "JÕEORG" in text
    assert 'id="indication"' in text


def test_garbage_is_a_clear_400(country: Country, portal: Portal) -> None:
    """Bytes that are not a container → 400 "not a signed container"."""
    b = portal.client()
    b.demo_login(country.patient())
    status, text = _upload(b, b"<script>alert(1)</script>", token=b.csrf("/documents"))
    assert status == 400
    assert "not a signed container" in text
    assert "<script>alert" not in text


def test_an_oversize_upload_is_400(country: Country, portal: Portal) -> None:
    """More than 10 MiB → 400 before anything is parsed."""
    b = portal.client()
    b.demo_login(country.patient())
    status, text = _upload(b, b"0" * (10 * 1024 * 1024 + 10), token=b.csrf("/documents"))
    assert status == 400
    assert "larger than" in text


def test_upload_without_csrf_is_403(country: Country, portal: Portal) -> None:
    """POST /documents/verify without the token → 403."""
    b = portal.client()
    b.demo_login(country.patient())
    status, _ = _upload(b, b"x", token=None)
    assert status == 403


def test_no_file_chosen_is_400(country: Country, portal: Portal) -> None:
    """The form without a file → 400."""
    b = portal.client()
    b.demo_login(country.patient())
    r = b.post("/documents/verify", {}, token=b.csrf("/documents"))
    assert r.status_code == 400


class _WorldSigner:
    """The test kit's signing world as the person's signer (PIN2 12345)."""

    def __init__(self, world: DocWorld) -> None:
        self.world = world

    def kit(self, code: str, pin2: str) -> SignerKit:
        if pin2 != "12345":
            raise PinError("wrong PIN2; 2 tries left", tries_left=2)
        w = self.world
        return SignerKit(w.certificate, w.chain, w.sign, w.services())


@pytest.fixture(scope="module")
def signing(country: Country, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[Portal, DocWorld]]:
    world = DocWorld(tmp_path_factory.mktemp("docworld"))
    config = config_of(country, listen="127.0.0.1:8487")
    with serve_asgi(create_portal_app(config, signer=_WorldSigner(world)),
                    lifespan="on") as url:
        yield Portal(url, config), world


def _sign(b: Browser, *, name: str = "letter.txt", data: bytes = b"Dear portal",
          pin2: str = "12345", token: str | object | None = PAGE) -> Any:
    """POST /documents/sign; ``token`` defaults to the session's CSRF token."""
    if token is PAGE:
        token = b.csrf("/documents")
    body = {"pin2": pin2} | ({"csrf_token": token} if token is not None else {})
    return b.http.post(b.url + "/documents/sign", data=body, allow_redirects=False,
                       files={"file": (name, data, "text/plain")}, timeout=30)


def test_sign_a_document(country: Country, signing: tuple[Portal, DocWorld]) -> None:
    """A file signed with the person's PIN2 comes back as an ASiC-E that verifies VALID."""
    portal, world = signing
    b = portal.client()
    b.demo_login(country.patient())
    r = _sign(b)
    assert r.status_code == 200, r.text[:400]
    assert r.headers["content-type"] == "application/vnd.etsi.asic-e+zip"
    assert 'filename="letter.asice"' in r.headers["content-disposition"]
    report = verify_container(r.content, trust=world.trust)
    assert report.indication is Indication.VALID
    assert [f[0] for f in report.files] == ["letter.txt"]


@pytest.mark.parametrize(("kw", "status", "says"), [
    ({"pin2": "99999"}, 403, "wrong PIN2"),
    ({"pin2": "12ab"}, 400, "PIN2 is 4-12 digits"),
    ({"pin2": "1" * 50}, 400, "PIN2 is 4-12 digits"),
    ({"name": "../../etc/passwd<script>"}, 400, "a file name is"),
    ({"token": None}, 403, "CSRF"),
    ({"token": "wrong"}, 403, "CSRF"),
])
def test_bad_signing_requests(country: Country, signing: tuple[Portal, DocWorld],
                              kw: dict[str, Any], status: int, says: str) -> None:
    """A wrong or malformed PIN2, a path or script in the file name, no or a wrong CSRF
    token → refused with a clear message; no container comes back."""
    portal, _ = signing
    b = portal.client()
    b.demo_login(country.patient())
    r = _sign(b, **kw)
    assert r.status_code == status, r.text[:400]
    assert says in r.text
    assert "<script>" not in r.text.split("</head>")[1]


def test_signing_not_set_up_is_403(country: Country, portal: Portal) -> None:
    """A portal without a signer says so (403), it does not fail."""
    b = portal.client()
    b.demo_login(country.patient())
    r = _sign(b)
    assert r.status_code == 403
    assert "not set up" in r.text
