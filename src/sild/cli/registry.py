"""``sild registry``: run the registry and administer members, gateways and requests."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sild.cli._common import (
    add_dir_arg,
    add_passphrase_arg,
    console,
    instance_of,
    open_registry,
    table,
)
from sild.clock import utc_now
from sild.core.identifiers import GlobalGroupId, MemberId, SubsystemId, parse_client
from sild.errors import ConfigurationError
from sild.instance import parse_listen, read_passphrase
from sild.registry.workflow import Action, State

if TYPE_CHECKING:
    from sild.registry.service import RequestRow


def _cmd(s: Any, name: str, help_: str, func: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = s.add_parser(name, help=help_)
    add_dir_arg(p)
    p.set_defaults(func=func)
    return p


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("registry", help="the registry (central server)")
    s = p.add_subparsers(dest="registry_command", metavar="ACTION", required=True)

    serve = _cmd(s, "serve", "serve global configuration, registrations and the admin API",
                 run_serve)
    serve.add_argument("--listen", help="host:port (default from instance.toml)")
    add_passphrase_arg(serve)

    member = s.add_parser("member", help="members").add_subparsers(
        dest="member_command", metavar="ACTION", required=True)
    add = _cmd(member, "add", "register a member", run_member_add)
    add.add_argument("id", help="INSTANCE/CLASS/CODE")
    add.add_argument("--name", required=True, help="1-255 characters")
    medit = _cmd(member, "edit", "rename a member", run_member_edit)
    medit.add_argument("id", help="INSTANCE/CLASS/CODE")
    medit.add_argument("--name", required=True, help="1-255 characters")
    mrm = _cmd(member, "remove", "remove a member and its group memberships", run_member_remove)
    mrm.add_argument("id", help="INSTANCE/CLASS/CODE")
    mrm.add_argument("--cascade", action="store_true",
                     help="also remove its subsystems, its gateways and their hostings "
                          "(without it, a member that has any is refused)")
    _cmd(member, "list", "list members and their subsystems", run_member_list)

    subsystem = s.add_parser("subsystem", help="subsystems").add_subparsers(
        dest="subsystem_command", metavar="ACTION", required=True)
    sadd = _cmd(subsystem, "add", "register a subsystem of a member", run_subsystem_add)
    sadd.add_argument("id", help="INSTANCE/CLASS/CODE/SUBSYSTEM")
    srm = _cmd(subsystem, "remove", "remove a subsystem and its group memberships",
               run_subsystem_remove)
    srm.add_argument("id", help="INSTANCE/CLASS/CODE/SUBSYSTEM")
    srm.add_argument("--cascade", action="store_true",
                     help="also end its hosting on gateways (without it, a hosted "
                          "subsystem is refused)")

    _cmd(s, "gateways", "list registered gateways", run_gateways)

    req = _cmd(s, "requests", "list registration requests", run_requests)
    req.add_argument("--state", choices=[st.value for st in State])
    approve = _cmd(s, "approve", "approve a registration request", run_approve)
    approve.add_argument("request_id", type=int)
    reject = _cmd(s, "reject", "reject a registration request", run_reject)
    reject.add_argument("request_id", type=int)
    reject.add_argument("--reason", default="")

    group = s.add_parser("group", help="global groups").add_subparsers(
        dest="group_command", metavar="ACTION", required=True)
    gadd = _cmd(group, "add", "create a global group", run_group_add)
    gadd.add_argument("id", help="INSTANCE/GROUPCODE")
    gadd.add_argument("--description", default=None,
                      help="1-1024 characters (default: the group code)")
    gedit = _cmd(group, "edit", "change a group's description", run_group_edit)
    gedit.add_argument("id", help="INSTANCE/GROUPCODE")
    gedit.add_argument("--description", required=True, help="1-1024 characters")
    grem = _cmd(group, "remove", "remove a global group and its memberships", run_group_delete)
    grem.add_argument("id", help="INSTANCE/GROUPCODE")
    gmem = _cmd(group, "add-member", "add a member or subsystem to a group", run_group_member)
    gmem.add_argument("id")
    gmem.add_argument("client")
    grm = _cmd(group, "remove-member", "remove a member or subsystem", run_group_remove)
    grm.add_argument("id")
    grm.add_argument("client")
    _cmd(group, "list", "list global groups", run_group_list)

    purpose = s.add_parser("purpose", help="registered purposes of processing personal data "
                                           "(Sild-Purpose codes)").add_subparsers(
        dest="purpose_command", metavar="ACTION", required=True)
    padd = _cmd(purpose, "add", "register a purpose", run_purpose_add)
    padd.add_argument("code", help="what Sild-Purpose names, 1-64 characters")
    padd.add_argument("text", help="what the person sees in findUsage, 1-200 characters")
    prem = _cmd(purpose, "remove", "remove a purpose", run_purpose_remove)
    prem.add_argument("code")
    _cmd(purpose, "list", "list registered purposes", run_purpose_list)

    ca = s.add_parser("ca", help="approved certification authorities").add_subparsers(
        dest="regca_command", metavar="ACTION", required=True)
    cadd = _cmd(ca, "add", "approve another CA's root certificate", run_ca_add)
    cadd.add_argument("certificate", metavar="PEM")
    cadd.add_argument("--name", required=True)

    keys = s.add_parser("keys", help="configuration-signing keys").add_subparsers(
        dest="regkeys_command", metavar="ACTION", required=True)
    _cmd(keys, "list", "list configuration keys", run_keys_list)
    rot = _cmd(keys, "add", "add a new signing key (rotation step 1); rewrites anchor.json",
               run_keys_add)
    add_passphrase_arg(rot)
    ret = _cmd(keys, "retire", "stop signing with a key (rotation step 2)", run_keys_retire)
    ret.add_argument("key_id")

    _cmd(s, "anchor", "rewrite anchor.json from the active keys", run_anchor)
    _cmd(s, "status", "configuration version and pending requests", run_status)


def run_serve(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    import uvloop

    from sild.cli import err_console
    from sild.core.anchor import parse_anchor
    from sild.embedded import start_embedded
    from sild.errors import GlobalConfError
    from sild.registry.api import create_app
    from sild.registry.publisher import Publisher

    inst = instance_of(args)
    host, port = parse_listen(args.listen or inst.registry_listen)
    registry = open_registry(inst)
    try:
        anchor = parse_anchor(inst.anchor_path.read_bytes())
    except OSError as e:
        raise ConfigurationError(f"cannot read {inst.anchor_path}: {e.strerror}; "
                                 f"rewrite it with `sild registry anchor`") from e
    publisher = Publisher(registry, inst.config_keys_dir, anchor=anchor,
                          expire_after=timedelta(seconds=inst.expire_seconds),
                          refresh_interval=inst.refresh_interval,
                          passphrase=read_passphrase(args.passphrase_file))
    try:
        publisher.current()  # fail now, not at the first request, if a key cannot be read
    except GlobalConfError as e:  # bad data: start anyway, so the admin API can fix it
        err_console.print(f"sild: warning: {e}; serving no configuration until that is "
                          f"fixed (GET /healthz says why)", markup=False)
    app = create_app(registry, publisher, inst.admin_token())

    async def serve() -> None:
        # Handlers before the port answers (a signal in between killed it, or read as
        # Ctrl-C during start-up).
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        server, task = await start_embedded(app, host, port)
        console.print(f"registry for {inst.instance_id} on http://{host}:{port} "
                      f"(global configuration at /globalconf, admin API docs at /docs)")
        await asyncio.wait([asyncio.ensure_future(stop.wait()), task],
                           return_when=asyncio.FIRST_COMPLETED)
        server.should_exit = True
        await task

    uvloop.run(serve())
    return 0


def run_member_add(args: argparse.Namespace) -> int:
    registry = open_registry(instance_of(args))
    registry.add_member(MemberId.parse(args.id), args.name)
    console.print(f"member {args.id} registered; configuration version {registry.version()}")
    return 0


def run_member_list(args: argparse.Namespace) -> int:
    registry = open_registry(instance_of(args))
    table("Members", ["id", "name", "subsystems"],
          ((m, n, ", ".join(s)) for m, n, s in registry.members()))
    return 0


@contextmanager
def _named_by_operator() -> Iterator[None]:
    """A record the operator named that does not exist is bad input (exit 2), not a
    fault of this machine (NotFound is a LocalError, exit 1)."""
    from sild.errors import InvalidRequest, NotFound

    try:
        yield
    except NotFound as e:
        raise InvalidRequest(e.message) from e


def _removed(what: str, removal: Any, version: int) -> str:
    extra = removal.summary()
    return (f"{what} removed{f' (with {extra})' if extra else ''}; "
            f"configuration version {version}")


def run_member_edit(args: argparse.Namespace) -> int:
    registry = open_registry(instance_of(args))
    with _named_by_operator():
        registry.edit_member(MemberId.parse(args.id), args.name)
    console.print(f"member {args.id} renamed; configuration version {registry.version()}")
    return 0


def run_member_remove(args: argparse.Namespace) -> int:
    registry = open_registry(instance_of(args))
    with _named_by_operator():
        removal = registry.remove_member(MemberId.parse(args.id), cascade=args.cascade)
    console.print(_removed(f"member {args.id}", removal, registry.version()))
    return 0


def run_subsystem_remove(args: argparse.Namespace) -> int:
    registry = open_registry(instance_of(args))
    with _named_by_operator():
        removal = registry.remove_subsystem(SubsystemId.parse(args.id), cascade=args.cascade)
    console.print(_removed(f"subsystem {args.id}", removal, registry.version()))
    return 0


def run_subsystem_add(args: argparse.Namespace) -> int:
    registry = open_registry(instance_of(args))
    registry.add_subsystem(SubsystemId.parse(args.id))
    console.print(f"subsystem {args.id} registered; configuration version {registry.version()}")
    return 0


def run_gateways(args: argparse.Namespace) -> int:
    registry = open_registry(instance_of(args))
    table("Gateways", ["id", "address", "auth certificate (sha256)", "clients"],
          ((g.id, g.address, g.auth_fingerprint[:16] + "…", ", ".join(g.clients))
           for g in registry.gateways()))
    return 0


def _print_requests(rows: list[RequestRow]) -> None:
    table("Registration requests", ["id", "kind", "server", "client", "address", "state",
                                    "submitted"],
          ((r.id, r.kind, r.server_id, r.client_id, r.address, r.state,
            f"{r.submitted_at:%Y-%m-%d %H:%M:%S}") for r in rows))


def run_requests(args: argparse.Namespace) -> int:
    registry = open_registry(instance_of(args))
    _print_requests(registry.requests(State(args.state) if args.state else None))
    return 0


def run_approve(args: argparse.Namespace) -> int:
    registry = open_registry(instance_of(args))
    row = registry.decide(args.request_id, Action.APPROVE)
    console.print(f"request {row.id} approved ({row.kind} {row.client_id or row.server_id}); "
                  f"configuration version {registry.version()}")
    return 0


def run_reject(args: argparse.Namespace) -> int:
    registry = open_registry(instance_of(args))
    row = registry.decide(args.request_id, Action.REJECT, reason=args.reason)
    console.print(f"request {row.id} rejected")
    return 0


def run_group_add(args: argparse.Namespace) -> int:
    registry = open_registry(instance_of(args))
    registry.add_group(GlobalGroupId.parse(args.id), args.description)
    console.print(f"global group {args.id} created; configuration version {registry.version()}")
    return 0


def run_group_edit(args: argparse.Namespace) -> int:
    registry = open_registry(instance_of(args))
    with _named_by_operator():
        registry.edit_group(GlobalGroupId.parse(args.id), args.description)
    console.print(f"global group {args.id} changed; configuration version {registry.version()}")
    return 0


def run_group_delete(args: argparse.Namespace) -> int:
    registry = open_registry(instance_of(args))
    with _named_by_operator():
        removal = registry.remove_group(GlobalGroupId.parse(args.id))
    console.print(_removed(f"global group {args.id}", removal, registry.version()))
    return 0


def run_group_member(args: argparse.Namespace) -> int:
    registry = open_registry(instance_of(args))
    with _named_by_operator():
        registry.group_add(GlobalGroupId.parse(args.id), parse_client(args.client))
    console.print(f"{args.client} added to {args.id}")
    return 0


def run_group_remove(args: argparse.Namespace) -> int:
    registry = open_registry(instance_of(args))
    with _named_by_operator():
        registry.group_remove(GlobalGroupId.parse(args.id), parse_client(args.client))
    console.print(f"{args.client} removed from {args.id}")
    return 0


def run_group_list(args: argparse.Namespace) -> int:
    registry = open_registry(instance_of(args))
    table("Global groups", ["id", "description", "members"],
          ((g, d, ", ".join(m)) for g, d, m in registry.groups()))
    return 0


def run_ca_add(args: argparse.Namespace) -> int:
    from sild.crypto.certs import load_certificate

    registry = open_registry(instance_of(args))
    try:
        data = Path(args.certificate).read_bytes()
    except OSError as e:
        raise ConfigurationError(f"cannot read {args.certificate}: {e.strerror}") from e
    fp = registry.add_ca(load_certificate(data), args.name)
    console.print(f"CA {args.name} approved ({fp})")
    return 0


def run_keys_list(args: argparse.Namespace) -> int:
    registry = open_registry(instance_of(args))
    table("Configuration keys", ["key id", "status", "created"],
          ((k, s, f"{c:%Y-%m-%d %H:%M:%S}") for k, s, c in registry.config_keys()))
    return 0


def run_keys_add(args: argparse.Namespace) -> int:
    from sild.bootstrap import new_config_key, write_anchor

    inst = instance_of(args)
    registry = open_registry(inst)
    kid = new_config_key(registry, inst, read_passphrase(args.passphrase_file))
    write_anchor(registry, inst, utc_now())
    console.print(f"added configuration key {kid}; documents are now signed by every active "
                  f"key.\nGateways learn it from the next document; once they all have, "
                  f"retire the old key with `sild registry keys retire KEY_ID`.")
    return 0


def run_keys_retire(args: argparse.Namespace) -> int:
    from sild.bootstrap import write_anchor

    inst = instance_of(args)
    registry = open_registry(inst)
    registry.retire_config_key(args.key_id)
    write_anchor(registry, inst, utc_now())
    console.print(f"retired configuration key {args.key_id}; anchor.json rewritten")
    return 0


def run_anchor(args: argparse.Namespace) -> int:
    from sild.bootstrap import write_anchor

    inst = instance_of(args)
    anchor = write_anchor(open_registry(inst), inst, utc_now())
    console.print(f"wrote {inst.anchor_path} with {len(anchor.keys)} key(s)")
    return 0


def run_status(args: argparse.Namespace) -> int:
    inst = instance_of(args)
    registry = open_registry(inst)
    pending = registry.requests(State.SUBMITTED)
    console.print(f"instance {inst.instance_id}: configuration version {registry.version()}, "
                  f"{len(pending)} pending request(s)")
    return 0


def run_purpose_add(args: argparse.Namespace) -> int:
    registry = open_registry(instance_of(args))
    registry.add_purpose(args.code, args.text)
    console.print(f"purpose {args.code!r} registered; configuration version "
                  f"{registry.version()}", markup=False)
    return 0


def run_purpose_remove(args: argparse.Namespace) -> int:
    registry = open_registry(instance_of(args))
    registry.remove_purpose(args.code)
    console.print(f"purpose {args.code!r} removed", markup=False)
    return 0


def run_purpose_list(args: argparse.Namespace) -> int:
    registry = open_registry(instance_of(args))
    table("Purposes", ["code", "text"], registry.purposes())
    return 0
