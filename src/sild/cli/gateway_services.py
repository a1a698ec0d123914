"""``sild gateway service …`` and ``sild gateway local-group …`` (docs/spec/access.md §6).

The provider's side of X-Road's UG-SS §6-8: services of hosted subsystems, their
endpoints, access rights and local groups. A running gateway sees a change within
its cache TTL (docs/spec/access.md §5).

Subjects of ``grant``/``revoke``: a client id (``EE/COM/123/app`` or a member
``EE/COM/123``), a global group ``group:INSTANCE/CODE``, a local group ``local:CODE``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sild.cli._common import _engines, console, table
from sild.core.access import Endpoint, parse_subject
from sild.core.identifiers import ServiceId, SubsystemId, parse_client
from sild.errors import ConfigurationError
from sild.gateway.config import GatewaySettings

if TYPE_CHECKING:
    from sild.gateway.serverconf.store import ServerConf

# sild.gateway.serverconf.DEFAULT_TIMEOUT, spelled out so that building the parser does
# not import the database layer (tests/unit/cli/test_startup.py checks they agree).
DEFAULT_TIMEOUT = 30

__all__ = ["add_subcommands"]

_SUBJECT_HELP = "client id, group:INSTANCE/CODE (global group) or local:CODE (local group)"


def add_subcommands(s: Any) -> None:
    """Add ``service`` and ``local-group`` to the `sild gateway` sub-parser group ``s``."""
    p: argparse.ArgumentParser = s.add_parser(
        "service", help="services, endpoints and access rights of hosted subsystems")
    a = p.add_subparsers(dest="service_command", metavar="ACTION", required=True)

    add = a.add_parser("add", help="add a REST service, or the SOAP services of a WSDL")
    _dir_arg(add)
    add.add_argument("subsystem", metavar="SUBSYSTEM_ID")
    add.add_argument("code", metavar="CODE", nargs="?", help="service code (not with --wsdl)")
    add.add_argument("url", metavar="URL", nargs="?",
                     help="the provider IS base URL (http or https; not with --wsdl)")
    add.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT, metavar="S",
                     help=f"seconds to wait for the IS (default {DEFAULT_TIMEOUT})")
    add.add_argument("--no-verify-tls", action="store_true",
                     help="do NOT verify the IS's TLS certificate (logged on every use)")
    add.add_argument("--openapi", metavar="FILE",
                     help="OpenAPI 3 description (JSON or YAML); its operations become endpoints")
    add.add_argument("--wsdl", metavar="URL|FILE",
                     help="WSDL 1.1 (document/literal); each operation becomes a SOAP service")
    add.add_argument("--url", dest="wsdl_url", metavar="URL",
                     help="with --wsdl: the IS URL, instead of the WSDL's soap:address")
    add.set_defaults(func=run_add)

    ls = a.add_parser("list", help="list services with their endpoints and access rights")
    _dir_arg(ls)
    ls.add_argument("subsystem", metavar="SUBSYSTEM_ID", nargs="?")
    ls.set_defaults(func=run_list)

    rm = a.add_parser("remove", help="remove a service and its access rights")
    _dir_arg(rm)
    rm.add_argument("service", metavar="SERVICE_ID")
    rm.set_defaults(func=run_remove)

    dis = a.add_parser("disable", help="refuse calls with ServiceDisabled and a notice")
    _dir_arg(dis)
    dis.add_argument("service", metavar="SERVICE_ID")
    dis.add_argument("--notice", default="", help="text clients see in the error")
    dis.set_defaults(func=run_disable)

    ena = a.add_parser("enable", help="accept calls again")
    _dir_arg(ena)
    ena.add_argument("service", metavar="SERVICE_ID")
    ena.set_defaults(func=run_enable)

    pd = a.add_parser("personal", help="declare that a service carries personal data "
                                       "(data tracker: subjects, purpose, usage records)")
    _dir_arg(pd)
    pd.add_argument("service", metavar="SERVICE_ID")
    pd.add_argument("--category", action="append", default=[], metavar="CODE",
                    help="data category (health, population, tax, …); repeatable")
    pd.add_argument("--bulk", action="store_true",
                    help="bulk service: no per-person records (batches of >100 persons)")
    pd.add_argument("--max-subjects", type=int, default=100, metavar="N",
                    help="most data subjects per request (default 100)")
    pd.add_argument("--legal-basis", default="", metavar="TEXT",
                    help="the law that allows the processing, shown in usage records")
    pd.add_argument("--none", action="store_true",
                    help="the service carries no personal data (undo the declaration)")
    pd.set_defaults(func=run_personal)

    ep = a.add_parser("endpoint-add", help="add an endpoint (method + path, * wildcards)")
    _dir_arg(ep)
    ep.add_argument("service", metavar="SERVICE_ID")
    ep.add_argument("method", metavar="METHOD", help="GET, POST, … or *")
    ep.add_argument("path", metavar="PATH", help="e.g. /pets/* ('*' = one segment, '**' = any)")
    ep.set_defaults(func=run_endpoint_add)

    for name, func, verb in (("grant", run_grant, "allow"), ("revoke", run_revoke, "remove")):
        g = a.add_parser(name, help=f"{verb} access to a service or one endpoint")
        _dir_arg(g)
        g.add_argument("service", metavar="SERVICE_ID")
        g.add_argument("subject", metavar="SUBJECT", help=_SUBJECT_HELP)
        g.add_argument("--endpoint", metavar='"METHOD /path"',
                       help="one defined endpoint instead of the whole service")
        g.set_defaults(func=func)

    lg: argparse.ArgumentParser = s.add_parser("local-group", help="local access-right groups")
    b = lg.add_subparsers(dest="local_group_command", metavar="ACTION", required=True)
    lga = b.add_parser("add", help="create a local group of a subsystem")
    _dir_arg(lga)
    lga.add_argument("subsystem", metavar="SUBSYSTEM_ID")
    lga.add_argument("code", metavar="CODE")
    lga.add_argument("--description", default="")
    lga.set_defaults(func=run_group_add)
    lgm = b.add_parser("add-member", help="add a client to a local group")
    _dir_arg(lgm)
    lgm.add_argument("subsystem", metavar="SUBSYSTEM_ID")
    lgm.add_argument("code", metavar="CODE")
    lgm.add_argument("client", metavar="CLIENT_ID")
    lgm.set_defaults(func=run_group_add_member)
    lgl = b.add_parser("list", help="list local groups and their members")
    _dir_arg(lgl)
    lgl.add_argument("subsystem", metavar="SUBSYSTEM_ID", nargs="?")
    lgl.set_defaults(func=run_group_list)


def _dir_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", required=True, metavar="GWDIR", help="the gateway's folder")


def _open(args: argparse.Namespace) -> ServerConf:
    from sild.gateway.serverconf.store import ServerConf
    from sild.store import make_engine, migrate

    settings = GatewaySettings.load(Path(args.dir))
    engine = make_engine(settings.database_url)
    _engines.append(engine)  # disposed by the CLI root when the command ends
    migrate(engine, "serverconf")
    return ServerConf(engine)


def _endpoint(text: str | None) -> Endpoint | None:
    return None if text is None else Endpoint.parse(text)


def run_add(args: argparse.Namespace) -> int:
    if args.wsdl is not None:
        return run_add_wsdl(args)
    if args.code is None or args.url is None:
        raise ConfigurationError("give CODE and URL (or --wsdl URL|FILE)")
    if args.wsdl_url is not None:
        raise ConfigurationError("--url goes with --wsdl; give the REST service's URL as URL")
    openapi: bytes | None = None
    if args.openapi:
        try:
            openapi = Path(args.openapi).read_bytes()
        except OSError as e:
            raise ConfigurationError(f"cannot read {args.openapi}: {e.strerror}") from e
    desc = _open(args).add_service(
        SubsystemId.parse(args.subsystem), args.code, args.url, timeout=args.timeout,
        verify_tls=not args.no_verify_tls, openapi=openapi)
    console.print(f"added service {desc.id} → {desc.url} "
                  f"({len(desc.endpoints)} endpoints, timeout {desc.timeout} s)")
    if not desc.verify_tls:
        console.print("warning: the IS's TLS certificate will NOT be verified for this service")
    console.print("no client may call it yet: grant access with `sild gateway service grant`")
    return 0


def run_add_wsdl(args: argparse.Namespace) -> int:
    """``service add SUBSYSTEM --wsdl URL|FILE [--url URL]`` (docs/spec/wsdl.md §4)."""
    from sild.soap.wsdl_source import read_wsdl

    if args.code is not None or args.url is not None:
        raise ConfigurationError("with --wsdl, give no CODE or URL: the WSDL's operations are "
                                 "the service codes (use --url to override its address)")
    if args.openapi:
        raise ConfigurationError("--wsdl and --openapi exclude each other")
    sub = SubsystemId.parse(args.subsystem)
    raw = read_wsdl(args.wsdl)
    added = _open(args).add_wsdl(sub, raw, source=args.wsdl, url=args.wsdl_url,
                                 timeout=args.timeout, verify_tls=not args.no_verify_tls)
    url = added[0].url
    console.print(f"added {len(added)} SOAP services from {args.wsdl} → {url} "
                  f"(timeout {added[0].timeout} s):", markup=False)
    for d in added:
        version = f" (version {d.service_version})" if d.service_version else ""
        console.print(f"  {d.id}{version}", markup=False)
    if not added[0].verify_tls:
        console.print("warning: the IS's TLS certificate will NOT be verified for these services")
    console.print("no client may call them yet: grant access per operation with "
                  "`sild gateway service grant`")
    return 0


def run_list(args: argparse.Namespace) -> int:
    sc = _open(args)
    sub = SubsystemId.parse(args.subsystem) if args.subsystem else None
    rows = []
    for d in sc.services(sub):
        rights = [f"{r.subject.object_type.lower()} {r.subject}"
                  + (f" [{r.endpoint}]" if r.endpoint else "") for r in sc.access_rights(d.id)]
        state = f"disabled: {d.disabled_notice}" if d.disabled else "enabled"
        version = f" (version {d.service_version})" if d.service_version else ""
        rows.append((str(d.id) + version, d.url, f"{d.timeout} s",
                     "verify" if d.verify_tls else "NO VERIFY",
                     d.service_type, state, "\n".join(str(e) for e in d.endpoints),
                     "\n".join(rights)))
    table("Services", ["Service", "URL", "Timeout", "TLS", "Type", "State", "Endpoints",
                       "Access rights"], rows)
    return 0


def run_remove(args: argparse.Namespace) -> int:
    service = ServiceId.parse(args.service)
    _open(args).remove_service(service)
    console.print(f"removed service {service}")
    return 0


def run_disable(args: argparse.Namespace) -> int:
    service = ServiceId.parse(args.service)
    _open(args).set_disabled(service, True, notice=args.notice)
    console.print(f"disabled {service}")
    return 0


def run_enable(args: argparse.Namespace) -> int:
    service = ServiceId.parse(args.service)
    _open(args).set_disabled(service, False)
    console.print(f"enabled {service}")
    return 0


def run_endpoint_add(args: argparse.Namespace) -> int:
    service, endpoint = ServiceId.parse(args.service), Endpoint(args.method, args.path)
    _open(args).add_endpoint(service, endpoint)
    console.print(f"added endpoint {endpoint} to {service}")
    return 0


def run_personal(args: argparse.Namespace) -> int:
    from sild.errors import InvalidRequest
    from sild.gateway.serverconf.store import PersonalData

    service = ServiceId.parse(args.service)
    if args.none:
        if args.category or args.bulk:
            raise InvalidRequest("--none takes no --category or --bulk")
        _open(args).declare_personal_data(service, None)
        console.print(f"{service} no longer carries personal data", markup=False)
        return 0
    if not args.category:
        raise InvalidRequest("give at least one --category (health, population, …) or --none")
    data = PersonalData(categories=tuple(args.category), bulk=args.bulk,
                        max_subjects=args.max_subjects, legal_basis=args.legal_basis)
    _open(args).declare_personal_data(service, data)
    console.print(f"{service} carries personal data ({', '.join(sorted(set(args.category)))})"
                  + (": bulk, no per-person records" if args.bulk else
                     ": requests must name Sild-Data-Subject and Sild-Purpose"), markup=False)
    return 0


def run_grant(args: argparse.Namespace) -> int:
    service, subject = ServiceId.parse(args.service), parse_subject(args.subject)
    endpoint = _endpoint(args.endpoint)
    _open(args).grant(service, subject, endpoint)
    console.print(f"granted {subject} access to {service} ({endpoint or 'whole service'})")
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    service, subject = ServiceId.parse(args.service), parse_subject(args.subject)
    endpoint = _endpoint(args.endpoint)
    _open(args).revoke(service, subject, endpoint)
    console.print(f"revoked {subject}'s access to {service} ({endpoint or 'whole service'})")
    return 0


def run_group_add(args: argparse.Namespace) -> int:
    sub = SubsystemId.parse(args.subsystem)
    _open(args).add_local_group(sub, args.code, args.description)
    console.print(f"added local group {args.code} of {sub}")
    return 0


def run_group_add_member(args: argparse.Namespace) -> int:
    sub, client = SubsystemId.parse(args.subsystem), parse_client(args.client)
    _open(args).add_local_group_member(sub, args.code, client)
    console.print(f"added {client} to local group {args.code} of {sub}")
    return 0


def run_group_list(args: argparse.Namespace) -> int:
    sub = SubsystemId.parse(args.subsystem) if args.subsystem else None
    groups = _open(args).local_groups(sub)
    table("Local groups", ["Subsystem", "Code", "Description", "Members"],
          [(str(g.subsystem), g.code, g.description, "\n".join(str(m) for m in g.members))
           for g in groups])
    return 0
