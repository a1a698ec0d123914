"""The pure exchange core: a request and its response round-trip, and any flipped byte of
either frame is refused (docs/spec/exchange.md §2, §4 step 2, §6)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from sild.core.envelope import RequestHeader
from sild.core.exchange import (
    SignedRequest,
    VerifiedRequest,
    build_request,
    open_request,
    open_response,
    sign_response,
    verify_request,
    verify_response,
)
from sild.core.globalconf import GatewayEntry
from sild.core.identifiers import MemberId, ServerId
from sild.core.replay import ReplayCache
from sild.core.trust import CheckedSigner
from sild.crypto.keys import sign
from sild.errors import (
    CertificateError,
    InvalidMessage,
    SignatureError,
    SildError,
    UnknownClient,
)
from sild.testing.clock import FIXED_NOW as NOW

CONSUMER_MEMBER = MemberId("EE", "COM", "10000001")
PROVIDER_MEMBER = MemberId("EE", "GOV", "70000001")
CLIENT = CONSUMER_MEMBER.subsystem("his")
SERVICE = PROVIDER_MEMBER.subsystem("rr").service("echo")
CONSUMER = ServerId(CONSUMER_MEMBER, "gw2")
PROVIDER = ServerId(PROVIDER_MEMBER, "gw1")
PEER = GatewayEntry(CONSUMER, "127.0.0.1:5501", "ab" * 32, (CLIENT,))
HOSTED = frozenset({SERVICE.subsystem, PROVIDER_MEMBER})


@dataclass(frozen=True)
class KeySigner:
    """A member's sign key with a stand-in certificate (the trust double knows it)."""

    member: MemberId
    key: Ed25519PrivateKey
    certificate_der: bytes
    fingerprint: str = "00" * 32

    def sign(self, data: bytes) -> bytes:
        return sign(key=self.key, data=data)


CLIENT_SIGNER = KeySigner(CONSUMER_MEMBER, Ed25519PrivateKey.generate(), b"client-cert")
PROVIDER_SIGNER = KeySigner(PROVIDER_MEMBER, Ed25519PrivateKey.generate(), b"provider-cert")


class Trust:
    """The sign certificates a gateway trusts, by their bytes."""

    def __init__(self, *signers: KeySigner) -> None:
        self._by_cert = {s.certificate_der: s for s in signers}

    def check_signer(self, cert_der: bytes, *, member: MemberId, at: object) -> CheckedSigner:
        s = self._by_cert.get(cert_der)
        if s is None or s.member != member:
            raise CertificateError("not a trusted sign certificate of that member")
        return CheckedSigner(s.member, s.key.public_key(), "ca", "1", NOW - timedelta(days=1),
                             NOW + timedelta(days=1))


TRUST = Trust(CLIENT_SIGNER, PROVIDER_SIGNER)


def _request(body: bytes = b'{"q": 1}', request_id: str = "r-1") -> SignedRequest:
    return build_request(
        client=CLIENT, service=SERVICE, consumer=CONSUMER, message_id="EE-m1",
        request_id=request_id, at=NOW, method="POST", path="/a%2Fb", query="x=%41",
        headers=(("content-type", "application/json"),), body=body, signer=CLIENT_SIGNER,
        user_id="EE38001085718", issue="case-7")


def _verify(signed: SignedRequest, *, replay: ReplayCache | None = None,
            at: object = NOW) -> VerifiedRequest:
    return verify_request(signed, peer=PEER, hosted=HOSTED, trust=TRUST,
                          replay=replay if replay is not None else ReplayCache(120), at=at,  # type: ignore[arg-type]
                          freshness=120, max_body=1 << 20)


def test_request_and_response_round_trip() -> None:
    """build → frame → open → verify → sign → frame → open → verify gives it all back."""
    sent = _request()
    verified = _verify(open_request(sent.frame()))
    assert verified.header == sent.header
    assert verified.body == b'{"q": 1}'
    response = sign_response(verified, provider=PROVIDER, status=201,
                             headers=(("content-type", "text/plain"),), body=b"done",
                             at=NOW, signer=PROVIDER_SIGNER)
    back = verify_response(open_response(response.frame()), request=sent, provider=PROVIDER,
                           trust=TRUST, at=NOW)
    assert (back.header.status, back.body) == (201, b"done")
    assert back.header.request_hash == sent.request_hash()


