"""The enterprise scenario's set-up as the ``sild`` commands that do it by hand.

Pure: from :mod:`.layout` to a list of steps, each a title and its exact command lines
(the same sequence as docs/guide.md §2–§4 and §11: init, registry member add, keys,
ca issue, gateway register / add-client + approve, gateway init, service add,
personal, grant). The scenario performs each step with the library calls these
commands make, and prints the commands as it goes; tests parse every line with the
real ``sild`` argument parser.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from sild.enterprise.layout import (
    COMPANY,
    GATEWAYS,
    HOLDERS,
    INSTANCE,
    PARTNER,
    SERVICES,
    gateway_of,
    subsystem,
)
from sild.localnet import GatewaySpec

__all__ = ["Step", "steps"]

_NAMES = {COMPANY: "Kask & Partners", PARTNER: "Tamm Logistics"}


@dataclass(frozen=True)
class Step:
    title: str
    commands: tuple[str, ...]


def _q(text: object) -> str:
    return shlex.quote(str(text))


def _member_key(spec: GatewaySpec) -> str:
    return f"{spec.member.member_code}-sign"


def steps(sild: str, *, registry: str, ports: dict[str, tuple[str, str, str]],
          systems: dict[str, str]) -> list[Step]:
    """The commands, with ``sild`` as the user runs it; ``ports`` is gateway code →
    (IS, peer, admin) listen addresses; ``systems`` is system → its base URL."""
    inst = INSTANCE.lower()
    out = [Step("A private instance: its own CA, registry keys and database", (
        f"{sild} init {inst} --instance {INSTANCE} --listen {registry.removeprefix('http://')}",
        f"{sild} registry serve --dir {inst} &",
        f"{sild} ledger init ledger --origin {inst}.sild/ledger",
        f"{sild} ledger serve --dir ledger &"))]
    out.append(Step("The two companies as members", tuple(
        f"{sild} registry member add {m} --name {_q(n)} --dir {inst}"
        for m, n in _NAMES.items())))
    signed: set[str] = set()
    request = 0
    for spec in GATEWAYS:
        gw, sign = spec.server_code, _member_key(spec)
        is_, peer, admin = ports[gw]
        lines = [f"{sild} keys new --out {gw}-auth.key",
                 f"{sild} keys csr --key {gw}-auth.key --out {gw}-auth.csr",
                 f"{sild} ca issue --csr {gw}-auth.csr --purpose auth --id {spec.server} "
                 f"--address {peer} --out {gw}-auth.pem --dir {inst}"]
        if sign not in signed:
            signed.add(sign)
            lines += [f"{sild} keys new --out {sign}.key",
                      f"{sild} keys csr --key {sign}.key --out {sign}.csr",
                      f"{sild} ca issue --csr {sign}.csr --purpose sign --id {spec.member} "
                      f"--out {sign}.pem --dir {inst}"]
        lines.append(f"{sild} gateway register --registry {registry} --server {spec.server} "
                     f"--address {peer} --auth-key {gw}-auth.key --auth-cert {gw}-auth.pem "
                     f"--sign-key {sign}.key --sign-cert {sign}.pem")
        request += 1
        lines.append(f"{sild} registry approve {request} --dir {inst}")
        for sub in spec.subsystems:
            lines.append(f"{sild} gateway add-client --registry {registry} --server "
                         f"{spec.server} --client {spec.member}/{sub} "
                         f"--sign-key {sign}.key --sign-cert {sign}.pem")
            request += 1
            lines.append(f"{sild} registry approve {request} --dir {inst}")
        lines.append(f"{sild} gateway init {gw} --server {spec.server} --anchor "
                     f"{inst}/anchor.json --auth-key {gw}-auth.key --auth-cert {gw}-auth.pem "
                     f"--sign-key {sign}.key --sign-cert {sign}.pem --is-listen {is_} "
                     f"--peer-listen {peer} --admin-listen {admin}")
        lines.append(f"{sild} gateway serve --dir {gw} &")
        out.append(Step(f"Gateway {gw} of {spec.name} ({', '.join(spec.subsystems)})",
                        tuple(lines)))
    for s in SERVICES:
        gw = gateway_of(subsystem(s.system)).server_code
        lines = [f"curl -s {systems[s.system]}/openapi.json -o {s.system}.json",
                 f"{sild} gateway service add {subsystem(s.system)} {s.code} "
                 f"{systems[s.system]}/{s.code} --openapi {s.system}.json --dir {gw}"]
        if s.category:
            lines.append(f"{sild} gateway service personal {s.id} --category {s.category} "
                         f"--legal-basis {_q(s.legal_basis)} --dir {gw}")
        lines += [f"{sild} gateway service grant {s.id} {subsystem(c)} --dir {gw}"
                  for c in s.clients]
        what = "personal data, every read recorded" if s.category else "no personal data"
        out.append(Step(f"The {s.system} system's service {s.code} ({what})", tuple(lines)))
    tracker = systems["tracker-" + gateway_of(subsystem(next(iter(HOLDERS)))).server_code]
    lines = [f"curl -s {tracker}/openapi.yaml -o findusage.yaml"]
    for system in HOLDERS:
        gw = gateway_of(subsystem(system)).server_code
        lines += [f"{sild} gateway service add {subsystem(system)} findUsage "
                  f"{systems['tracker-' + gw]} --openapi findusage.yaml --dir {gw}",
                  f"{sild} gateway service grant {subsystem(system)}/findUsage "
                  f"{subsystem('portal')} --dir {gw}"]
    out.append(Step("findUsage for the company portal (who read my data)", tuple(lines)))
    return out
