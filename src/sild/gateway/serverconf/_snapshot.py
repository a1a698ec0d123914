"""The in-memory snapshot behind ``ServerConf`` (docs/spec/access.md §5).

Loaded in one go from the ``serverconf`` tables, tagged with the stored version so
that a reader can tell cheaply whether it is still current.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sild.core.access import AccessRule, Endpoint, LocalGroupId, Subject
from sild.core.identifiers import (
    ClientId,
    GlobalGroupId,
    MemberId,
    ServiceId,
    SubsystemId,
    parse_client,
)
from sild.store import serverconf_tables as t

__all__ = ["PersonalData", "ServiceDescription", "Snapshot", "load_snapshot", "parse_subject",
           "stored_version"]


@dataclass(frozen=True, slots=True)
class PersonalData:
    """A service that carries personal data (docs/spec/tracker.md §1)."""

    categories: tuple[str, ...]
    bulk: bool = False
    max_subjects: int = 100  # Estonia's logging guide: per person up to ~100 persons
    legal_basis: str = ""


@dataclass(frozen=True, slots=True)
class ServiceDescription:
    """One service of a hosted subsystem, as the provider pipeline needs it."""

    id: ServiceId
    url: str
    timeout: int
    verify_tls: bool
    disabled: bool
    disabled_notice: str
    endpoints: tuple[Endpoint, ...]
    has_openapi: bool
    personal_data: PersonalData | None = None
    # A SOAP service from a WSDL (docs/spec/wsdl.md §4): its version, and that it is one.
    service_version: str | None = None
    from_wsdl: bool = False

    @property
    def service_type(self) -> str:
        """``WSDL``, ``OPENAPI`` or ``REST`` (X-Road ``DescriptionType``)."""
        if self.from_wsdl:
            return "WSDL"
        return "OPENAPI" if self.has_openapi else "REST"


@dataclass(frozen=True)
class Snapshot:
    """Everything the hot path reads, loaded at one stored version."""

    version: int
    services: dict[ServiceId, ServiceDescription]
    rules: dict[ServiceId, tuple[AccessRule, ...]]
    local_groups: dict[SubsystemId, dict[str, frozenset[ClientId]]]


def parse_subject(kind: str, text: str) -> Subject:
    """A stored access-right subject (``subject_type``, ``subject_id``) as a value."""
    if kind == "GLOBALGROUP":
        return GlobalGroupId.parse(text)
    if kind == "LOCALGROUP":
        return LocalGroupId(text)
    if kind == "MEMBER":
        return MemberId.parse(text)
    return SubsystemId.parse(text)


def stored_version(conn: Connection) -> int:
    """The change counter (0 before the first change)."""
    v = conn.execute(sa.select(t.sc_state.c.version).where(t.sc_state.c.id == 1)).scalar()
    return int(v or 0)


def load_snapshot(conn: Connection) -> Snapshot:
    version = stored_version(conn)
    s, e, ar = t.sc_services.c, t.sc_endpoints.c, t.sc_access_rights.c
    rows = conn.execute(sa.select(
        s.id, s.subsystem_id, s.service_code, s.url, s.timeout, s.verify_tls, s.disabled,
        s.disabled_notice, s.openapi.is_not(None).label("has_openapi"), s.wsdl_id,
        s.service_version)).all()
    eps: dict[int, list[Endpoint]] = {}
    for sid, method, path in conn.execute(sa.select(e.service_id, e.method, e.path)):
        eps.setdefault(sid, []).append(Endpoint(method, path))
    p = t.sc_personal_data.c
    personal = {r.service_id: PersonalData(
        categories=tuple(c for c in r.categories.split(",") if c), bulk=bool(r.bulk),
        max_subjects=int(r.max_subjects), legal_basis=r.legal_basis)
        for r in conn.execute(sa.select(p.service_id, p.categories, p.bulk, p.max_subjects,
                                        p.legal_basis))}
    ids: dict[int, ServiceId] = {}
    services: dict[ServiceId, ServiceDescription] = {}
    for r in rows:
        sid = ServiceId(SubsystemId.parse(r.subsystem_id), r.service_code)
        ids[r.id] = sid
        services[sid] = ServiceDescription(
            id=sid, url=r.url, timeout=r.timeout, verify_tls=bool(r.verify_tls),
            disabled=bool(r.disabled), disabled_notice=r.disabled_notice,
            endpoints=tuple(sorted(eps.get(r.id, []))), has_openapi=bool(r.has_openapi),
            personal_data=personal.get(r.id), service_version=r.service_version,
            from_wsdl=r.wsdl_id is not None)
    rules: dict[ServiceId, list[AccessRule]] = {}
    joined = t.sc_access_rights.outerjoin(t.sc_endpoints, ar.endpoint_id == e.id)
    for r in conn.execute(sa.select(ar.service_id, ar.subject_type, ar.subject_id,
                                    e.method, e.path).select_from(joined)):
        svc = ids.get(r.service_id)
        if svc is None:
            continue
        endpoint = None if r.method is None else Endpoint(r.method, r.path)
        rules.setdefault(svc, []).append(AccessRule(
            parse_subject(r.subject_type, r.subject_id), svc.service_code, endpoint))
    local: dict[SubsystemId, dict[str, set[ClientId]]] = {}
    g, m = t.sc_local_groups.c, t.sc_local_group_members.c
    for r in conn.execute(sa.select(g.subsystem_id, g.code, m.client_id).select_from(
            t.sc_local_groups.outerjoin(t.sc_local_group_members, m.group_id == g.id))):
        members = local.setdefault(SubsystemId.parse(r.subsystem_id), {}).setdefault(
            r.code, set())
        if r.client_id is not None:
            members.add(parse_client(r.client_id))
    return Snapshot(
        version=version, services=services,
        rules={k: tuple(v) for k, v in rules.items()},
        local_groups={sub: {c: frozenset(ms) for c, ms in gs.items()}
                      for sub, gs in local.items()})

