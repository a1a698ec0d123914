"""OpenID Connect login round trip through the provider (issue 9: "OIDC login round trip
p99"), on a real uvicorn server on loopback.

    python bench/bench_oidc_login.py [--db URL] [--logins 300] [--warmup 20]

One login = GET /authorize (PKCE S256) → sign the Web eID-style challenge with the
person's authentication key (already unlocked: the PIN1 check, ≈ 0.1 s of scrypt on the
person's side, is not part of the provider's round trip) → POST /login/certificate →
POST /token with the code and verifier; the ID token must come back. One client, one
keep-alive connection, logins one after another. Prints p50, p99 and max in ms.
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
from sild.testing.servers import serve_asgi

REDIRECT = "http://127.0.0.1:9/cb"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", help="an EMPTY database URL (default: a temporary SQLite file); "
                                 "the benchmark creates the identity tables in it")
    ap.add_argument("--logins", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=20)
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
        times = []
        for _ in range(args.warmup + args.logins):
            start = time.perf_counter()
            verifier = generate_token(48)
            pending = session.get(f"{url}/authorize", headers={"Accept": "application/json"},
                                  params={"client_id": "portal", "redirect_uri": REDIRECT,
                                          "response_type": "code", "scope": "openid",
                                          "state": "s", "nonce": "n",
                                          "code_challenge": create_s256_code_challenge(verifier),
                                          "code_challenge_method": "S256"}).json()
            signature = base64.b64encode(sign(key=key, data=challenge_data(
                pending["origin"], pending["nonce"]))).decode()
            location = session.post(f"{url}/login/certificate", allow_redirects=False, data={
                "nonce": pending["nonce"], "certificate": der, "signature": signature,
            }).headers["location"]
            code = location.split("code=")[1].split("&")[0]
            answer = session.post(f"{url}/token", auth=("portal", secret), data={
                "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                "code_verifier": verifier}).json()
            if "id_token" not in answer:
                raise SystemExit(f"login failed: {answer}")
            times.append(time.perf_counter() - start)
    engine.dispose()
    measured = sorted(times[args.warmup:])

    def q(p: float) -> float:
        return measured[int(p * (len(measured) - 1))] * 1000

    store_name = (args.db or "sqlite").split(":")[0]
    print(f"{store_name}: {len(measured)} logins, p50 {q(0.5):.1f} ms, p99 {q(0.99):.1f} ms, "
          f"max {measured[-1] * 1000:.1f} ms")


if __name__ == "__main__":
    main()