@given(st.data())
def test_any_flipped_request_byte_is_refused(data: st.DataObject) -> None:
    """Flip any bit of any byte of the request frame: open or verify refuses it."""
    frame = bytearray(_request().frame())
    i = data.draw(st.integers(0, len(frame) - 1))
    frame[i] ^= data.draw(st.integers(1, 255))
    with pytest.raises(SildError):
        _verify(open_request(bytes(frame)))


@given(st.data())
def test_any_flipped_response_byte_is_refused(data: st.DataObject) -> None:
    """Flip any bit of any byte of the response frame: open or verify refuses it."""
    sent = _request()
    verified = _verify(open_request(sent.frame()))
    frame = bytearray(sign_response(verified, provider=PROVIDER, status=200, headers=(),
                                    body=b"answer", at=NOW, signer=PROVIDER_SIGNER).frame())
    i = data.draw(st.integers(0, len(frame) - 1))
    frame[i] ^= data.draw(st.integers(1, 255))
    with pytest.raises(SildError):
        verify_response(open_response(bytes(frame)), request=sent, provider=PROVIDER,
                        trust=TRUST, at=NOW)


def test_replayed_request_is_refused() -> None:
    """The same request id twice within the window is a replay."""
    replay = ReplayCache(120)
    frame = _request().frame()
    _verify(open_request(frame), replay=replay)
    with pytest.raises(InvalidMessage, match="replay"):
        _verify(open_request(frame), replay=replay)


def test_stale_request_is_refused() -> None:
    """Outside the freshness window the request is refused, whatever its signature."""
    with pytest.raises(InvalidMessage, match="freshness"):
        _verify(open_request(_request().frame()), at=NOW + timedelta(seconds=121))


def test_request_for_a_service_not_hosted_here() -> None:
    """A service whose subsystem this gateway does not host is UnknownClient."""
    with pytest.raises(UnknownClient):
        verify_request(open_request(_request().frame()), peer=PEER,
                       hosted=frozenset({PROVIDER_MEMBER}), trust=TRUST,
                       replay=ReplayCache(120), at=NOW, freshness=120, max_body=1 << 20)


def test_request_signed_by_another_member_is_refused() -> None:
    """The signer certificate must belong to the client's member."""
    forged = build_request(
        client=CLIENT, service=SERVICE, consumer=CONSUMER, message_id="m", request_id="r",
        at=NOW, method="GET", path="", query="", headers=(), body=b"",
        signer=PROVIDER_SIGNER)
    with pytest.raises(CertificateError):
        _verify(open_request(forged.frame()))


def test_response_to_another_request_is_refused() -> None:
    """A validly signed response bound to a different request is refused."""
    first, second = _request(request_id="r-a"), _request(request_id="r-b")
    verified = _verify(open_request(first.frame()))
    response = sign_response(verified, provider=PROVIDER, status=200, headers=(), body=b"",
                             at=NOW, signer=PROVIDER_SIGNER)
    with pytest.raises(InvalidMessage, match="not bound"):
        verify_response(open_response(response.frame()), request=second, provider=PROVIDER,
                        trust=TRUST, at=NOW)


def test_tampered_body_with_valid_header_is_refused() -> None:
    """Swapping the body under a valid signed header fails the digest check."""
    sent = _request()
    swapped = SignedRequest(sent.header, sent.encoded, sent.signature, sent.certificate,
                            b'{"q": 2}')
    with pytest.raises(SignatureError, match="tampered"):
        _verify(swapped)


def test_verified_request_only_from_verify() -> None:
    """STYLE.md rule 2: a VerifiedRequest cannot be made by hand."""
    sent = _request()
    signer = TRUST.check_signer(sent.certificate, member=CONSUMER_MEMBER, at=NOW)
    with pytest.raises(TypeError):
        VerifiedRequest(sent, signer, "fp")


text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@given(path=text, query=text, user=text, issue=text, body=st.binary(max_size=200),
       headers=st.lists(st.tuples(text, text), max_size=5))
def test_request_header_round_trip(path: str, query: str, user: str, issue: str, body: bytes,
                                   headers: list[tuple[str, str]]) -> None:
    """RequestHeader.parse(encode(h)) == h for any field values."""
    signed = build_request(
        client=CLIENT, service=SERVICE, consumer=CONSUMER, message_id="m", request_id="r",
        at=NOW, method="PATCH", path=path, query=query, headers=tuple(headers), body=body,
        signer=CLIENT_SIGNER, user_id=user, issue=issue)
    assert RequestHeader.parse(signed.encoded) == signed.header
