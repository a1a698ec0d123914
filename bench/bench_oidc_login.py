"""OpenID Connect login round trip through the provider (issue 9: "OIDC login round trip
p99"), on a real uvicorn server on loopback.

    python bench/bench_oidc_login.py [--db URL] [--logins 300] [--warmup 20]
                                     [--method certificate|passkey|both]

One login = GET /authorize (PKCE S256) → sign the Web eID-style challenge with the
person's authentication key (already unlocked: the PIN1 check, ≈ 0.1 s of scrypt on the
person's side, is not part of the provider's round trip) → POST /login/certificate →
POST /token with the code and verifier; the ID token must come back. One client, one
keep-alive connection, logins one after another. Prints p50, p99 and max in ms.

A passkey login (docs/spec/identity.md §7) = GET /authorize → POST /login/passkey/options
→ the software authenticator's assertion (sild.testing.passkey: one ES256 signature, the
browser's and authenticator's part) → POST /login/passkey (WebAuthn verification by
py_webauthn, counter update) → POST /token. ``both`` (the default) measures the
certificate login as the baseline in the same run, alternating the two.
"""

from __future__ import annotations

import argparse
import base64
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import requests
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from cryptography.hazmat.primitives import serialization
from joserfc.jwk import ECKey

from sild.ca import CertificateAuthority
from sild.crypto.keys import load_private_key, sign
from sild.identity.oidc.app import create_oidc_app
from sild.identity.oidc.provider import Provider, ProviderConfig
from sild.identity.oidc.store import OidcStore
from sild.identity.oidc.webeid import challenge_data
from sild.identity.person_ca import PersonCA
from sild.identity.population import parse_citizen_row
from sild.identity.service import IdentityService
from sild.identity.token import KdfParams, Pins, SoftToken
from sild.store import make_engine, migrate
from sild.testing.passkey import SoftAuthenticator
from sild.testing.servers import serve_asgi

REDIRECT = "http://127.0.0.1:9/cb"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", help="an EMPTY database URL (default: a temporary SQLite file); "
                                 "the benchmark creates the identity tables in it")
    ap.add_argument("--logins", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--method", choices=["certificate", "passkey", "both"], default="both")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    now = datetime.now(UTC)
    root = CertificateAuthority.create(tmp / "root", name="Root", at=now)
    pca = PersonCA.create(tmp / "pca", root_certificate=root.certificate,
                          root_key=load_private_key(tmp / "root" / "ca.key"), name="Person CA",
                          at=now)
    engine = make_engine(args.db or f"sqlite:///{tmp}/identity.db")
    migrate(engine, "identity")
    service = IdentityService(engine, issuer=pca.certificate, ca=pca, tokens_dir=tmp / "tokens",
                              kdf=KdfParams(n=2**10))  # a fast token: only the set-up uses it
    issued = service.issue_citizen(parse_citizen_row(
        {"country": "EE", "code": "38001085718", "given_name": "Jaak", "surname": "Jõeorg"}),
        Pins("1234", "12345", "12345678"), actor="bench")
    token = SoftToken.open(issued.token_path)
    key = token.authentication_key(pin1="1234")
    der = base64.b64encode(token.certificate("auth").public_bytes(
        serialization.Encoding.DER)).decode()

    def clock() -> datetime:
        return datetime.now(UTC)

    store = OidcStore(engine, clock)
    _, secret = store.add_client("portal", name="Portal", redirect_uris=[REDIRECT])
    provider = Provider(ProviderConfig(issuer="http://placeholder"),
                        key=ECKey.generate_key("P-256", private=True, parameters={"kid": "k"}),
                        store=store, person_ca=pca.certificate,
                        status=service.status_source(), clock=clock)
    with serve_asgi(create_oidc_app(provider)) as url:
        provider.config = replace(provider.config, issuer=url)
        session = requests.Session()

        def authorize() -> tuple[str, dict[str, str]]:
            verifier = generate_token(48)
            pending = session.get(f"{url}/authorize", headers={"Accept": "application/json"},
                                  params={"client_id": "portal", "redirect_uri": REDIRECT,
                                          "response_type": "code", "scope": "openid",
                                          "state": "s", "nonce": "n",
                                          "code_challenge": create_s256_code_challenge(verifier),
                                          "code_challenge_method": "S256"}).json()
            return verifier, pending

        def redeem(location: str, verifier: str) -> None:
            code = location.split("code=")[1].split("&")[0]
            answer = session.post(f"{url}/token", auth=("portal", secret), data={
                "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                "code_verifier": verifier}).json()
            if "id_token" not in answer:
                raise SystemExit(f"login failed: {answer}")

        def certificate() -> None:
            verifier, pending = authorize()
            signature = base64.b64encode(sign(key=key, data=challenge_data(
                pending["origin"], pending["nonce"]))).decode()
            location = session.post(f"{url}/login/certificate", allow_redirects=False, data={
                "nonce": pending["nonce"], "certificate": der, "signature": signature,
            }).headers["location"]
            redeem(location, verifier)

        authenticator = SoftAuthenticator()

        def passkey() -> None:
            verifier, pending = authorize()
            options = session.post(f"{url}/login/passkey/options",
                                   json={"nonce": pending["nonce"]}).json()
            credential = authenticator.get(options, origin=pending["origin"])
            answer = session.post(f"{url}/login/passkey", json={
                "nonce": pending["nonce"], "credential": credential}).json()
            if "location" not in answer:
                raise SystemExit(f"passkey login failed: {answer}")
            redeem(answer["location"], verifier)

        methods = {"certificate": certificate, "passkey": passkey}
        chosen = list(methods) if args.method == "both" else [args.method]
        if "passkey" in chosen:  # register one, after a certificate login (its session)
            certificate()
            options = session.post(f"{url}/passkeys/register/options", json={}).json()
            r = session.post(f"{url}/passkeys/register",
                             json=authenticator.create(options, origin=provider.config.origin))
            if r.status_code != 200:
                raise SystemExit(f"passkey registration failed: {r.text}")
        times: dict[str, list[float]] = {m: [] for m in chosen}
        for _ in range(args.warmup + args.logins):
            for m in chosen:  # alternating: both see the same machine noise
                start = time.perf_counter()
                methods[m]()
                times[m].append(time.perf_counter() - start)
    engine.dispose()
    store_name = (args.db or "sqlite").split(":")[0]
    for m in chosen:
        measured = sorted(times[m][args.warmup:])

        def q(p: float, measured: list[float] = measured) -> float:
            return measured[int(p * (len(measured) - 1))] * 1000

        print(f"{store_name} {m}: {len(measured)} logins, p50 {q(0.5):.1f} ms, "
              f"p99 {q(0.99):.1f} ms, max {measured[-1] * 1000:.1f} ms")

if __name__ == "__main__":
    main()
