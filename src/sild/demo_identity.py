"""Sild ID in ``sild demo`` (issue #10): the identity subsystem and its OpenID Connect
provider (docs/spec/oidc.md, docs/spec/identity.md §7) for the demo persons.

1. ``identity init`` on the demo's instance: a person CA certified by the instance root,
   the identity store (SQLite in the instance folder).
2. A soft token (docs/spec/identity.md §5.1) for every Estonian demo person, PINs
   ``1234`` / ``12345`` / ``12345678`` (demo only; a cheaper scrypt cost so the demo
   starts fast); each token, its authentication certificate as base64 DER (what the
   provider's certificate login asks to paste) and the PIN1 file in ``<demo>/sild-id/``.
3. ``identity oidc init`` with the issuer ``http://localhost:PORT`` — WebAuthn needs a
   secure context (``localhost`` is one) and an RP ID that is a domain, not an IP — in
   demo mode (its page also offers its own marked demo login).
4. The citizen portal registered as the client ``portal`` with the redirect URI
   ``http://127.0.0.1:<portal port>/login/callback``; its id, secret and port go to
   ``<demo>/sild-id/portal-client.json`` (0600), which ``sild.portal.demo.start`` reads
   (the country hands add-ons plain strings and files, :mod:`sild.demo_country`).

The provider is served in the demo's event loop; :meth:`DemoIdentity.stop` stops it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from sild.clock import utc_now
from sild.crypto.keys import write_private_file
from sild.demo_country import DemoPerson
from sild.embedded import EmbeddedServer, free_port, start_embedded

__all__ = ["OIDC_PORT", "PINS", "PORTAL_CLIENT", "PORTAL_PORT", "DemoIdentity", "start_identity"]

OIDC_PORT = 8482  # sild identity oidc serve's default
PORTAL_PORT = 8487  # sild portal serve's default
FOLDER = "sild-id"
PORTAL_CLIENT = "portal-client.json"  # {"client_id", "client_secret", "port"}


def _pins() -> Any:
    from sild.identity.token import Pins

    return Pins("1234", "12345", "12345678")


PINS = ("1234", "12345", "12345678")  # PIN1, PIN2, PUK of every demo token


@dataclass
class DemoIdentity:
    """The running provider and what the portal and the printed lines need."""

    issuer: str  # http://localhost:8482
    portal_port: int  # the port the portal must listen on (its redirect URI names it)
    client_id: str
    client_secret: str
    folder: Path  # <demo>/sild-id: tokens, certificates, pin1.txt
    tokens: dict[str, Path] = field(default_factory=dict)  # code → soft token
    _server: EmbeddedServer | None = None
    _task: asyncio.Task[None] | None = None
    _engines: list[Any] = field(default_factory=list)

    def certificate_file(self, code: str) -> Path:
        return self.folder / f"{code}.cert.b64"

    @property
    def pin1_file(self) -> Path:
        return self.folder / "pin1.txt"

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self._task, 10)
        for engine in self._engines:
            engine.dispose()


def _issue_tokens(home: Any, engine: Any, persons: Sequence[DemoPerson],
                  folder: Path) -> dict[str, Path]:
    from sild.identity.population import parse_citizen_row
    from sild.identity.token import KdfParams, SoftToken

    # n=2^12: ~10 ms a try instead of ~0.1 s (demo tokens; their PINs are printed anyway)
    service = home.service(engine, issuing=True, kdf=KdfParams(n=2**12))
    records = [parse_citizen_row({"country": "EE", "code": p.code[2:],
                                  "given_name": p.given_name, "surname": p.surname})
               for p in persons if p.code.startswith("EE")]
    issued = service.issue_citizens(records, lambda _r: _pins(), actor="sild demo")
    tokens: dict[str, Path] = {}
    for rec, one in zip(records, issued, strict=True):
        code = f"{rec.code.country}{rec.code.code}"
        token = folder / f"{code}.token"
        token.write_bytes(one.token_path.read_bytes())
        token.chmod(0o600)
        der = SoftToken.open(token).certificate("auth").public_bytes(
            serialization.Encoding.DER)
        (folder / f"{code}.cert.b64").write_text(base64.b64encode(der).decode() + "\n")
        tokens[code] = token
    return tokens


async def start_identity(instance: Any, root: Path, persons: Sequence[DemoPerson], *,
                         fixed_ports: bool) -> DemoIdentity:
    """Set up and serve Sild ID for ``persons`` on the demo's ``instance``."""
    from sild.identity.home import IdentityHome
    from sild.identity.oidc.app import create_oidc_app
    from sild.identity.oidc.home import OidcHome

    oidc_port = OIDC_PORT if fixed_ports else free_port()
    portal_port = PORTAL_PORT if fixed_ports else free_port()
    folder = root / FOLDER
    folder.mkdir(mode=0o700)
    write_private_file(folder / "pin1.txt", (PINS[0] + "\n").encode())
    home = IdentityHome.create(instance, at=utc_now())
    engine = home.engine()
    identity = DemoIdentity("", portal_port, "portal", "", folder, _engines=[engine])
    try:
        identity.tokens = await asyncio.to_thread(_issue_tokens, home, engine, persons,
                                                  folder)
        oidc = OidcHome.create(instance, issuer=f"http://localhost:{oidc_port}")
        identity.issuer = oidc.issuer
        provider = oidc.provider(demo=True)
        identity._engines.append(provider.store.engine)
        _, identity.client_secret = provider.store.add_client(
            "portal", name="Citizen portal (sild demo)",
            redirect_uris=[f"http://127.0.0.1:{portal_port}/login/callback"])
        write_private_file(folder / PORTAL_CLIENT, json.dumps({
            "client_id": identity.client_id, "client_secret": identity.client_secret,
            "port": portal_port}).encode())
        identity._server, identity._task = await start_embedded(
            create_oidc_app(provider), "127.0.0.1", oidc_port)
    except BaseException:
        await identity.stop()
        raise
    return identity
