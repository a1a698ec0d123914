"""Passkey ceremonies (W3C Web Authentication Level 3 §7.1 registration, §7.2
authentication) through py_webauthn (docs/spec/identity.md §7).

The library does the WebAuthn steps (client data type, challenge, origin, RP ID hash,
user presence and verification flags, the attestation ``none`` statement, the assertion
signature over ``authenticatorData ‖ SHA-256(clientDataJSON)``, the sign counter); this
module picks the settings — resident key and user verification required, attestation
``none``, ES256/EdDSA/RS256 keys — and turns the library's answers into Sild's shapes.
Pure: no store, no clock.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url, parse_client_data_json
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from sild.identity.oidc.passkey_store import NewPasskey, StoredPasskey

__all__ = ["PasskeyRefused", "RelyingParty", "authentication_options", "claimed_challenge",
           "registration_options", "verify_authentication", "verify_registration"]

TIMEOUT_MS = 120_000
_TRANSPORTS = {t.value for t in AuthenticatorTransport}


class PasskeyRefused(Exception):
    """The WebAuthn response does not verify; the message says why (shown to the user)."""


@dataclass(frozen=True)
class RelyingParty:
    """WebAuthn §5.4.2 ``rp``: the RP ID (a registrable domain suffix of the origin's
    host, never an IP address) and the one origin ceremonies must come from."""

    rp_id: str
    origin: str
    name: str = "Sild"


def _b64(value: object, what: str) -> bytes:
    if not isinstance(value, str) or not 0 < len(value) <= 4096:
        raise PasskeyRefused(f"{what} missing")
    try:
        return base64url_to_bytes(value)
    except (ValueError, TypeError) as e:
        raise PasskeyRefused(f"{what} is not base64url") from e


def _response(credential: object) -> Mapping[str, Any]:
    if not isinstance(credential, Mapping) or not isinstance(credential.get("response"),
                                                             Mapping):
        raise PasskeyRefused("the credential is not a PublicKeyCredential JSON object")
    response: Mapping[str, Any] = credential["response"]
    return response


def claimed_challenge(credential: object) -> str:
    """The challenge the browser says it signed (clientDataJSON), *unverified*: only to
    find the stored challenge, which the verification then checks."""
    raw = _b64(_response(credential).get("clientDataJSON"), "clientDataJSON")
    try:
        return bytes_to_base64url(parse_client_data_json(raw).challenge)
    except (WebAuthnException, ValueError, TypeError, KeyError) as e:
        raise PasskeyRefused("clientDataJSON is malformed") from e


def registration_options(*, rp: RelyingParty, challenge: str, user_handle: str,
                         user_name: str, display_name: str,
                         exclude: Sequence[StoredPasskey]) -> dict[str, Any]:
    """PublicKeyCredentialCreationOptionsJSON (WebAuthn L3 §5.4) for
    ``PublicKeyCredential.parseCreationOptionsFromJSON``."""
    options = generate_registration_options(
        rp_id=rp.rp_id, rp_name=rp.name, user_id=base64url_to_bytes(user_handle),
        user_name=user_name, user_display_name=display_name,
        challenge=base64url_to_bytes(challenge), timeout=TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED, require_resident_key=True,
            user_verification=UserVerificationRequirement.REQUIRED),
        exclude_credentials=[PublicKeyCredentialDescriptor(
            id=base64url_to_bytes(p.credential_id),
            transports=[AuthenticatorTransport(t) for t in p.transports if t in _TRANSPORTS])
            for p in exclude])
    out: dict[str, Any] = json.loads(options_to_json(options))
    return out


def verify_registration(*, rp: RelyingParty, credential: object,
                        challenge: str) -> NewPasskey:
    """WebAuthn §7.1 steps 5-27 (attestation ``none``: no attestation trust path)."""
    response = _response(credential)
    assert isinstance(credential, Mapping)
    try:
        v = verify_registration_response(
            credential=dict(credential), expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=rp.rp_id, expected_origin=rp.origin,
            require_user_verification=True)
    except (WebAuthnException, ValueError, TypeError, KeyError) as e:
        raise PasskeyRefused(f"registration refused: {e}") from e
    transports = response.get("transports") or []
    if not isinstance(transports, list):
        transports = []
    return NewPasskey(
        credential_id=bytes_to_base64url(v.credential_id),
        public_key=v.credential_public_key, sign_count=v.sign_count,
        transports=tuple(t for t in transports if t in _TRANSPORTS), aaguid=v.aaguid,
        backed_up=v.credential_backed_up)


def authentication_options(*, rp: RelyingParty, challenge: str) -> dict[str, Any]:
    """PublicKeyCredentialRequestOptionsJSON with no allowCredentials: a discoverable
    credential (passkey) names its own user (WebAuthn §5.5, §6.2.2)."""
    options = generate_authentication_options(
        rp_id=rp.rp_id, challenge=base64url_to_bytes(challenge), timeout=TIMEOUT_MS,
        user_verification=UserVerificationRequirement.REQUIRED)
    out: dict[str, Any] = json.loads(options_to_json(options))
    return out


def verify_authentication(*, rp: RelyingParty, credential: object, challenge: str,
                          stored: StoredPasskey) -> int:
    """WebAuthn §7.2 steps 5-24; the authenticator's new sign count.

    A counter that does not move forward (§7.2 step 21, a sign of a cloned authenticator)
    is refused; so is a ``userHandle`` other than the one registered (step 6).
    """
    response = _response(credential)
    assert isinstance(credential, Mapping)
    handle = response.get("userHandle")
    if handle is not None and handle != stored.user_handle:
        raise PasskeyRefused("the passkey's user handle does not match its registration")
    try:
        v = verify_authentication_response(
            credential=dict(credential), expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=rp.rp_id, expected_origin=rp.origin,
            credential_public_key=stored.public_key,
            credential_current_sign_count=stored.sign_count,
            require_user_verification=True)
    except (WebAuthnException, ValueError, TypeError, KeyError) as e:
        text = str(e)
        if "sign count" in text:
            raise PasskeyRefused(f"the sign counter went backwards: {text} (a cloned "
                                 "passkey?)") from e
        raise PasskeyRefused(f"passkey login refused: {text}") from e
    if v.credential_id != base64url_to_bytes(stored.credential_id):
        raise PasskeyRefused("the response is for another credential")
    return int(v.new_sign_count)
