"""``sild identity oidc …``: the OpenID Connect provider (docs/spec/oidc.md, docs/guide.md §8).

Wired under ``sild identity`` by :mod:`sild.cli.identity` with ``add_oidc_parser(sub)``.
Heavy imports (SQLAlchemy, Starlette, joserfc, cryptography) wait inside the commands.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["DEFAULT_OIDC_LISTEN", "add_oidc_parser"]

DEFAULT_OIDC_LISTEN = "127.0.0.1:8482"


def add_oidc_parser(sub: Any) -> None:
    """``oidc init|serve|challenge|sweep``, ``oidc client add|list|remove`` and
    ``oidc passkey list|remove``."""
    from sild.cli._common import add_dir_arg
    from sild.cli.identity import _guarded

    p: argparse.ArgumentParser = sub.add_parser(
        "oidc", help="the OpenID Connect provider (login for relying parties)")
    s = p.add_subparsers(dest="oidc_command", metavar="ACTION", required=True)

    c = s.add_parser("init", help="make the provider's signing key and settings")
    add_dir_arg(c)
    c.add_argument("--issuer", default=f"http://{DEFAULT_OIDC_LISTEN}", metavar="URL",
                   help=f"the issuer URL relying parties see (default http://"
                        f"{DEFAULT_OIDC_LISTEN})")
    c.set_defaults(func=_guarded(run_init))

    c = s.add_parser("serve", help="run the provider over HTTP")
    add_dir_arg(c)
    c.add_argument("--listen", default=DEFAULT_OIDC_LISTEN,
                   help=f"host:port (default {DEFAULT_OIDC_LISTEN})")
    c.add_argument("--demo", action="store_true",
                   help="DEMO MODE: also offer a login without authentication "
                        "(warned in the log at every use); never in production")
    c.set_defaults(func=_guarded(run_serve))

    c = s.add_parser("challenge", help="the hex a login signs: SHA-256(origin) ‖ "
                                       "SHA-256(nonce), for `sild identity token authenticate`")
    c.add_argument("--origin", required=True, help="the provider's origin (scheme://host:port)")
    c.add_argument("--nonce", required=True, help="the nonce from the login page")
    c.set_defaults(func=_guarded(run_challenge))

    c = s.add_parser("sweep", help="delete login challenges, codes and sessions that "
                                   "expired more than a day ago (run daily)")
    add_dir_arg(c)
    c.set_defaults(func=_guarded(run_sweep))

    cl = s.add_parser("client", help="registered relying parties")
    cs = cl.add_subparsers(dest="client_command", metavar="ACTION", required=True)
    c = cs.add_parser("add", help="register a relying party; prints its secret once")
    c.add_argument("client_id", metavar="CLIENT_ID")
    c.add_argument("--name", required=True, help="shown on the login page")
    c.add_argument("--redirect-uri", required=True, action="append", metavar="URI",
                   help="an allowed redirect URI, matched exactly (repeatable)")
    add_dir_arg(c)
    c.set_defaults(func=_guarded(run_client_add))
    c = cs.add_parser("list", help="list relying parties")
    add_dir_arg(c)
    c.set_defaults(func=_guarded(run_client_list))
    c = cs.add_parser("remove", help="remove a relying party")
    c.add_argument("client_id", metavar="CLIENT_ID")
    add_dir_arg(c)
    c.set_defaults(func=_guarded(run_client_remove))

    pk = s.add_parser("passkey", help="people's passkeys (registered in the browser)")
    ps = pk.add_subparsers(dest="passkey_command", metavar="ACTION", required=True)
    c = ps.add_parser("list", help="a person's passkeys")
    c.add_argument("--person", required=True, metavar="CODE",
                   help="personal code with its country prefix, like EE38001085718")
    add_dir_arg(c)
    c.set_defaults(func=_guarded(run_passkey_list))
    c = ps.add_parser("remove", help="remove a passkey (a lost device)")
    c.add_argument("credential_id", metavar="CREDENTIAL_ID")
    add_dir_arg(c)
    c.set_defaults(func=_guarded(run_passkey_remove))


def _home(args: argparse.Namespace) -> Any:
    from sild.cli._common import instance_of
    from sild.identity.oidc.home import OidcHome

    return OidcHome.load(instance_of(args))


def _store(args: argparse.Namespace) -> Any:
    from datetime import UTC, datetime

    from sild.cli._common import _engines
    from sild.identity.oidc.store import OidcStore

    engine = _home(args).identity.engine()
    _engines.append(engine)  # disposed when the command ends
    return OidcStore(engine, lambda: datetime.now(UTC))


def run_init(args: argparse.Namespace) -> int:
    from sild.cli._common import console, instance_of
    from sild.identity.oidc.home import OidcHome

    home = OidcHome.create(instance_of(args), issuer=args.issuer)
    key = home.key()
    console.print(f"OIDC provider {home.issuer}: signing key ES256, kid {key.kid}, "
                  f"in {home.root}", markup=False)
    return 0


def run_serve(args: argparse.Namespace) -> int:
    import logging

    from sild.cli._common import console
    from sild.cli._serve import run_until_signal
    from sild.identity.oidc.app import serve_oidc
    from sild.instance import parse_listen
    from sild.logs import _OneLineHandler

    host, port = parse_listen(args.listen)
    provider = _home(args).provider(demo=args.demo)
    log = logging.getLogger("sild.identity.oidc")
    log.setLevel(logging.INFO)
    log.handlers = [_OneLineHandler()]
    log.propagate = False
    if args.demo:
        log.warning("DEMO MODE: /login/demo logs anyone in without authentication")
    mode = " — DEMO MODE (unauthenticated demo login on)" if args.demo else ""
    return run_until_signal(serve_oidc(provider, host, port, started=lambda url: console.print(
        f"OIDC provider {provider.config.issuer} on {url}{mode}", markup=False)))


def run_challenge(args: argparse.Namespace) -> int:
    from sild.identity.oidc.webeid import challenge_data

    print(challenge_data(args.origin, args.nonce).hex())
    return 0


def run_sweep(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from sild.cli._common import console
    from sild.identity.oidc.passkey_store import PasskeyStore

    store = _store(args)
    n = store.sweep() + PasskeyStore(store.engine, lambda: datetime.now(UTC)).sweep()
    console.print(f"{n} expired challenges, codes and sessions deleted", markup=False)
    return 0


def run_client_add(args: argparse.Namespace) -> int:
    from sild.cli._common import console

    client, secret = _store(args).add_client(args.client_id, name=args.name,
                                             redirect_uris=args.redirect_uri)
    console.print(f"client {client.client_id} ({client.name})\n"
                  f"client secret (shown once, stored hashed): {secret}\n"
                  f"redirect URIs: {' '.join(client.redirect_uris)}", markup=False)
    return 0


def run_client_list(args: argparse.Namespace) -> int:
    from sild.cli._common import table

    table("OIDC clients", ["client id", "name", "redirect URIs", "registered"],
          [(c.client_id, c.name, " ".join(c.redirect_uris), f"{c.created_at:%Y-%m-%d %H:%M}")
           for c in _store(args).clients()])
    return 0


def run_client_remove(args: argparse.Namespace) -> int:
    from sild.cli._common import console

    _store(args).remove_client(args.client_id)
    console.print(f"client {args.client_id} removed", markup=False)
    return 0


def _passkeys(args: argparse.Namespace) -> Any:
    from datetime import UTC, datetime

    from sild.identity.oidc.passkey_store import PasskeyStore

    return PasskeyStore(_store(args).engine, lambda: datetime.now(UTC))


def run_passkey_list(args: argparse.Namespace) -> int:
    from sild.cli._common import table
    from sild.core.personal_code import parse

    code = parse(args.person[:2], args.person[2:])  # InvalidPersonalCode: exit 2
    rows = _passkeys(args).passkeys(f"{code.country}{code.code}")
    table(f"passkeys of {code.country}{code.code}",
          ["credential id", "transports", "sign count", "registered", "last used"],
          [(p.credential_id, " ".join(p.transports), str(p.sign_count),
            f"{p.created_at:%Y-%m-%d %H:%M}",
            f"{p.last_used_at:%Y-%m-%d %H:%M}" if p.last_used_at else "never")
           for p in rows])
    return 0


def run_passkey_remove(args: argparse.Namespace) -> int:
    from sild.cli._common import console

    _passkeys(args).remove_passkey(args.credential_id)
    console.print(f"passkey {args.credential_id} removed", markup=False)
    return 0

