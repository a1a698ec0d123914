"""Signed consent artefacts: a JWS (RFC 7515) compact serialisation, ES256 (RFC 7518 §3.4).

Like the Account Aggregator's ``ConsentArtefact.signedConsent`` (research/citizen.md
§2.2), the consent service signs the artefact's detail with its own key and publishes
the public key as a JWK Set (RFC 7517 §5) at ``/v1/jwks``. A provider holding that set
verifies an artefact offline with :func:`verify_artefact`; whether it has since been
paused or revoked is the online status check (docs/spec/consent.md §3.3).

Protected header: ``{"alg": "ES256", "kid": <RFC 7638 thumbprint>, "typ":
"sild-consent+jws"}``. The ``typ`` keeps a consent artefact from being taken for
another JWS this key might sign. JOSE is joserfc's; nothing here is hand-written crypto.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

from sild.consent.model import Artefact
from sild.errors import ConsentInvalid, InvalidRequest, SignatureError

__all__ = ["ALG", "MAX_JWS", "TYP", "keys_from_jwks", "sign_artefact", "verify_artefact"]

ALG = "ES256"
TYP = "sild-consent+jws"
MAX_JWS = 16 * 1024  # an artefact is well under 2 KiB; refuse anything much larger unread


def sign_artefact(artefact: Artefact, *, key: ECKey) -> str:
    """The artefact as a compact JWS signed by the consent service's ``key``."""
    if not key.kid:
        raise ValueError("the signing key needs a kid")
    payload = json.dumps(artefact.to_payload(), separators=(",", ":"), sort_keys=True)
    return jws.serialize_compact({"alg": ALG, "kid": key.kid, "typ": TYP}, payload, key,
                                 algorithms=[ALG])


def keys_from_jwks(document: object) -> KeySet:
    """A JWK Set as the service publishes it; :class:`InvalidRequest` if it is not one."""
    try:
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise ValueError("no keys")
        keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError, KeyError) as e:
        raise InvalidRequest("not a JWK Set of consent-service keys") from e
    if not keys.keys or any(not isinstance(k, ECKey) or k.is_private for k in keys.keys):
        raise InvalidRequest("a consent JWK Set holds public EC keys only")
    return keys


def verify_artefact(token: object, *, keys: KeySet, now: datetime) -> Artefact:
    """Verify ``token`` against ``keys`` and its validity period at ``now`` (pure, offline).

    (1) signature: ES256 by a key in ``keys`` named by ``kid``, ``typ`` as above —
    :class:`SignatureError` otherwise (forged, altered, another key, another algorithm);
    (2) the payload is a well-formed artefact — :class:`InvalidRequest` otherwise;
    (3) ``consentStart <= now < consentExpiry`` — :class:`ConsentInvalid` otherwise.

    The status (ACTIVE, PAUSED, REVOKED) is not in the signature: ask the service.
    """
    if isinstance(token, bytes):
        token = token.decode("ascii", "replace")
    if not isinstance(token, str) or not token or len(token) > MAX_JWS:
        raise SignatureError(f"a consent artefact is a compact JWS of at most {MAX_JWS} "
                             f"characters")
    # (1)
    try:
        signed = jws.deserialize_compact(token.strip(), keys, algorithms=[ALG])
    except (JoseError, ValueError, TypeError, KeyError, UnicodeError) as e:
        raise SignatureError(f"consent artefact signature does not verify "
                             f"({type(e).__name__})") from e
    header: dict[str, Any] = signed.protected
    if header.get("typ") != TYP or not header.get("kid"):
        raise SignatureError(f"not a consent artefact (typ must be {TYP}, kid present)")
    # (2)
    try:
        data = json.loads(signed.payload)
    except (ValueError, UnicodeError) as e:
        raise InvalidRequest("consent artefact payload is not JSON") from e
    artefact = Artefact.from_payload(data)
    # (3)
    if now < artefact.consent_start:
        raise ConsentInvalid(f"consent {artefact.consent_id} is not valid before "
                             f"{artefact.consent_start:%Y-%m-%dT%H:%M:%SZ}",
                             consent_id=artefact.consent_id)
    if now >= artefact.consent_expiry:
        raise ConsentInvalid(f"consent {artefact.consent_id} expired at "
                             f"{artefact.consent_expiry:%Y-%m-%dT%H:%M:%SZ}",
                             consent_id=artefact.consent_id)
    return artefact
