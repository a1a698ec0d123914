"""Signed consent artefacts: JWS ES256, verified offline (docs/spec/consent.md §3.3)."""

from __future__ import annotations

import base64
import hmac
import json
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from joserfc import jws
from joserfc.jwk import ECKey, KeySet

from sild.consent.artefact import TYP, keys_from_jwks, sign_artefact, verify_artefact
from sild.consent.model import Artefact, DataLife, LifeUnit, Purpose
from sild.errors import ConsentInvalid, InvalidRequest, SignatureError
from sild.testing.clock import FIXED_NOW as NOW


def make_key() -> ECKey:
    k = ECKey.generate_key("P-256", private=True)
    return ECKey.import_key(k.as_pem(private=True), {"kid": k.thumbprint()})


KEY = make_key()
OTHER = make_key()
KEYS = KeySet([ECKey.import_key(KEY.as_dict(private=False))])
ART = Artefact("3f2a-1", "EE38001085718", "EE/COM/10000001/his", Purpose("treatment", "care"),
               ("health",), DataLife(LifeUnit.MONTH, 1), NOW - timedelta(hours=1),
               NOW + timedelta(days=30), NOW - timedelta(hours=1))
TOKEN = sign_artefact(ART, key=KEY)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_round_trip() -> None:
    """What the service signs, a provider verifies offline into the same artefact."""
    assert verify_artefact(TOKEN, keys=KEYS, now=NOW) == ART


def test_header() -> None:
    """ES256, the key's kid and the consent typ in the protected header."""
    header = json.loads(base64.urlsafe_b64decode(TOKEN.split(".")[0] + "=="))
    assert header == {"alg": "ES256", "kid": KEY.kid, "typ": TYP}


def test_jwks_round_trip() -> None:
    """The published JWK Set verifies; a set with a private key is refused."""
    published = KEYS.as_dict(private=False)
    assert verify_artefact(TOKEN, keys=keys_from_jwks(published), now=NOW) == ART
    with pytest.raises(InvalidRequest):
        keys_from_jwks({"keys": [KEY.as_dict(private=True)]})
    bad: object
    for bad in ({}, {"keys": "x"}, [], {"keys": [{"kty": "nope"}]}):
        with pytest.raises(InvalidRequest):
            keys_from_jwks(bad)


def test_another_keys_signature_refused() -> None:
    """Signed by a key not in the set (same kid even): forged."""
    forged = sign_artefact(ART, key=ECKey.import_key(OTHER.as_pem(private=True),
                                                     {"kid": str(KEY.kid)}))
    with pytest.raises(SignatureError):
        verify_artefact(forged, keys=KEYS, now=NOW)


def test_altered_payload_refused() -> None:
    """A payload changed after signing (another consumer) does not verify."""
    head, _, sig = TOKEN.split(".")
    payload = ART.to_payload() | {"consumer": {"id": "EE/GOV/70008440/rr"}}
    forged = ".".join([head, b64(json.dumps(payload).encode()), sig])
    with pytest.raises(SignatureError):
        verify_artefact(forged, keys=KEYS, now=NOW)


@given(st.integers(min_value=0), st.integers(min_value=1, max_value=255))
def test_flip_any_byte_refused(where: int, delta: int) -> None:
    """Any one changed character of the JWS: refused (signature or shape), never accepted."""
    i = where % len(TOKEN)
    c = chr((ord(TOKEN[i]) + delta) % 128)
    if c == TOKEN[i]:
        return
    flipped = TOKEN[:i] + c + TOKEN[i + 1:]
    with pytest.raises((SignatureError, InvalidRequest)):
        verify_artefact(flipped, keys=KEYS, now=NOW)


def test_alg_none_and_hmac_refused() -> None:
    """alg none, and HS256 keyed with the public key (algorithm confusion): refused."""
    payload = b64(json.dumps(ART.to_payload()).encode())
    none = b64(json.dumps({"alg": "none", "kid": KEY.kid, "typ": TYP}).encode())
    with pytest.raises(SignatureError):
        verify_artefact(f"{none}.{payload}.", keys=KEYS, now=NOW)
    # joserfc will not make this token (it refuses a public key as an HMAC secret): by hand
    head = b64(json.dumps({"alg": "HS256", "kid": KEY.kid, "typ": TYP}).encode())
    mac = hmac.new(KEY.as_pem(private=False), f"{head}.{payload}".encode(), "sha256")
    hs = f"{head}.{payload}.{b64(mac.digest())}"
    with pytest.raises(SignatureError):
        verify_artefact(hs, keys=KEYS, now=NOW)


def test_other_typ_refused() -> None:
    """A JWS by the same key but not typed as a consent artefact is not one."""
    other = jws.serialize_compact({"alg": "ES256", "kid": KEY.kid}, json.dumps(
        ART.to_payload()), KEY, algorithms=["ES256"])
    with pytest.raises(SignatureError):
        verify_artefact(other, keys=KEYS, now=NOW)


@pytest.mark.parametrize("garbage", ["", "a.b", "a.b.c", "...", "x" * 20_000, None, 5,
                                     b"\xff\xfe.\x00.a"])
def test_garbage_refused(garbage: object) -> None:
    """Not a JWS at all: SignatureError, never a crash."""
    with pytest.raises(SignatureError):
        verify_artefact(garbage, keys=KEYS, now=NOW)


def test_expired_and_not_yet_valid() -> None:
    """Outside consentStart..consentExpiry at `now`: ConsentInvalid with the consent id."""
    with pytest.raises(ConsentInvalid) as e:
        verify_artefact(TOKEN, keys=KEYS, now=NOW + timedelta(days=30))
    assert e.value.fields["consent_id"] == "3f2a-1"
    with pytest.raises(ConsentInvalid):
        verify_artefact(TOKEN, keys=KEYS, now=NOW - timedelta(hours=2))


def test_signed_but_malformed_payload() -> None:
    """A correctly signed JWS whose payload is not an artefact: InvalidRequest."""
    bad = jws.serialize_compact({"alg": "ES256", "kid": KEY.kid, "typ": TYP}, b"[1,2]", KEY,
                                algorithms=["ES256"])
    with pytest.raises(InvalidRequest):
        verify_artefact(bad, keys=KEYS, now=NOW)
