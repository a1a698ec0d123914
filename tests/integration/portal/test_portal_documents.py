"""Documents in the portal (docs/spec/portal.md §5): a container uploaded is checked by
sild.doc and reported; bad uploads are clear 400s; no CSRF token → 403."""

from __future__ import annotations

from pathlib import Path

from sild.doc.container import write_container
from sild.doc.sign import add_signature, new_container
from sild.testing.documents import DocWorld
from sild.testing.portal_country import Country

from .conftest import Browser, Portal


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
