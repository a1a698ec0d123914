"""Services registered from a WSDL, in the ``serverconf`` tables (docs/spec/wsdl.md §4).

X-Road's security server adds a "WSDL service description" as one unit: each
operation of its SOAP 1.1 bindings becomes a service of the subsystem (code =
operation name, version = ``xrd:version``), all with the provider's address
(UG-SS "Adding a WSDL"). Here the document goes to ``sc_wsdls`` and each operation
to ``sc_services`` with ``wsdl_id`` and ``service_version``; access rights are
then granted per operation like any service. Called by :class:`ServerConf`
inside its change transaction, so a refused WSDL stores nothing.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from lxml import etree
from sqlalchemy.engine import Connection

from sild.core.identifiers import ServiceId, SubsystemId
from sild.errors import DuplicateEntry, InvalidServiceType, StorageError, UnknownService
from sild.soap.wsdl import WsdlDescription, rewrite_endpoints, safe_xml
from sild.store import serverconf_tables as t

__all__ = ["drop_unused_wsdls", "insert_wsdl_services", "served_wsdl"]


def insert_wsdl_services(conn: Connection, *, subsystem: SubsystemId, source: str,
                         raw: bytes, desc: WsdlDescription, url: str, timeout: int,
                         verify_tls: bool, now: datetime) -> tuple[ServiceId, ...]:
    """(6)–(7) of docs/spec/wsdl.md §4: the document, then one service per operation."""
    ids = tuple(ServiceId(subsystem, op.code) for op in desc.operations)  # codes checked
    s = t.sc_services.c
    taken = {code for (code,) in conn.execute(sa.select(s.service_code).where(
        s.subsystem_id == str(subsystem), s.service_code.in_([i.service_code for i in ids])))}
    if taken:
        raise DuplicateEntry(f"services {', '.join(sorted(taken))} of {subsystem} already "
                             "exist; remove them first")
    # Stored as UTF-8 text whatever encoding it came in (the DB column is text).
    text = etree.tostring(safe_xml(raw), xml_declaration=True, encoding="UTF-8").decode()
    pk = conn.execute(t.sc_wsdls.insert().values(
        subsystem_id=str(subsystem), source=source, wsdl=text, created_at=now)
    ).inserted_primary_key
    if pk is None:
        raise StorageError("the database returned no id for the new WSDL")
    conn.execute(t.sc_services.insert(), [
        {"subsystem_id": str(subsystem), "service_code": op.code, "url": url,
         "timeout": timeout, "verify_tls": verify_tls, "disabled": False,
         "disabled_notice": "", "openapi": None, "created_at": now,
         "wsdl_id": int(pk[0]), "service_version": op.version}
        for op in desc.operations])
    return ids


def drop_unused_wsdls(conn: Connection) -> None:
    """Remove WSDL documents none of whose operations is a service any more."""
    used = sa.select(t.sc_services.c.wsdl_id).where(t.sc_services.c.wsdl_id.is_not(None))
    conn.execute(t.sc_wsdls.delete().where(t.sc_wsdls.c.id.not_in(used)))


def served_wsdl(conn: Connection, subsystem: SubsystemId, service_code: str,
                version: str | None) -> bytes:
    """``getWsdl``: the WSDL of a service, endpoints rewritten (docs/spec/wsdl.md §5)."""
    service = ServiceId(subsystem, service_code)
    s, w = t.sc_services.c, t.sc_wsdls.c
    row = conn.execute(sa.select(s.service_version, s.wsdl_id, w.wsdl).select_from(
        t.sc_services.outerjoin(t.sc_wsdls, w.id == s.wsdl_id)).where(
        s.subsystem_id == str(subsystem), s.service_code == service_code)).first()
    label = f"SERVICE:{service}" + (f"/{version}" if version else "")
    if row is None or (version and row.service_version != version):
        raise UnknownService(f"Unknown service: {label}", service=str(service))
    if row.wsdl_id is None or row.wsdl is None:
        raise InvalidServiceType(f"service {label} is not described by a WSDL")
    return rewrite_endpoints(str(row.wsdl).encode())
