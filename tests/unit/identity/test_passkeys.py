"""The passkey ceremonies without a server (docs/spec/identity.md §7): a software
authenticator's responses verify; anything malformed is PasskeyRefused, never another
exception."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sild.identity.oidc.passkey_store import StoredPasskey
from sild.identity.oidc.passkeys import (
    PasskeyRefused,
    RelyingParty,
    authentication_options,
    claimed_challenge,
    registration_options,
    verify_authentication,
    verify_registration,
)
from sild.testing.passkey import SoftAuthenticator, b64url

RP = RelyingParty("id.example.ee", "https://id.example.ee")
CHALLENGE = b64url(bytes(range(32)))
HANDLE = b64url(b"h" * 32)


def _registered() -> tuple[SoftAuthenticator, StoredPasskey]:
    auth = SoftAuthenticator()
    opts = registration_options(rp=RP, challenge=CHALLENGE, user_handle=HANDLE,
                                user_name="EE38001085718", display_name="JAAK JÕEORG",
                                exclude=[])
    new = verify_registration(rp=RP, credential=auth.create(opts, origin=RP.origin),
                              challenge=CHALLENGE)
    stored = StoredPasskey(new.credential_id, "EE38001085718", HANDLE, new.public_key,
                           new.sign_count, new.transports, new.aaguid, new.backed_up,
                           datetime.now(UTC), None)
    return auth, stored


def test_registration_options_require_a_resident_key_and_user_verification() -> None:
    """WebAuthn §5.4: discoverable credential, UV required, attestation none."""
    opts = registration_options(rp=RP, challenge=CHALLENGE, user_handle=HANDLE,
                                user_name="EE38001085718", display_name="JAAK",
                                exclude=[])
    assert opts["rp"] == {"id": "id.example.ee", "name": "Sild"}
    assert opts["challenge"] == CHALLENGE
    assert opts["user"]["id"] == HANDLE
    assert opts["authenticatorSelection"]["residentKey"] == "required"
    assert opts["authenticatorSelection"]["userVerification"] == "required"
    assert opts["attestation"] == "none"


def test_software_authenticator_registers_and_authenticates() -> None:
    """Registration then two logins: the counter moves 1, 2."""
    auth, stored = _registered()
    assert stored.transports == ("internal",)
    opts = authentication_options(rp=RP, challenge=CHALLENGE)
    assert opts["rpId"] == "id.example.ee"
    assert opts["userVerification"] == "required"
    assert verify_authentication(rp=RP, credential=auth.get(opts, origin=RP.origin),
                                 challenge=CHALLENGE, stored=stored) == 1


def test_user_not_verified_is_refused() -> None:
    """userVerification required: a response without the UV flag is refused."""
    auth, stored = _registered()
    auth.user_verified = False
    opts = authentication_options(rp=RP, challenge=CHALLENGE)
    with pytest.raises(PasskeyRefused, match="verif"):
        verify_authentication(rp=RP, credential=auth.get(opts, origin=RP.origin),
                              challenge=CHALLENGE, stored=stored)


def test_another_users_handle_is_refused() -> None:
    """WebAuthn §7.2 step 6: userHandle must be the registered one."""
    auth, stored = _registered()
    auth.user_handle = b64url(b"x" * 32)
    opts = authentication_options(rp=RP, challenge=CHALLENGE)
    with pytest.raises(PasskeyRefused, match="user handle"):
        verify_authentication(rp=RP, credential=auth.get(opts, origin=RP.origin),
                              challenge=CHALLENGE, stored=stored)


def test_wrong_challenge_is_refused() -> None:
    """WebAuthn §7.2 step 12: the challenge must be the one issued."""
    auth, stored = _registered()
    opts = authentication_options(rp=RP, challenge=b64url(b"\x01" * 32))
    with pytest.raises(PasskeyRefused, match="challenge"):
        verify_authentication(rp=RP, credential=auth.get(opts, origin=RP.origin),
                              challenge=CHALLENGE, stored=stored)


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                     max_leaves=12)
_KEYS = ["clientDataJSON", "authenticatorData", "signature", "userHandle",
         "attestationObject", "transports"]


@st.composite
def _credentials(draw: st.DrawFn) -> Any:
    response = draw(st.dictionaries(st.sampled_from(_KEYS), _json | st.just("e30")))
    return draw(st.sampled_from([
        response, {"response": response}, {"id": draw(_json), "rawId": draw(_json),
                                           "type": "public-key", "response": response},
        draw(_json)]))


@settings(max_examples=150, deadline=None)
@given(_credentials())
def test_malformed_credentials_are_passkey_refused(credential: Any) -> None:
    """Any JSON value as a credential: PasskeyRefused, never another exception."""
    stored = STORED
    for check in (
        lambda: claimed_challenge(credential),
        lambda: verify_registration(rp=RP, credential=credential, challenge=CHALLENGE),
        lambda: verify_authentication(rp=RP, credential=credential, challenge=CHALLENGE,
                                      stored=stored),
    ):
        with pytest.raises(PasskeyRefused):
            check()


STORED = _registered()[1]
