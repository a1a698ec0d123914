"""``sild gateway``: the gateway owner's side of registration (serve comes with the exchange)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from sild.cli import gateway_log, gateway_services
from sild.cli._common import add_passphrase_arg, console, sild_command
from sild.cli._out import check_out, write_out
from sild.clock import utc_now
from sild.core.identifiers import ServerId, SubsystemId
from sild.errors import ConfigurationError, InvalidRequest, TransportError
from sild.instance import read_passphrase


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("gateway", help="gateway (security server)")
    s = p.add_subparsers(dest="gateway_command", metavar="ACTION", required=True)
    reg = s.add_parser("register", help="ask the registry to register this gateway")
    reg.add_argument("--server", required=True, help="INSTANCE/CLASS/MEMBER/SERVERCODE")
    reg.add_argument("--address", required=True, help="host:port other gateways connect to")
    reg.add_argument("--auth-key", required=True, metavar="FILE")
    reg.add_argument("--auth-cert", required=True, metavar="FILE")
    _owner_args(reg)
    reg.set_defaults(func=run_register)
    cli = s.add_parser("add-client", help="ask the registry to host a subsystem on this gateway")
    cli.add_argument("--server", required=True, help="INSTANCE/CLASS/MEMBER/SERVERCODE")
    cli.add_argument("--client", required=True, help="INSTANCE/CLASS/MEMBER/SUBSYSTEM")
    cli.add_argument("--client-sign-key", metavar="FILE",
                     help="the client member's sign key, when it is not the owner")
    cli.add_argument("--client-sign-cert", metavar="FILE")
    _owner_args(cli)
    cli.set_defaults(func=run_add_client)

    init = s.add_parser("init", help="create a gateway folder (settings, anchor, keys)")
    init.add_argument("dir", metavar="DIR")
    init.add_argument("--server", required=True, help="INSTANCE/CLASS/MEMBER/SERVERCODE")
    init.add_argument("--anchor", required=True, metavar="FILE",
                      help="the instance's anchor.json")
    init.add_argument("--auth-key", required=True, metavar="FILE")
    init.add_argument("--auth-cert", required=True, metavar="FILE")
    init.add_argument("--sign-key", required=True, metavar="FILE",
                      help="the owner member's sign key")
    init.add_argument("--sign-cert", required=True, metavar="FILE")
    init.add_argument("--is-listen", default="127.0.0.1:8080",
                      help="IS-facing host:port (default 127.0.0.1:8080)")
    init.add_argument("--peer-listen", default="127.0.0.1:5500",
                      help="inter-gateway mutual-TLS host:port (default 127.0.0.1:5500)")
    init.add_argument("--admin-listen", default="127.0.0.1:5566",
                      help="admin API host:port (default 127.0.0.1:5566)")
    init.add_argument("--database", metavar="URL", help="default: SQLite in DIR")
    add_passphrase_arg(init)
    init.set_defaults(func=run_init)

    sk = s.add_parser("add-sign-key", help="install another hosted member's sign key")
    sk.add_argument("--dir", required=True, metavar="DIR")
    sk.add_argument("--key", required=True, metavar="FILE")
    sk.add_argument("--cert", required=True, metavar="FILE")
    add_passphrase_arg(sk)
    sk.set_defaults(func=run_add_sign_key)

    serve = s.add_parser("serve", help="run the gateway (IS, inter-gateway and admin ports)")
    serve.add_argument("--dir", required=True, metavar="DIR")
    serve.add_argument("--processes", type=int, default=None, metavar="N",
                       help="processes sharing the IS and peer ports (SO_REUSEPORT), "
                            "restarted when one dies; the first also serves the admin "
                            "port (default: [gateway] processes in gateway.toml, 1)")
    add_passphrase_arg(serve)
    serve.set_defaults(func=run_serve)
    isc = s.add_parser("is-client", help="IS certificates for an HTTPS IS port (is_tls)")
    iss = isc.add_subparsers(dest="is_client_command", metavar="ACTION", required=True)
    add = iss.add_parser("add", help="register an information system's certificate")
    add.add_argument("client", help="INSTANCE/CLASS/MEMBER[/SUBSYSTEM]")
    add.add_argument("certificate", metavar="PEM")
    add.add_argument("--dir", required=True, metavar="DIR")
    add.set_defaults(func=run_is_client_add)
    ls = iss.add_parser("list", help="registered IS certificates")
    ls.add_argument("--dir", required=True, metavar="DIR")
    ls.set_defaults(func=run_is_client_list)
    rm = iss.add_parser("remove", help="remove an IS certificate")
    rm.add_argument("client")
    rm.add_argument("fingerprint")
    rm.add_argument("--dir", required=True, metavar="DIR")
    rm.set_defaults(func=run_is_client_remove)
    gateway_services.add_subcommands(s)
    gateway_log.add_subcommands(s)


def _owner_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sign-key", required=True, metavar="FILE", help="the owner's sign key")
    p.add_argument("--sign-cert", required=True, metavar="FILE", help="the owner's sign cert")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--registry", metavar="URL", help="registry base URL, e.g. "
                        "http://127.0.0.1:4000")
    target.add_argument("--out", metavar="FILE", help="write the signed request to a file")
    add_passphrase_arg(p)


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise ConfigurationError(f"cannot read {path}: {e.strerror}") from e


async def _post(url: str, body: bytes) -> dict[str, Any]:
    import aiohttp

    from sild.web.neterrors import describe_network_error

    timeout = aiohttp.ClientTimeout(total=30)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session, session.post(
            url.rstrip("/") + "/requests", data=body,
            headers={"Content-Type": "application/json"},
        ) as resp:
            text = await resp.text()
            try:
                data: dict[str, Any] = json.loads(text)
            except ValueError:
                data = {"message": text[:200]}
            if resp.status != 202:
                raise InvalidRequest(
                    f"registry refused the request: {data.get('type', resp.status)}: "
                    f"{data.get('message', '')}")
            return data
    except (aiohttp.ClientError, TimeoutError) as e:
        raise TransportError(
            f"cannot reach the registry at {url}: {describe_network_error(e)}") from e


def _deliver(args: argparse.Namespace, body: bytes) -> int:
    import asyncio

    if args.out:
        write_out(Path(args.out), body)
        console.print(f"wrote signed request to {args.out}")
        return 0
    data = asyncio.run(_post(args.registry, body))
    console.print(f"request {data['id']} submitted ({data['state']}); an administrator "
                  f"approves it with `sild registry approve {data['id']}`")
    return 0


def run_register(args: argparse.Namespace) -> int:
    from sild.crypto.certs import load_certificate
    from sild.crypto.keys import load_private_key
    from sild.registry.requests import build_gateway_request

    if args.out:
        check_out(Path(args.out))
    pw = read_passphrase(args.passphrase_file)
    body = build_gateway_request(
        server=ServerId.parse(args.server), address=args.address,
        auth_certificate=load_certificate(_read(args.auth_cert)),
        auth_key=load_private_key(Path(args.auth_key), passphrase=pw),
        owner_certificate=load_certificate(_read(args.sign_cert)),
        owner_key=load_private_key(Path(args.sign_key), passphrase=pw),
        at=utc_now(),
    )
    return _deliver(args, body)


def run_add_client(args: argparse.Namespace) -> int:
    from sild.crypto.certs import load_certificate
    from sild.crypto.keys import load_private_key
    from sild.registry.requests import build_client_request

    if args.out:
        check_out(Path(args.out))
    pw = read_passphrase(args.passphrase_file)
    if bool(args.client_sign_key) != bool(args.client_sign_cert):
        raise ConfigurationError("give both --client-sign-key and --client-sign-cert, or neither")
    body = build_client_request(
        server=ServerId.parse(args.server), client=SubsystemId.parse(args.client),
        owner_certificate=load_certificate(_read(args.sign_cert)),
        owner_key=load_private_key(Path(args.sign_key), passphrase=pw),
        client_certificate=(load_certificate(_read(args.client_sign_cert))
                            if args.client_sign_cert else None),
        client_key=(load_private_key(Path(args.client_sign_key), passphrase=pw)
                    if args.client_sign_key else None),
        at=utc_now(),
    )
    return _deliver(args, body)


def run_init(args: argparse.Namespace) -> int:
    from sild.gateway.service import init_gateway

    settings = init_gateway(
        Path(args.dir), server=ServerId.parse(args.server), anchor=Path(args.anchor),
        auth_key=Path(args.auth_key), auth_cert=Path(args.auth_cert),
        sign_key=Path(args.sign_key), sign_cert=Path(args.sign_cert),
        database_url=args.database, is_listen=args.is_listen, peer_listen=args.peer_listen,
        admin_listen=args.admin_listen, passphrase=read_passphrase(args.passphrase_file))
    sild = sild_command()
    console.print(f"gateway {settings.server} created in {settings.root}\n"
                  f"  next: {sild} gateway service add … --dir {args.dir}, then "
                  f"{sild} gateway serve --dir {args.dir}")
    return 0


def run_add_sign_key(args: argparse.Namespace) -> int:
    from sild.gateway.config import GatewaySettings
    from sild.gateway.service import add_sign_key

    member = add_sign_key(GatewaySettings.load(Path(args.dir)), Path(args.key), Path(args.cert),
                          passphrase=read_passphrase(args.passphrase_file))
    console.print(f"sign key of {member} installed")
    return 0


def run_serve(args: argparse.Namespace) -> int:
    import uvloop

    from sild.gateway.config import MAX_PROCESSES, GatewaySettings
    from sild.gateway.processes import run_processes
    from sild.gateway.service import serve_gateway
    from sild.web.heap import settle_after_start

    if args.processes is not None and not 1 <= args.processes <= MAX_PROCESSES:
        raise InvalidRequest(f"--processes must be between 1 and {MAX_PROCESSES}")
    settings = GatewaySettings.load(Path(args.dir))
    count = settings.processes if args.processes is None else args.processes
    passphrase = read_passphrase(args.passphrase_file)
    console.print(f"gateway {settings.server}: IS http://{settings.is_listen}, "
                  f"peers https://{settings.peer_listen}, admin http://{settings.admin_listen}"
                  + (f", {count} processes" if count > 1 else ""))

    def serve(process: int) -> None:
        uvloop.run(serve_gateway(settings, passphrase=passphrase, process=process,
                                 processes=count, started=settle_after_start))

    if count == 1:
        serve(0)
        return 0
    from sild.gateway.stores import migrate_all

    migrate_all(settings)  # once, before the processes start together
    return run_processes(count, serve)


def run_is_client_add(args: argparse.Namespace) -> int:
    from sild.core.identifiers import parse_client
    from sild.crypto.certs import load_certificate
    from sild.gateway.config import GatewaySettings
    from sild.gateway.serverconf.is_clients import add_is_client

    settings = GatewaySettings.load(Path(args.dir))
    fp = add_is_client(settings.is_clients_dir, parse_client(args.client),
                       load_certificate(_read(args.certificate)))
    note = "" if settings.is_tls else " (is_tls is false in gateway.toml: not used until set)"
    console.print(f"IS certificate {fp} registered for {args.client}{note}; "
                  "restart the gateway to apply")
    return 0


def run_is_client_list(args: argparse.Namespace) -> int:
    from sild.cli._common import table
    from sild.gateway.config import GatewaySettings
    from sild.gateway.serverconf.is_clients import load_is_clients

    clients, _ = load_is_clients(GatewaySettings.load(Path(args.dir)).is_clients_dir)
    table("IS certificates", ["client", "sha256"],
          ((str(c), fp) for c, fps in sorted(clients.items(), key=lambda kv: str(kv[0]))
           for fp in sorted(fps)))
    return 0


def run_is_client_remove(args: argparse.Namespace) -> int:
    from sild.core.identifiers import parse_client
    from sild.gateway.config import GatewaySettings
    from sild.gateway.serverconf.is_clients import remove_is_client

    remove_is_client(GatewaySettings.load(Path(args.dir)).is_clients_dir,
                     parse_client(args.client), args.fingerprint)
    console.print(f"IS certificate {args.fingerprint} removed for {args.client}")
    return 0
