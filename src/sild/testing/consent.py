"""Test kit for the consent service: sample persons and consumers, a signing key."""

from __future__ import annotations

from joserfc.jwk import ECKey

__all__ = ["DOCTOR", "OTHER_PERSON", "PERSON", "POLICE", "signing_key"]

PERSON = "EE38001085718"  # valid check digits (research/citizen.md §3.1)
OTHER_PERSON = "EE49002124277"
DOCTOR = "EE/COM/10000001/his"
POLICE = "EE/GOV/70008440/rr"


def signing_key() -> ECKey:
    """A fresh ES256 key with its RFC 7638 thumbprint as kid, as ``sild consent init`` makes."""
    k = ECKey.generate_key("P-256", private=True)
    return ECKey.import_key(k.as_pem(private=True),
                            {"kid": k.thumbprint(), "use": "sig", "alg": "ES256"})
