"""The protocol: authorization code flow with PKCE, tokens, userinfo (docs/spec/oidc.md §2).

RFC 6749 §4.1 (code grant), RFC 7636 (PKCE; S256 required here), OpenID Connect Core 1.0
§3.1 (code flow, ID token §2), RFC 6750 (bearer tokens). Tokens are JWS compact
serialisations made and checked with joserfc (Authlib's JOSE library); the PKCE
transform is Authlib's. Everything here is synchronous and may block on the store: the
ASGI app calls it in a worker thread.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

from authlib.oauth2.rfc7636 import create_s256_code_challenge  # type: ignore[import-untyped]
from cryptography import x509
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

from sild.core.personal_code import parse as parse_code
from sild.errors import (
    CertificateError,
    DuplicateEntry,
    InvalidIdentifier,
    SignatureError,
)
from sild.identity.assertion import DEFAULT_AUDIENCE, issue_subject_assertion
from sild.identity.oidc import passkeys as webauthn
from sild.identity.oidc.passkey_store import PasskeyStore, Session, StoredPasskey
from sild.identity.oidc.store import CodeGrant, OidcStore, SpendError
from sild.identity.oidc.webeid import LoginSubject, verify_login
from sild.identity.status import StatusSource

__all__ = ["AccountPage", "LoginDone", "LoginPage", "OAuthError", "Provider",
           "ProviderConfig"]

log = logging.getLogger("sild.identity.oidc")

_PKCE = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")  # RFC 7636 §4.1 / §4.2 (S256 is 43)
_VERIFIER = _PKCE
ALG = "ES256"


class OAuthError(Exception):
    """An error response: RFC 6749 §4.1.2.1 (``redirect_uri`` set: sent back to the client)
    or §5.2 / RFC 6750 §3.1 (answered directly with ``status``)."""

    def __init__(self, error: str, description: str, *, status: int = 400,
                 redirect_uri: str | None = None, state: str | None = None) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status
        self.redirect_uri = redirect_uri
        self.state = state

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}

    def location(self) -> str:
        assert self.redirect_uri is not None
        params = self.body() | ({"state": self.state} if self.state is not None else {})
        return _with_query(self.redirect_uri, params)


def _with_query(uri: str, params: Mapping[str, str]) -> str:
    return uri + ("&" if urlsplit(uri).query else "?") + urlencode(params)


@dataclass(frozen=True)
class ProviderConfig:
    issuer: str  # https://host[:port], no trailing slash
    code_ttl: timedelta = timedelta(seconds=60)
    challenge_ttl: timedelta = timedelta(minutes=5)
    token_ttl: timedelta = timedelta(minutes=10)
    demo: bool = False
    scopes: tuple[str, ...] = field(default=("openid",))
    # Passkeys (docs/spec/identity.md §7). A session opened by a certificate login lives
    # this long; it may register a passkey only this soon after that login; a WebAuthn
    # registration challenge lives this long (WebAuthn §13.4.3: short-lived, single use).
    session_ttl: timedelta = timedelta(minutes=30)
    passkey_register_window: timedelta = timedelta(minutes=10)
    passkey_challenge_ttl: timedelta = timedelta(minutes=2)
    rp_id: str | None = None  # WebAuthn RP ID; default: the issuer's host name
    # Sild-Subject-Assertion lifetime (≤ 5 minutes; sild.identity.assertion).
    assertion_ttl: timedelta = timedelta(minutes=5)

    @property
    def origin(self) -> str:
        parts = urlsplit(self.issuer)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def relying_party(self) -> webauthn.RelyingParty:
        return webauthn.RelyingParty(self.rp_id or urlsplit(self.issuer).hostname or "",
                                     self.origin)


@dataclass(frozen=True)
class LoginPage:
    """What the browser is shown: the challenge to sign and the client asking."""

    nonce: str
    origin: str
    client_name: str
    demo: bool


@dataclass(frozen=True)
class LoginDone:
    """A finished login: where the browser goes next and, after a certificate login,
    the new session's cookie value."""

    location: str
    session: str | None = None


