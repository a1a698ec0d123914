"""Property tests (hypothesis): any changed byte of a signed data file or of the
signature file is never VALID; any changed byte of the container is either still a
well-formed container with a verdict or refused as InvalidContainer — never a crash."""

from __future__ import annotations

import contextlib
from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sild.doc.container import Container, write_container
from sild.doc.verify import Indication, verify_container
from sild.errors import InvalidContainer
from sild.testing.documents import DocWorld

_SETTINGS = settings(max_examples=150, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])


@_SETTINGS
@given(data=st.data())
def test_flip_any_byte_of_a_data_file(world: DocWorld, signed_one: Container,
                                      data: st.DataObject) -> None:
    """Every data file byte is covered: flipping any bit of any byte → INVALID."""
    c = signed_one
    name = data.draw(st.sampled_from(sorted(c.files)))
    body = bytearray(c.files[name])
    i = data.draw(st.integers(0, len(body) - 1))
    body[i] ^= 1 << data.draw(st.integers(0, 7))
    bad = replace(c, files={**c.files, name: bytes(body)})
    r = verify_container(write_container(bad), trust=world.trust, at=world.at)
    assert r.indication is Indication.INVALID


def _signed_regions(xml: bytes) -> list[tuple[int, int]]:
    """Byte ranges of SignedInfo + SignatureValue and of SignedProperties."""
    a = xml.index(b"<ds:SignedInfo")
    b = xml.index(b"</ds:SignatureValue>")
    c = xml.index(b"<xades:SignedProperties")
    d = xml.index(b"</xades:SignedProperties>")
    return [(a, b), (c, d)]


@_SETTINGS
@given(data=st.data())
def test_flip_any_signed_byte_of_the_signature_file(world: DocWorld, signed_one: Container,
                                                   data: st.DataObject) -> None:
    """Any changed byte inside SignedInfo, SignatureValue or SignedProperties: never
    VALID unless the change means the same XML (quotes or whitespace inside a tag), and
    never a crash. (Unsigned properties may change harmlessly: e.g. a CA certificate in
    CertificateValues that the trust list supplies anyway.)"""
    xml = bytearray(signed_one.signatures["META-INF/signatures0.xml"])
    lo, hi = data.draw(st.sampled_from(_signed_regions(bytes(xml))))
    i = data.draw(st.integers(lo, hi - 1))
    new = data.draw(st.integers(0, 255).filter(lambda b: b != xml[i]))
    before = xml[i]
    xml[i] = new
    bad = replace(signed_one, signatures={"META-INF/signatures0.xml": bytes(xml)})
    r = verify_container(write_container(bad), trust=world.trust, at=world.at)
    if r.indication is Indication.VALID:
        assert chr(before) in " \"'", (i, before, new)
        assert chr(new) in " \"'\n\t\r", (i, before, new)


@_SETTINGS
@given(data=st.data())
def test_flip_any_byte_of_the_container(world: DocWorld, signed_zip: bytes,
                                        data: st.DataObject) -> None:
    """Any byte of the zip: a verdict or InvalidContainer, nothing else."""
    raw = bytearray(signed_zip)
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] ^= 1 << data.draw(st.integers(0, 7))
    with contextlib.suppress(InvalidContainer):
        verify_container(bytes(raw), trust=world.trust, at=world.at)
