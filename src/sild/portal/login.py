"""Logging in and out (docs/spec/portal.md §4).

(1) ``GET /login/oidc``: a new state, nonce and PKCE verifier (RFC 7636, S256, Authlib's
    transform) are kept in the session; 303 to the provider's ``/authorize``
    (OpenID Connect Core §3.1.2.1). Passkey and certificate-challenge login are the
    provider's own pages.
(2) ``GET /login/callback?code=&state=``: the state must be the session's (else 403);
    the code is redeemed at ``/token`` with the verifier and the client's secret
    (HTTP Basic, RFC 6749 §2.3.1); the ID token's signature is checked against the
    provider's JWKS and its ``iss``, ``aud``, ``nonce`` and ``exp`` (OIDC Core §3.1.3.7).
    ``sub`` is the person's code (``EE38001085718``). A fresh session id is issued.
(3) ``POST /login/demo`` (demo mode only, CSRF-checked): log in as one of the configured
    demo persons, no authentication. The page marks it DEMO in red; the log warns.
(4) ``POST /logout`` (CSRF-checked): the session is forgotten.
"""

from __future__ import annotations

import base64
import hmac
import logging
import secrets
import time
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
from authlib.oauth2.rfc7636 import create_s256_code_challenge  # type: ignore[import-untyped]
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from sild.core.usage import parse_subject
from sild.errors import SildError
from sild.portal.config import PortalConfig
from sild.portal.session import Person
from sild.portal.web import (
    BadInput,
    Forbidden,
    checked_form,
    ensure_session,
    field,
    replace_session,
)

__all__ = ["LoginRoutes"]

log = logging.getLogger("sild.portal")
LOGIN_TTL = 600  # seconds from /login/oidc to the callback (the provider's page lives 5 min)


class LoginFailed(Exception):
    """The provider's answer could not be used (shown as a 502 page)."""


class LoginRoutes:
    def __init__(self, config: PortalConfig) -> None:
        self.config = config
        self.redirect_uri = f"{config.public_url}/login/callback"

    def _logged_in(self, request: Request, person: Person) -> Response:
        session = ensure_session(request)
        new = request.state.sessions.log_in(session, person, now=request.state.now)
        replace_session(request, new)
        return RedirectResponse("/data", status_code=303)

    async def demo(self, request: Request) -> Response:
        if not self.config.demo:
            raise Forbidden("Demo login is only offered when the portal runs in demo mode.")
        form = await checked_form(request)
        text = field(form, "personal_code", limit=40)
        try:
            code = parse_subject(text)
        except SildError as e:
            raise BadInput(f"personal code: {e.message}") from e
        chosen = next((p for p in self.config.demo_persons if p.code == code), None)
        if chosen is None:
            raise Forbidden("Demo login is offered only for the demo persons listed.")
        log.warning("DEMO LOGIN as %s: no authentication took place (demo mode)", code)
        return self._logged_in(request, Person(code, chosen.name, code, chosen.name))

    async def start_oidc(self, request: Request) -> Response:
        oidc = self.config.oidc
        if oidc is None:
            raise Forbidden("This portal has no login provider configured.")
        session = ensure_session(request)
        verifier = secrets.token_urlsafe(48)
        session.login = {"state": secrets.token_urlsafe(24), "nonce": secrets.token_urlsafe(24),
                         "verifier": verifier, "at": time.time()}
        query = urlencode({
            "response_type": "code", "client_id": oidc.client_id,
            "redirect_uri": self.redirect_uri, "scope": "openid",
            "state": session.login["state"], "nonce": session.login["nonce"],
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256"})
        return RedirectResponse(f"{oidc.issuer}/authorize?{query}", status_code=303)

    async def callback(self, request: Request) -> Response:
        oidc = self.config.oidc
        session = request.state.session
        if oidc is None or session is None or not session.login:
            raise Forbidden("This login was not started here (or it expired). Log in again.")
        pending, session.login = session.login, {}
        if time.time() - pending["at"] > LOGIN_TTL:
            raise Forbidden("This login took too long. Log in again.")
        state = request.query_params.get("state", "")
        if not hmac.compare_digest(state.encode()[:200], pending["state"].encode()):
            raise Forbidden("The login answer does not belong to this session (state).")
        if "error" in request.query_params:
            raise BadInput("The login was not completed: "
                           f"{request.query_params.get('error', '')[:60]}")
        code = request.query_params.get("code", "")
        if not code or len(code) > 500:
            raise BadInput("The login answer has no authorization code.")
        try:
            claims = await self._redeem(code, pending)
            who = parse_subject(claims.get("sub"))
        except (LoginFailed, SildError) as e:
            log.warning("OIDC login failed: %s", e)
            raise Forbidden("The login provider's answer could not be verified.") from e
        name = f"{claims.get('given_name', '')} {claims.get('family_name', '')}".strip()
        return self._logged_in(request, Person(who, name[:100] or who, who, name[:100] or who))

    async def _redeem(self, code: str, pending: dict[str, Any]) -> dict[str, Any]:
        oidc = self.config.oidc
        assert oidc is not None
        # HTTP Basic with the form-encoded id and secret (RFC 6749 §2.3.1)
        pair = f"{quote(oidc.client_id, safe='')}:{quote(oidc.client_secret or '', safe='')}"
        auth = {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
        form = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": self.redirect_uri, "code_verifier": pending["verifier"]}
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
                async with http.post(f"{oidc.issuer}/token", data=form, headers=auth) as resp:
                    tokens = await resp.json(content_type=None)
                    if resp.status != 200 or not isinstance(tokens, dict):
                        raise LoginFailed(f"token endpoint answered {resp.status}")
                async with http.get(f"{oidc.issuer}/jwks") as resp:
                    keys = KeySet.import_key_set(await resp.json(content_type=None))
        except (aiohttp.ClientError, TimeoutError, ValueError) as e:
            raise LoginFailed(f"cannot reach the provider: {type(e).__name__}") from e
        try:
            token = jwt.decode(str(tokens.get("id_token", "")), keys, algorithms=["ES256"])
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": oidc.issuer},
                aud={"essential": True, "value": oidc.client_id},
                nonce={"essential": True, "value": pending["nonce"]},
                sub={"essential": True}, exp={"essential": True},
            ).validate(token.claims)
        except (JoseError, ValueError) as e:
            raise LoginFailed(f"the ID token does not verify: {e}") from e
        return dict(token.claims)

    async def logout(self, request: Request) -> Response:
        await checked_form(request)
        request.state.sessions.drop(request.state.session.id)
        replace_session(request, None)
        return RedirectResponse("/", status_code=303)
