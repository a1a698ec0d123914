"""verify_subject_assertion: the Sild-Subject-Assertion check (docs/spec/identity.md §8)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from sild.errors import InvalidSubjectAssertion
from sild.identity.assertion import (
    TYP,
    issue_subject_assertion,
    verify_subject_assertion,
)
from sild.testing.clock import FIXED_NOW

ISSUER = "https://id.example.ee"
SUB = "PNOEE-38001085718"
KEY = ECKey.generate_key("P-256", private=True, parameters={"kid": "k1", "alg": "ES256"})
OTHER = ECKey.generate_key("P-256", private=True, parameters={"kid": "k1", "alg": "ES256"})
JWKS: dict[str, Any] = {"keys": [KEY.as_dict(private=False)]}


def _issue(**kw: Any) -> str:
    args: dict[str, Any] = {"key": KEY, "issuer": ISSUER, "subject": SUB, "now": FIXED_NOW,
                            "amr": ["passkey"], "acr": "substantial",
                            "authorized_party": "portal"}
    return issue_subject_assertion(**(args | kw))


def _verify(token: str, **kw: Any) -> Any:
    args: dict[str, Any] = {"keys": JWKS, "issuer": ISSUER, "now": FIXED_NOW}
    return verify_subject_assertion(token, **(args | kw))


def _raw(claims: dict[str, Any], typ: str = TYP, key: ECKey = KEY) -> str:
    return jwt.encode({"alg": "ES256", "typ": typ, "kid": "k1"}, claims, key)


def _claims(**kw: Any) -> dict[str, Any]:
    iat = int(FIXED_NOW.timestamp())
    return {"iss": ISSUER, "sub": SUB, "aud": "sild-exchange", "iat": iat, "exp": iat + 300,
            "jti": "j1", "amr": ["idcard"]} | kw


def test_a_fresh_assertion_verifies() -> None:
    """The issued assertion round-trips: subject, issuer, amr, acr, portal, times."""
    a = _verify(_issue(), now=FIXED_NOW + timedelta(seconds=10))
    assert a.subject == SUB
    assert a.issuer == ISSUER
    assert a.audience == "sild-exchange"
    assert a.amr == ("passkey",)
    assert a.acr == "substantial"
    assert a.authorized_party == "portal"
    assert a.issued_at == FIXED_NOW.replace(microsecond=0)
    assert a.expires_at - a.issued_at == timedelta(minutes=5)
    assert len(a.jti) >= 16


def test_keyset_is_accepted_as_keys() -> None:
    """keys may be a joserfc KeySet as well as a JWKS dict."""
    assert _verify(_issue(), keys=KeySet([KEY])).subject == SUB


def test_each_assertion_has_its_own_jti() -> None:
    """jti is unique, so a verifier can refuse a replay."""
    assert _verify(_issue()).jti != _verify(_issue()).jti


def test_expired_assertion_is_refused() -> None:
    """RFC 7519 §4.1.4: at or after exp it is refused."""
    with pytest.raises(InvalidSubjectAssertion, match="expired"):
        _verify(_issue(), now=FIXED_NOW + timedelta(minutes=5))


def test_forged_assertion_is_refused() -> None:
    """Signed by another key with the same kid: the signature does not verify."""
    with pytest.raises(InvalidSubjectAssertion, match="signature"):
        _verify(_issue(key=OTHER))


def test_wrong_issuer_is_refused() -> None:
    """RFC 7519 §4.1.1: another provider's assertion is refused."""
    with pytest.raises(InvalidSubjectAssertion, match="another provider"):
        _verify(_issue(issuer="https://evil.example"))


def test_wrong_audience_is_refused() -> None:
    """RFC 7519 §4.1.3: aud must be one this verifier accepts."""
    token = _issue(audience="EE/GOV/70000562/rr")
    with pytest.raises(InvalidSubjectAssertion, match="audience"):
        _verify(token)
    assert _verify(token, audiences=["EE/GOV/70000562/rr"]).audience == "EE/GOV/70000562/rr"


def test_id_token_of_the_same_key_is_not_an_assertion() -> None:
    """The typ header keeps ID and access tokens (same key) from passing as assertions."""
    with pytest.raises(InvalidSubjectAssertion, match="typ"):
        _verify(_raw(_claims(), typ="JWT"))


def test_lifetime_over_five_minutes_is_refused() -> None:
    """exp - iat over max_age is refused even while unexpired."""
    iat = int(FIXED_NOW.timestamp())
    with pytest.raises(InvalidSubjectAssertion, match="lifetime"):
        _verify(_raw(_claims(exp=iat + 3600)))


def test_issued_in_the_future_is_refused() -> None:
    """iat beyond the clock leeway is refused."""
    iat = int(FIXED_NOW.timestamp()) + 120
    with pytest.raises(InvalidSubjectAssertion, match="future"):
        _verify(_raw(_claims(iat=iat, exp=iat + 60)))


def test_subject_must_be_a_pno_code() -> None:
    """sub is PNO<cc>-<valid code>; a bad check digit or TARA's EE… form is refused."""
    for sub in ("EE38001085718", "PNOEE-38001085719", "", 5):
        with pytest.raises(InvalidSubjectAssertion, match="sub"):
            _verify(_raw(_claims(sub=sub)))


@pytest.mark.parametrize("claims", [
    {"iat": "now"}, {"exp": None}, {"jti": None}, {"amr": "idcard"}, {"acr": 3},
    {"aud": ["sild-exchange"]}, {"iat": True},
])
def test_malformed_claims_are_refused(claims: dict[str, Any]) -> None:
    """Wrong claim types are refused with the Sild error, never a TypeError."""
    with pytest.raises(InvalidSubjectAssertion):
        _verify(_raw(_claims(**claims)))


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "x" * 5000, "é.é.é", "..", 5])
def test_malformed_tokens_are_refused(token: Any) -> None:
    """Not a compact JWS → InvalidSubjectAssertion."""
    with pytest.raises(InvalidSubjectAssertion):
        _verify(token)


def test_alg_none_is_refused() -> None:
    """RFC 8725 §3.1: only ES256; an unsigned token never verifies."""
    import base64
    import json

    def b64(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    token = f"{b64({'alg': 'none', 'typ': TYP})}.{b64(_claims())}."
    with pytest.raises(InvalidSubjectAssertion):
        _verify(token)


def test_issuing_refuses_long_lifetimes_and_non_pno_subjects() -> None:
    """The issuer side holds the same limits."""
    with pytest.raises(ValueError, match="5 minutes"):
        _issue(lifetime=timedelta(minutes=6))
    from sild.errors import InvalidPersonalCode

    with pytest.raises(InvalidPersonalCode):
        _issue(subject="EE38001085718")


def test_the_error_has_its_own_client_code() -> None:
    """Client.InvalidSubjectAssertion, 401."""
    e = InvalidSubjectAssertion("x")
    assert (e.xroad_code, e.http_status) == ("Client.InvalidSubjectAssertion", 401)


TOKEN = _issue()


@settings(max_examples=60, deadline=None)
# The last character is left out: 86 base64url characters carry 64 bytes and 4 spare
# bits, so some changes there decode to the very same signature.
@given(st.integers(min_value=0, max_value=len(TOKEN) - 2), st.sampled_from("AQgw_-"))
def test_flipping_any_character_is_refused(i: int, ch: str) -> None:
    """Change any one character of the compact JWS (bar the last) → refused."""
    flipped = TOKEN[:i] + ch + TOKEN[i + 1:]
    if flipped == TOKEN:
        return
    with pytest.raises(InvalidSubjectAssertion):
        _verify(flipped)
