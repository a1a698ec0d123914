"""The inter-gateway message frame."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sild.core.frame import encode_frame, parse_frame
from sild.errors import InvalidMessage, MissingHeader

part = st.binary(min_size=1, max_size=300)


@given(part, part, part, st.binary(max_size=500))
def test_round_trip(header: bytes, sig: bytes, cert: bytes, body: bytes) -> None:
    """parse∘encode gives the parts back, the body byte for byte."""
    f = parse_frame(encode_frame(header, sig, cert, body))
    assert (f.header, f.signature, f.certificate, f.body) == (header, sig, cert, body)


@given(part, part, part, st.binary(max_size=50), st.data())
def test_truncation_never_crashes(header: bytes, sig: bytes, cert: bytes, body: bytes,
                                  data: st.DataObject) -> None:
    """Any prefix of a frame parses (as a shorter body) or raises InvalidMessage."""
    raw = encode_frame(header, sig, cert, body)
    cut = data.draw(st.integers(min_value=0, max_value=len(raw)))
    try:
        f = parse_frame(raw[:cut])
    except (InvalidMessage, MissingHeader):
        return
    assert (f.header, f.signature, f.certificate) == (header, sig, cert)


@pytest.mark.parametrize("raw", [b"", b"GET / HTTP/1.1", b"SILD\x02" + b"\x00" * 10])
def test_garbage(raw: bytes) -> None:
    """Bytes that are not a frame are an InvalidMessage."""
    with pytest.raises(InvalidMessage):
        parse_frame(raw)


def test_empty_signature_is_missing() -> None:
    """A frame without a signature is refused as missing."""
    with pytest.raises(MissingHeader, match="signature"):
        parse_frame(b"SILD\x01\x00\x00\x00\x01h\x00\x00\x00\x01c")


def test_oversize_header_length() -> None:
    """A declared header over 64 KiB is refused before reading it."""
    with pytest.raises(InvalidMessage, match="longer than"):
        parse_frame(b"SILD\x01\x00\x02\x00\x00" + b"x" * 10)


def test_overlong_envelope_fields_are_refused() -> None:
    """A signed header whose ids do not fit the log columns is an InvalidMessage."""
    from datetime import UTC, datetime

    from sild.core.envelope import RequestHeader, body_digest
    from sild.core.identifiers import ServerId, ServiceId, parse_client

    h = RequestHeader(
        protocol="rest", client=parse_client("EE/COM/1/his"),
        service=ServiceId.parse("EE/GOV/2/rr/x"), consumer=ServerId.parse("EE/COM/1/gw"),
        message_id="m" * 256, request_id="r", time=datetime(2026, 1, 1, tzinfo=UTC),
        method="GET", path="", query="", headers=(), body_digest=body_digest(b""),
        body_length=0)
    with pytest.raises(InvalidMessage, match="message_id"):
        RequestHeader.parse(h.encode())


@pytest.mark.parametrize("raw", [
    b'{"format":"sild-exchange/1","format":"sild-exchange/1"}',  # duplicate key
    b"\xff", b"[]", b'{"a":1.5,"format":"sild-exchange/1"}', b'{"format": "sild-exchange/1"}',
])
def test_envelope_header_must_be_one_canonical_object(raw: bytes) -> None:
    """Duplicate keys, bad UTF-8, non-objects, floats and whitespace are all refused."""
    from sild.core.envelope import RequestHeader

    with pytest.raises(InvalidMessage):
        RequestHeader.parse(raw)
