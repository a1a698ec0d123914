"""The ``Sild-Subject-Assertion``: who a portal is acting for (docs/spec/identity.md §8).

A portal that has logged a person in through the OIDC provider asks the provider for a
short-lived assertion (``POST /assertion`` with the portal's access token) and forwards
it through the exchange in the ``Sild-Subject-Assertion`` header, so the provider of a
service knows which person asked — and the tracker can show it.

The assertion is a JWT (RFC 7519) signed with the OIDC provider's ES256 key (the one its
JWKS publishes) through joserfc; header ``typ`` is :data:`TYP`, so neither an ID token
nor an access token of the same key passes for one. Claims:

======  ================================================================================
iss     the OIDC provider's issuer URL
sub     the person as an ETSI EN 319 412-1 semantics identifier, ``PNOEE-38001085718``
aud     ``sild-exchange`` (any provider behind the exchange) or one service's identifier
iat     issued at (seconds); ``exp`` - ``iat`` ≤ 5 minutes
exp     expiry
jti     unique id (a verifier may remember it until ``exp`` to refuse a replay)
acr     the level of the login (``high`` for the certificate, ``substantial`` for a passkey)
amr     how the person logged in (RFC 8176 style list: ``["idcard"]``, ``["passkey"]``)
azp     the portal (OIDC client) it was issued to
======  ================================================================================

Pure: both functions take the key and the time as inputs; no clock, no I/O.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

from sild.core.personal_code import parse_semantics_id
from sild.errors import InvalidIdentifier, InvalidSubjectAssertion

__all__ = [
    "DEFAULT_AUDIENCE",
    "HEADER",
    "MAX_LIFETIME",
    "TYP",
    "SubjectAssertion",
    "issue_subject_assertion",
    "verify_subject_assertion",
]

HEADER = "Sild-Subject-Assertion"
TYP = "sild-subject+jwt"
ALG = "ES256"
DEFAULT_AUDIENCE = "sild-exchange"
# Long enough to cross the exchange, short enough that a leaked header is soon useless.
MAX_LIFETIME = timedelta(minutes=5)
# Clocks of the provider and the verifier may differ this much (iat in the future).
LEEWAY = timedelta(seconds=30)
MAX_TOKEN = 4096  # bytes: an ES256 JWT with these claims is well under 1 KiB


@dataclass(frozen=True)
class SubjectAssertion:
    """A verified assertion; only :func:`verify_subject_assertion` makes these."""

    subject: str  # PNOEE-38001085718
    issuer: str
    audience: str
    jti: str
    issued_at: datetime
    expires_at: datetime
    amr: tuple[str, ...]
    acr: str | None
    authorized_party: str | None


def issue_subject_assertion(*, key: ECKey, issuer: str, subject: str, now: datetime,
                            audience: str = DEFAULT_AUDIENCE,
                            lifetime: timedelta = MAX_LIFETIME, amr: Sequence[str] = (),
                            acr: str | None = None,
                            authorized_party: str | None = None) -> str:
    """Sign an assertion for ``subject`` (a ``PNO<cc>-<code>`` identifier)."""
    if not timedelta(0) < lifetime <= MAX_LIFETIME:
        raise ValueError("an assertion lives at most 5 minutes")
    parse_semantics_id(subject)  # raises InvalidPersonalCode for anything else
    iat = int(now.timestamp())
    claims: dict[str, Any] = {"iss": issuer, "sub": subject, "aud": audience, "iat": iat,
                              "exp": iat + int(lifetime.total_seconds()),
                              "jti": secrets.token_urlsafe(16), "amr": list(amr)}
    if acr is not None:
        claims["acr"] = acr
    if authorized_party is not None:
        claims["azp"] = authorized_party
    return jwt.encode({"alg": ALG, "typ": TYP, "kid": key.kid}, claims, key)


def _keys(keys: Mapping[str, Any] | KeySet) -> KeySet:
    if isinstance(keys, KeySet):
        return keys
    try:
        return KeySet.import_key_set(dict(keys))  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError, KeyError) as e:
        raise ValueError("keys: not a JWKS") from e


def _int(claims: Mapping[str, Any], name: str) -> int:
    value = claims.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidSubjectAssertion(f"subject assertion: {name} missing or not a number")
    return value


def verify_subject_assertion(token: str, *, keys: Mapping[str, Any] | KeySet, issuer: str,
                             now: datetime, max_age: timedelta = MAX_LIFETIME,
                             audiences: Collection[str] = (DEFAULT_AUDIENCE,),
                             leeway: timedelta = LEEWAY) -> SubjectAssertion:
    """Check a ``Sild-Subject-Assertion`` header value; the verified assertion, or
    :class:`~sild.errors.InvalidSubjectAssertion` saying what is wrong.

    ``keys`` is the provider's JWKS (a dict as ``/jwks`` serves it, or a joserfc
    ``KeySet``); ``issuer`` the provider's issuer URL; ``audiences`` the ``aud`` values
    this verifier accepts; ``max_age`` bounds both ``exp - iat`` and ``now - iat``.
    """
    key_set = _keys(keys)
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN \
            or token.count(".") != 2 or not token.isascii():
        raise InvalidSubjectAssertion("subject assertion: not a compact JWS")
    try:  # (1) the signature, with the provider's key, ES256 only (RFC 7515 §5.2)
        decoded = jwt.decode(token, key_set, algorithms=[ALG])
    except (JoseError, ValueError, TypeError, KeyError) as e:
        raise InvalidSubjectAssertion("subject assertion: the signature does not verify "
                                      "with the provider's keys") from e
    header, c = decoded.header, decoded.claims
    if header.get("typ") != TYP:  # (2) an ID or access token is not an assertion
        raise InvalidSubjectAssertion(f"subject assertion: typ must be {TYP}")
    if c.get("iss") != issuer:  # (3) RFC 7519 §4.1.1
        raise InvalidSubjectAssertion("subject assertion: issued by another provider")
    aud = c.get("aud")  # (4) RFC 7519 §4.1.3: one audience, one this verifier accepts
    if not isinstance(aud, str) or aud not in audiences:
        raise InvalidSubjectAssertion("subject assertion: meant for another audience")
    iat, exp = _int(c, "iat"), _int(c, "exp")  # (5) RFC 7519 §4.1.4, §4.1.6
    at = now.timestamp()
    if exp <= iat or timedelta(seconds=exp - iat) > max_age:
        raise InvalidSubjectAssertion("subject assertion: lifetime longer than allowed")
    if exp <= at:
        raise InvalidSubjectAssertion("subject assertion: expired")
    if iat > at + leeway.total_seconds():
        raise InvalidSubjectAssertion("subject assertion: issued in the future")
    if at - iat > max_age.total_seconds():
        raise InvalidSubjectAssertion("subject assertion: too old")
    sub, jti = c.get("sub"), c.get("jti")
    if not isinstance(sub, str):
        raise InvalidSubjectAssertion("subject assertion: sub missing")
    try:  # (6) the subject is a person: PNO<cc>-<valid code>
        parse_semantics_id(sub)
    except InvalidIdentifier as e:
        raise InvalidSubjectAssertion("subject assertion: sub is not a PNO personal code") \
            from e
    if not isinstance(jti, str) or not 0 < len(jti) <= 128:
        raise InvalidSubjectAssertion("subject assertion: jti missing")
    amr, acr, azp = c.get("amr", []), c.get("acr"), c.get("azp")
    if not isinstance(amr, list) or not all(isinstance(a, str) for a in amr) \
            or (acr is not None and not isinstance(acr, str)) \
            or (azp is not None and not isinstance(azp, str)):
        raise InvalidSubjectAssertion("subject assertion: malformed amr, acr or azp")
    return SubjectAssertion(subject=sub, issuer=issuer, audience=aud, jti=jti,
                            issued_at=datetime.fromtimestamp(iat, UTC),
                            expires_at=datetime.fromtimestamp(exp, UTC), amr=tuple(amr),
                            acr=acr, authorized_party=azp)