@dataclass(frozen=True)
class AccountPage:
    """The passkey page of a logged-in person: who, their passkeys, and whether this
    session may register one."""

    person_code: str
    given_name: str
    family_name: str
    passkeys: tuple[StoredPasskey, ...]
    can_register: bool


# acr as TARA reports levels of assurance (eIDAS low / substantial / high).
_ACR = {"idcard": "high", "passkey": "substantial"}


class Provider:
    """One provider: its key, its store, the person CA it trusts for logins."""

    def __init__(self, config: ProviderConfig, *, key: ECKey, store: OidcStore,
                 person_ca: x509.Certificate, status: StatusSource,
                 clock: Callable[[], datetime],
                 passkeys: PasskeyStore | None = None) -> None:
        if not key.kid:
            raise ValueError("the signing key needs a kid")
        self.config = config
        self._key = key
        self.store = store
        self.passkeys = passkeys or PasskeyStore(store.engine, clock)
        self._person_ca = person_ca
        self._status = status
        self._clock = clock

    # --- metadata --------------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        """OpenID Connect Discovery 1.0 §3."""
        i = self.config.issuer
        return {
            "issuer": i,
            "authorization_endpoint": f"{i}/authorize",
            "token_endpoint": f"{i}/token",
            "userinfo_endpoint": f"{i}/userinfo",
            "jwks_uri": f"{i}/jwks",
            # Sild's own: the Sild-Subject-Assertion endpoint (docs/spec/identity.md §8)
            "sild_subject_assertion_endpoint": f"{i}/assertion",
            "scopes_supported": list(self.config.scopes),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [ALG],
            "token_endpoint_auth_methods_supported": ["client_secret_basic",
                                                      "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["sub", "given_name", "family_name", "auth_time", "amr",
                                 "acr", "profile_attributes", "nonce", "iss", "aud", "iat",
                                 "exp"],
        }

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self._key.as_dict(private=False)]}

    # --- authorization endpoint: RFC 6749 §4.1.1, OIDC Core §3.1.2.1 ------------------

    def authorize(self, params: Mapping[str, str]) -> LoginPage:
        """Check the request; issue a login challenge bound to it, or raise OAuthError."""
        client = self.store.client(params.get("client_id"))
        if client is None:  # §4.1.2.1: never redirect to an unverified URI
            raise OAuthError("invalid_request", "unknown client_id")
        redirect_uri = params.get("redirect_uri")
        if redirect_uri not in client.redirect_uris:  # matched exactly (§3.1.2.3)
            raise OAuthError("invalid_request", "redirect_uri is not registered for this "
                                                "client")
        assert redirect_uri is not None
        state = params.get("state")

        def fail(error: str, description: str) -> OAuthError:
            return OAuthError(error, description, redirect_uri=redirect_uri, state=state)

        if params.get("response_type") != "code":
            raise fail("unsupported_response_type", "only response_type=code is supported")
        scopes = (params.get("scope") or "").split()
        if "openid" not in scopes:
            raise fail("invalid_scope", "scope must include openid")
        challenge = params.get("code_challenge")
        method = params.get("code_challenge_method")
        if not challenge:  # RFC 7636 §4.4.1
            raise fail("invalid_request", "code_challenge required (PKCE)")
        if method != "S256":  # RFC 7636 §4.4.1: plain is refused here
            raise fail("invalid_request", "code_challenge_method must be S256")
        if not _PKCE.match(challenge):
            raise fail("invalid_request", "malformed code_challenge")
        nonce = params.get("nonce")
        if nonce is not None and (len(nonce) > 512 or not nonce.isprintable()):
            raise fail("invalid_request", "malformed nonce")
        if state is not None and (len(state) > 1024 or not state.isprintable()):
            raise OAuthError("invalid_request", "malformed state")
        request = {"client_id": client.client_id, "redirect_uri": redirect_uri,
                   "state": state, "nonce": nonce, "code_challenge": challenge,
                   "scope": " ".join(scopes)}
        ch = self.store.new_challenge(origin=self.config.origin, request=request,
                                      ttl=self.config.challenge_ttl)
        return LoginPage(ch.nonce, ch.origin, client.name, self.config.demo)

    # --- login -----------------------------------------------------------------------

    def _pending(self, nonce: object) -> tuple[str, dict[str, Any]]:
        try:
            ch = self.store.challenge(nonce)
        except SpendError as e:
            raise OAuthError("invalid_request", f"login challenge {e.reason}") from e
        return ch.nonce, ch.request

    def _finish(self, nonce: str, request: dict[str, Any], who: LoginSubject,
                also: Callable[[Any], None] | None = None) -> str:
        now = self._clock()
        claims = {"sub": who.sub, "given_name": who.given_name,
                  "family_name": who.family_name, "amr": [who.amr],
                  "auth_time": int(now.timestamp()), "nonce": request["nonce"],
                  "scope": request["scope"], "date_of_birth": who.date_of_birth}
        grant = CodeGrant(request["client_id"], request["redirect_uri"],
                          request["code_challenge"], claims)
        try:
            code = self.store.spend_challenge_for_code(nonce, grant, ttl=self.config.code_ttl,
                                                       also=also)
        except SpendError as e:
            if e.reason.startswith("sign counter"):
                raise OAuthError("access_denied", e.reason) from e
            raise OAuthError("invalid_request", "login challenge already used") from e
        params = {"code": code} | ({"state": request["state"]}
                                   if request["state"] is not None else {})
        return _with_query(request["redirect_uri"], params)

    def login_certificate(self, form: Mapping[str, str]) -> LoginDone:
        """Web eID-style login; the redirect back to the client (code or error) and a new
        session (in the same transaction as the code), which may register a passkey."""
        nonce, request = self._pending(form.get("nonce"))
        try:
            cert = _b64(form.get("certificate"), "certificate")
            sig = _b64(form.get("signature"), "signature")
            who = verify_login(certificate_der=cert, signature=sig,
                               origin=self.config.origin, nonce=nonce,
                               issuer=self._person_ca, status=self._status,
                               at=self._clock())
        except (CertificateError, SignatureError) as e:
            with contextlib.suppress(SpendError):  # a racing attempt may have spent it
                self.store.spend_challenge(nonce)  # single use, also when it fails
            log.info("certificate login refused: %s", e)
            raise OAuthError("access_denied", str(e), redirect_uri=request["redirect_uri"],
                             state=request["state"]) from e
        token = secrets.token_urlsafe(32)
        row = PasskeyStore.session_row(token, who.sub, {
            "given_name": who.given_name, "family_name": who.family_name,
            "date_of_birth": who.date_of_birth, "amr": who.amr}, self._clock(),
            self.config.session_ttl)
        location = self._finish(nonce, request, who,
                                also=lambda conn: PasskeyStore.insert_session(conn, row))
        return LoginDone(location, token)

    def login_demo(self, form: Mapping[str, str]) -> LoginDone:
        """DEMO ONLY: log in as whoever the form names. Exists only in demo mode."""
        if not self.config.demo:
            raise OAuthError("invalid_request", "demo login is off", status=404)
        nonce, request = self._pending(form.get("nonce"))
        code = form.get("personal_code") or ""
        try:
            parse_code(code[:2], code[2:])
        except InvalidIdentifier as e:
            raise OAuthError("invalid_request", "personal_code: a valid code with its "
                                                "country prefix, like EE38001085718") from e
        log.warning("DEMO LOGIN as %s: no authentication took place (demo mode)", code)
        who = LoginSubject(sub=code, given_name=(form.get("given_name") or "DEMO")[:40],
                           family_name=(form.get("family_name") or "DEMO")[:40], amr="demo")
        return LoginDone(self._finish(nonce, request, who))

    # --- token endpoint: RFC 6749 §4.1.3, §5; OIDC Core §3.1.3 -------------------------

    def _client_credentials(self, form: Mapping[str, str],
                            authorization: str | None) -> tuple[str | None, str | None]:
        if authorization and authorization[:6].lower() == "basic ":
            try:
                raw = base64.b64decode(authorization[6:].strip(), validate=True).decode()
                cid, _, secret = raw.partition(":")
            except (binascii.Error, UnicodeDecodeError, ValueError) as e:
                raise _invalid_client("malformed Basic credentials") from e
            return unquote(cid), unquote(secret)  # §2.3.1: form-encoded before Basic
        return form.get("client_id"), form.get("client_secret")

    def token(self, form: Mapping[str, str], authorization: str | None) -> dict[str, Any]:
        cid, secret = self._client_credentials(form, authorization)
        client = self.store.authenticate_client(cid, secret)
        if client is None:
            raise _invalid_client("client authentication failed")
        if form.get("grant_type") != "authorization_code":
            raise OAuthError("unsupported_grant_type", "only authorization_code")
        verifier = form.get("code_verifier")
        if not verifier:
            raise OAuthError("invalid_request", "code_verifier required (PKCE)")
        if not _VERIFIER.match(verifier):
            raise OAuthError("invalid_request", "malformed code_verifier")
        redirect_uri = form.get("redirect_uri")

        def check(grant: CodeGrant) -> None:
            if grant.client_id != client.client_id:
                raise OAuthError("invalid_grant", "the code was issued to another client")
            if grant.redirect_uri != redirect_uri:  # §4.1.3
                raise OAuthError("invalid_grant", "redirect_uri does not match")
            if create_s256_code_challenge(verifier) != grant.code_challenge:  # RFC 7636 §4.6
                raise OAuthError("invalid_grant", "code_verifier does not match")

        try:
            grant = self.store.redeem_code(form.get("code"), check)
        except SpendError as e:
            raise OAuthError("invalid_grant", f"authorization code {e.reason}") from e
        return self._tokens(client.client_id, grant.claims)

    def _tokens(self, client_id: str, c: dict[str, Any]) -> dict[str, Any]:
        now = int(self._clock().timestamp())
        exp = now + int(self.config.token_ttl.total_seconds())
        header = {"alg": ALG, "kid": self._key.kid}
        id_claims = {"iss": self.config.issuer, "aud": client_id, "sub": c["sub"],
                     "iat": now, "exp": exp, "auth_time": c["auth_time"], "amr": c["amr"],
                     "given_name": c["given_name"], "family_name": c["family_name"],
                     "azp": client_id, "acr": _ACR.get(c["amr"][0], "low"),
                     # TARA's shape: the names and birth date again under profile_attributes
                     "profile_attributes": {"given_name": c["given_name"],
                                            "family_name": c["family_name"],
                                            "date_of_birth": c.get("date_of_birth")}}
        if c.get("nonce") is not None:
            id_claims["nonce"] = c["nonce"]
        at_claims = {"iss": self.config.issuer, "aud": self.config.issuer, "sub": c["sub"],
                     "client_id": client_id, "scope": c["scope"], "iat": now, "exp": exp,
                     "jti": secrets.token_urlsafe(16), "given_name": c["given_name"],
                     "family_name": c["family_name"], "amr": c["amr"],
                     "acr": _ACR.get(c["amr"][0], "low"), "auth_time": c["auth_time"]}
        return {
            "access_token": jwt.encode(header | {"typ": "at+jwt"}, at_claims, self._key),
            "token_type": "Bearer",
            "expires_in": exp - now,
            "id_token": jwt.encode(header | {"typ": "JWT"}, id_claims, self._key),
            "scope": c["scope"],
        }

    # --- userinfo: OIDC Core §5.3, RFC 6750 §2.1 / §3.1 -------------------------------

    def userinfo(self, authorization: str | None) -> dict[str, Any]:
        c = self._access_token(authorization)
        return {"sub": c["sub"], "given_name": c["given_name"],
                "family_name": c["family_name"]}

    def _access_token(self, authorization: str | None) -> dict[str, Any]:
        """The claims of a valid Bearer access token of this provider (RFC 6750 §2.1)."""
        if not authorization or authorization[:7].lower() != "bearer ":
            raise OAuthError("invalid_request", "Bearer access token required", status=401)
        try:
            tok = jwt.decode(authorization[7:].strip(), KeySet([self._key]),
                             algorithms=[ALG])
        except (JoseError, ValueError) as e:
            raise OAuthError("invalid_token", "the access token does not verify",
                             status=401) from e
        c = tok.claims
        if tok.header.get("typ") != "at+jwt" or c.get("iss") != self.config.issuer:
            raise OAuthError("invalid_token", "not an access token of this provider",
                             status=401)
        if not isinstance(c.get("exp"), int) or c["exp"] <= self._clock().timestamp():
            raise OAuthError("invalid_token", "the access token has expired", status=401)
        return c

    # --- passkeys: docs/spec/identity.md §7 ---------------------------------------------

    def _session(self, token: str | None) -> Session:
        session = self.passkeys.session(token)
        if session is None:  # OIDC Core §3.1.2.6 login_required
            raise OAuthError("login_required", "no session: log in with your certificate "
                                               "first", status=401)
        return session

    def _registering(self, token: str | None) -> Session:
        """A session that may register a passkey: opened by a certificate login (the
        person proved who they are with their authentication key) only minutes ago."""
        session = self._session(token)
        if session.subject.get("amr") != "idcard":
            raise OAuthError("login_required", "a passkey is registered only after a "
                                               "certificate login", status=403)
        if self._clock() - session.created_at > self.config.passkey_register_window:
            raise OAuthError("login_required", "the certificate login is too old to "
                                               "register a passkey; log in again",
                             status=403)
        return session

    def account(self, token: str | None) -> AccountPage | None:
        """The passkey page of the session's person, or None without a session."""
        session = self.passkeys.session(token)
        if session is None:
            return None
        s = session.subject
        can = s.get("amr") == "idcard" and \
            self._clock() - session.created_at <= self.config.passkey_register_window
        return AccountPage(session.person_code, s.get("given_name", ""),
                           s.get("family_name", ""),
                           tuple(self.passkeys.passkeys(session.person_code)), can)

    def passkey_registration_options(self, token: str | None) -> dict[str, Any]:
        """WebAuthn §7.1 step 1: creation options with a fresh single-use challenge."""
        session = self._registering(token)
        existing = self.passkeys.passkeys(session.person_code)
        # One user handle per person (random, no personal data: WebAuthn §14.6.1).
        handle = existing[0].user_handle if existing else secrets.token_urlsafe(32)
        challenge = self.passkeys.new_registration_challenge(
            session, handle, self.config.passkey_challenge_ttl)
        s = session.subject
        return webauthn.registration_options(
            rp=self.config.relying_party, challenge=challenge, user_handle=handle,
            user_name=session.person_code,
            display_name=f"{s.get('given_name', '')} {s.get('family_name', '')}".strip(),
            exclude=existing)

    def passkey_register(self, token: str | None, credential: object) -> StoredPasskey:
        """WebAuthn §7.1 steps 5-27; the stored passkey. The challenge is spent either way;
        the credential is stored in the same transaction that spends it."""
        session = self._registering(token)
        try:
            challenge = webauthn.claimed_challenge(credential)
        except webauthn.PasskeyRefused as e:
            raise OAuthError("invalid_request", str(e)) from e
        try:
            handle = self.passkeys.registration_challenge(challenge, session)
        except SpendError as e:
            raise OAuthError("invalid_request", f"registration challenge {e.reason}") from e
        try:
            new = webauthn.verify_registration(rp=self.config.relying_party,
                                               credential=credential, challenge=challenge)
        except webauthn.PasskeyRefused as e:
            with contextlib.suppress(SpendError):
                self.passkeys.spend_registration_challenge(challenge)
            log.info("passkey registration refused: %s", e)
            raise OAuthError("access_denied", str(e)) from e
        try:
            stored = self.passkeys.add_passkey(challenge, session.person_code, handle, new)
        except SpendError as e:
            raise OAuthError("invalid_request", f"registration challenge {e.reason}") from e
        except DuplicateEntry as e:
            with contextlib.suppress(SpendError):  # single use, also when it fails
                self.passkeys.spend_registration_challenge(challenge)
            raise OAuthError("invalid_request", str(e)) from e
        log.info("passkey registered for %s", session.person_code)
        return stored

    def logout(self, token: str | None) -> None:
        self.passkeys.end_session(token)

    def passkey_login_options(self, body: object) -> dict[str, Any]:
        """WebAuthn §7.2 step 1 for a pending authorization request: the request's login
        challenge (256 bits, single use, 5 minutes) is the WebAuthn challenge."""
        nonce = body.get("nonce") if isinstance(body, Mapping) else None
        nonce, _ = self._pending(nonce)
        return webauthn.authentication_options(rp=self.config.relying_party,
                                               challenge=nonce)

    def login_passkey(self, body: object) -> LoginDone:
        """WebAuthn §7.2 steps 5-24, then the code as after any login. A refused response
        spends the challenge (single use, as for the certificate)."""
        if not isinstance(body, Mapping):
            raise OAuthError("invalid_request", "body must be a JSON object")
        nonce, request = self._pending(body.get("nonce"))
        credential = body.get("credential")

        def refuse(reason: str) -> OAuthError:
            with contextlib.suppress(SpendError):
                self.store.spend_challenge(nonce)
            log.info("passkey login refused: %s", reason)
            return OAuthError("access_denied", reason)

        cid = credential.get("id") if isinstance(credential, Mapping) else None
        stored = self.passkeys.passkey(cid)
        if stored is None:
            raise refuse("unknown passkey")
        try:
            count = webauthn.verify_authentication(
                rp=self.config.relying_party, credential=credential, challenge=nonce,
                stored=stored)
        except webauthn.PasskeyRefused as e:
            raise refuse(str(e)) from e
        person = self.passkeys.person(stored.person_code)
        if person is None or not person.active:
            raise refuse("the person holds no active identity (suspended, revoked or "
                         "expired)")
        who = LoginSubject(sub=stored.person_code, given_name=person.given_name,
                           family_name=person.family_name, amr="passkey",
                           date_of_birth=person.date_of_birth)
        def move_counter(conn: Any) -> None:  # in the code's transaction
            self.passkeys.use_passkey(conn, stored.credential_id, seen=stored.sign_count,
                                      new=count)

        return LoginDone(self._finish(nonce, request, who, also=move_counter))

    # --- Sild-Subject-Assertion: docs/spec/identity.md §8 ------------------------------

    def subject_assertion(self, authorization: str | None,
                          form: Mapping[str, str]) -> dict[str, Any]:
        """A short-lived assertion of who the portal's access token was issued for."""
        c = self._access_token(authorization)
        audience = form.get("audience") or DEFAULT_AUDIENCE
        if len(audience) > 200 or not audience.isprintable() or " " in audience:
            raise OAuthError("invalid_request", "malformed audience")
        sub = str(c.get("sub", ""))
        try:
            subject = parse_code(sub[:2], sub[2:]).semantics_id()
        except InvalidIdentifier as e:
            raise OAuthError("invalid_token", "the token's subject is not a personal code",
                             status=401) from e
        now = self._clock()
        left = timedelta(seconds=int(c["exp"] - now.timestamp()))
        if left < timedelta(seconds=1):  # never outlive the access token
            raise OAuthError("invalid_token", "the access token has expired", status=401)
        lifetime = min(self.config.assertion_ttl, left)
        amr = c.get("amr") or []
        token = issue_subject_assertion(
            key=self._key, issuer=self.config.issuer, subject=subject, now=now,
            audience=audience, lifetime=lifetime, amr=amr,
            acr=c.get("acr"), authorized_party=c.get("client_id"))
        return {"assertion": token, "token_type": "Sild-Subject-Assertion",
                "expires_in": int(lifetime.total_seconds()), "audience": audience}


def _invalid_client(description: str) -> OAuthError:
    return OAuthError("invalid_client", description, status=401)  # RFC 6749 §5.2


def _b64(value: str | None, what: str) -> bytes:
    if not value:
        raise CertificateError(f"{what} missing") if what == "certificate" \
            else SignatureError(f"{what} missing")
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError) as e:
        err = CertificateError if what == "certificate" else SignatureError
        raise err(f"{what} is not base64") from e
