"""A provider gateway's services and access rights (docs/spec/access.md).

X-Road's security server keeps, per hosted subsystem, its services (target URL,
timeout, TLS settings, optional OpenAPI description and endpoints), the access
rights on them and its local groups (research/xroad.md §4.1). :class:`ServerConf`
stores them (component ``serverconf``), answers the provider pipeline's access
check and the REST metaservices ``listMethods`` / ``allowedMethods`` /
``getOpenAPI`` (research/xroad.md §4.2).

**Caching** (§5). :meth:`ServerConf.check_access` runs on every request, so it
reads an in-memory snapshot of all services, rules and local groups. Every change
bumps a version number (``sc_state``) in the same transaction. A change made
through this object drops the snapshot at once; a change made by another process
(the CLI) is seen when the snapshot is older than ``ttl`` (2 s by default) and the
stored version differs: one single-row read per ``ttl``, not per request.

Errors (§3): ``UnknownService``, ``AccessDenied`` and ``ServiceDisabled`` carry
the ``Server`` fault; the provider pipeline reports them with the component
prefix, ``Server.ServerProxy.AccessDenied`` (:func:`sild.errors.xroad_code_at`),
as X-Road's ``ServerRestMessageProcessor.verifyAccess`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from sild.clock import utc_now
from sild.core.access import (
    AccessRule,
    Endpoint,
    LocalGroupId,
    Subject,
    allowed_endpoints,
    decide,
)
from sild.core.headertext import storable
from sild.core.identifiers import (
    ClientId,
    GlobalGroupId,
    ServiceId,
    SubsystemId,
    parse_client,
)
from sild.core.usage import check_category
from sild.errors import (  # noqa: F401  # re-exported
    AccessDenied,
    DuplicateEntry,
    InvalidRequest,
    InvalidServiceType,
    LocalError,
    NotFound,
    RemoteError,
    ServiceDisabled,
    StorageError,
    UnknownService,
)
from sild.gateway.serverconf._snapshot import (
    PersonalData,
    ServiceDescription,
    Snapshot,
    load_snapshot,
    stored_version,
)
from sild.gateway.serverconf.openapi import parse_openapi
from sild.gateway.serverconf.wsdl_services import (
    drop_unused_wsdls,
    insert_wsdl_services,
    served_wsdl,
)
from sild.soap.wsdl import parse_wsdl
from sild.store import serverconf_tables as t

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_TIMEOUT",
    "GlobalGroups",
    "InvalidServiceType",
    "LocalGroup",
    "OpenApiDescription",
    "PersonalData",
    "ServerConf",
    "ServiceDescription",
    "ServiceDisabled",
    "UnknownService",
]

log = structlog.get_logger("sild.gateway.serverconf.store")

# X-Road ServerConfImpl.DEFAULT_SERVICE_TIMEOUT (seconds).
DEFAULT_TIMEOUT = 30
# A provider IS that needs more than an hour is a batch job, not an exchange; the
# bound also keeps a typo (seconds vs ms) from holding connections for days.
MAX_TIMEOUT = 3600


class GlobalGroups(Protocol):
    """What the access check needs from the global configuration (``GlobalConf`` has it)."""

    def group_members(self, group_id: GlobalGroupId) -> tuple[ClientId, ...]: ...


@dataclass(frozen=True, slots=True)
class LocalGroup:
    """A local group of ``subsystem`` (X-Road UG-SS §8) and its members."""

    subsystem: SubsystemId
    code: str
    description: str
    members: tuple[ClientId, ...]


@dataclass(frozen=True, slots=True)
class OpenApiDescription:
    """The stored OpenAPI description and the media type to serve it with."""

    text: str
    media_type: str


def _subject_text(subject: Subject) -> tuple[str, str]:
    """How a subject is stored: (X-Road object type, text form)."""
    return subject.object_type, str(subject)


def _check_url(url: str) -> str:
    """A target URL must be absolute http(s) with a host (X-Road ``ServiceMalformedUrl``)."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a bad port
    except ValueError as e:
        raise InvalidRequest(f"service URL {url!r} is malformed: {e}") from e
    if parts.scheme not in ("http", "https"):
        raise InvalidRequest(f"service URL {url!r} must start with http:// or https://")
    if not parts.hostname:
        raise InvalidRequest(f"service URL {url!r} has no host")
    if any(c.isspace() for c in url):
        raise InvalidRequest(f"service URL {url!r} must not contain spaces")
    return url


def _check_timeout(timeout: int) -> None:
    if not isinstance(timeout, int) or not 0 < timeout <= MAX_TIMEOUT:
        raise InvalidRequest(f"timeout must be 1-{MAX_TIMEOUT} seconds, got {timeout!r}")


def _label(service: ServiceId) -> str:
    return f"SERVICE:{service}"


class ServerConf:
    """Services, endpoints, access rights and local groups of one gateway."""

    def __init__(
        self,
        engine: Engine,
        *,
        ttl: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self.engine = engine
        self.ttl = ttl
        self._clock = clock
        self._now = now
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._checked_at = 0.0
        self._refreshed_elsewhere = False  # a keep_fresh() task runs

    # -- transactions -------------------------------------------------------------

    @contextmanager
    def _change(self) -> Iterator[Connection]:
        """A transaction that bumps ``sc_state.version`` and drops the cached snapshot."""
        try:
            with self.engine.begin() as conn:
                yield conn
                now = self._now()
                bumped = conn.execute(
                    t.sc_state.update().where(t.sc_state.c.id == 1)
                    .values(version=t.sc_state.c.version + 1, changed_at=now)).rowcount
                if not bumped:
                    conn.execute(t.sc_state.insert().values(id=1, version=1, changed_at=now))
        except IntegrityError as e:
            raise DuplicateEntry(f"already exists: {e.orig}") from e
        except OperationalError as e:
            raise StorageError(f"database error: {e.orig}") from e
        finally:
            self._snapshot = None
        self.refresh()  # readers never wait for the next tick to see our own change

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except OperationalError as e:
            raise StorageError(f"database error: {e.orig}") from e

    def _service_row_id(self, conn: Connection, service: ServiceId) -> int:
        sid = conn.execute(sa.select(t.sc_services.c.id).where(
            t.sc_services.c.subsystem_id == str(service.subsystem),
            t.sc_services.c.service_code == service.service_code)).scalar()
        if sid is None:
            raise UnknownService(f"Unknown service: {_label(service)}", service=str(service))
        return int(sid)

    def _group_row_id(self, conn: Connection, subsystem: SubsystemId, code: str) -> int:
        gid = conn.execute(sa.select(t.sc_local_groups.c.id).where(
            t.sc_local_groups.c.subsystem_id == str(subsystem),
            t.sc_local_groups.c.code == code)).scalar()
        if gid is None:
            raise NotFound(f"local group {code!r} of {subsystem} does not exist")
        return int(gid)

    # -- services and endpoints (UG-SS §6) --------------------------------------

    def add_service(
        self,
        subsystem: SubsystemId,
        code: str,
        url: str,
        *,
        timeout: int = DEFAULT_TIMEOUT,
        verify_tls: bool = True,
        openapi: bytes | None = None,
    ) -> ServiceDescription:
        """Add a REST service; with ``openapi``, its endpoints come from the description."""
        service = ServiceId(subsystem, code)
        url = _check_url(url)
        _check_timeout(timeout)
        endpoints = parse_openapi(openapi) if openapi is not None else ()
        text = openapi.decode("utf-8-sig") if openapi is not None else None
        with self._change() as conn:
            exists = conn.execute(sa.select(t.sc_services.c.id).where(
                t.sc_services.c.subsystem_id == str(subsystem),
                t.sc_services.c.service_code == code)).first()
            if exists:
                raise DuplicateEntry(f"service {service} already exists")
            pk = conn.execute(t.sc_services.insert().values(
                subsystem_id=str(subsystem), service_code=code, url=url, timeout=timeout,
                verify_tls=verify_tls, disabled=False, disabled_notice="", openapi=text,
                created_at=self._now())).inserted_primary_key
            if pk is None:
                raise StorageError("the database returned no id for the new service")
            sid = int(pk[0])
            if endpoints:
                conn.execute(t.sc_endpoints.insert(), [
                    {"service_id": sid, "method": e.method, "path": e.path, "generated": True}
                    for e in endpoints])
        log.info("service_added", service=str(service), url=url, endpoints=len(endpoints))
        if not verify_tls:
            log.warning("service_tls_unverified", service=str(service), url=url)
        return self.service(service)

    def add_wsdl(
        self,
        subsystem: SubsystemId,
        wsdl: bytes,
        *,
        source: str,
        url: str | None = None,
        timeout: int = DEFAULT_TIMEOUT,
        verify_tls: bool = True,
    ) -> list[ServiceDescription]:
        """Add one SOAP service per operation of ``wsdl`` (docs/spec/wsdl.md §4); the
        IS URL is ``url`` or else the WSDL's ``soap:address``."""
        desc = parse_wsdl(wsdl)
        if url is None and desc.address is None:
            raise InvalidRequest("the WSDL has no soap:address; give the IS URL with --url")
        target = _check_url(url if url is not None else desc.address or "")
        _check_timeout(timeout)
        with self._change() as conn:
            ids = insert_wsdl_services(
                conn, subsystem=subsystem, source=source, raw=wsdl, desc=desc, url=target,
                timeout=timeout, verify_tls=verify_tls, now=self._now())
        log.info("wsdl_added", subsystem=str(subsystem), source=source, url=target,
                 services=[str(i) for i in ids])
        if not verify_tls:
            log.warning("service_tls_unverified", subsystem=str(subsystem), url=target)
        return [self.service(i) for i in ids]

    def wsdl(self, subsystem: SubsystemId, service_code: str,
             version: str | None = None) -> bytes:
        """``getWsdl``: the service's WSDL with endpoints rewritten (docs/spec/wsdl.md §5)."""
        with self._read() as conn:
            return served_wsdl(conn, subsystem, service_code, version)

    def remove_service(self, service: ServiceId) -> None:
        """Remove a service with its endpoints and access rights."""
        with self._change() as conn:
            sid = self._service_row_id(conn, service)
            conn.execute(t.sc_access_rights.delete().where(t.sc_access_rights.c.service_id == sid))
            conn.execute(t.sc_endpoints.delete().where(t.sc_endpoints.c.service_id == sid))
            conn.execute(t.sc_services.delete().where(t.sc_services.c.id == sid))
            drop_unused_wsdls(conn)
        log.info("service_removed", service=str(service))

    def set_disabled(self, service: ServiceId, disabled: bool, *, notice: str = "") -> None:
        """Disable (with the notice clients will see) or enable a service (UG-SS §6.3)."""
        with self._change() as conn:
            sid = self._service_row_id(conn, service)
            conn.execute(t.sc_services.update().where(t.sc_services.c.id == sid).values(
                disabled=disabled, disabled_notice=notice.strip() if disabled else ""))
        log.info("service_disabled" if disabled else "service_enabled", service=str(service))

    def declare_personal_data(self, service: ServiceId, data: PersonalData | None) -> None:
        """Mark a service as carrying personal data (or, with None, as not)."""
        if data is not None:
            if not data.categories:
                raise InvalidRequest("a personal-data service needs at least one category")
            for c in data.categories:
                check_category(c)
            if not isinstance(data.max_subjects, int) or not 1 <= data.max_subjects <= 10_000:
                raise InvalidRequest("max subjects must be 1-10000")
            if not storable(data.legal_basis, limit=1024):
                raise InvalidRequest("the legal basis must be text of at most 1024 characters")
        with self._change() as conn:
            sid = self._service_row_id(conn, service)
            conn.execute(t.sc_personal_data.delete().where(
                t.sc_personal_data.c.service_id == sid))
            if data is not None:
                conn.execute(t.sc_personal_data.insert().values(
                    service_id=sid, categories=",".join(sorted(set(data.categories))),
                    bulk=data.bulk, max_subjects=data.max_subjects,
                    legal_basis=data.legal_basis))
        log.info("service_personal_data", service=str(service),
                 categories=None if data is None else list(data.categories))

    def add_endpoint(self, service: ServiceId, endpoint: Endpoint) -> None:
        """Add an endpoint by hand (UG-SS §6.7)."""
        if endpoint.is_whole_service:
            raise InvalidRequest("'* **' is the whole service; grant without an endpoint")
        with self._change() as conn:
            sid = self._service_row_id(conn, service)
            if self._endpoint_row_id(conn, sid, endpoint) is not None:
                raise DuplicateEntry(f"endpoint {endpoint} of {service} already exists")
            conn.execute(t.sc_endpoints.insert().values(
                service_id=sid, method=endpoint.method, path=endpoint.path, generated=False))

    def remove_endpoint(self, service: ServiceId, endpoint: Endpoint) -> None:
        """Remove a hand-made endpoint and the rights on it; OpenAPI ones stay (UG-SS §6.7)."""
        with self._change() as conn:
            sid = self._service_row_id(conn, service)
            row = conn.execute(sa.select(t.sc_endpoints.c.id, t.sc_endpoints.c.generated).where(
                t.sc_endpoints.c.service_id == sid, t.sc_endpoints.c.method == endpoint.method,
                t.sc_endpoints.c.path == endpoint.path)).first()
            if row is None:
                raise NotFound(f"endpoint {endpoint} of {service} does not exist")
            if row.generated:
                raise InvalidRequest(f"endpoint {endpoint} comes from the OpenAPI description")
            conn.execute(t.sc_access_rights.delete().where(
                t.sc_access_rights.c.endpoint_id == row.id))
            conn.execute(t.sc_endpoints.delete().where(t.sc_endpoints.c.id == row.id))

    @staticmethod
    def _endpoint_row_id(conn: Connection, sid: int, endpoint: Endpoint) -> int | None:
        eid = conn.execute(sa.select(t.sc_endpoints.c.id).where(
            t.sc_endpoints.c.service_id == sid, t.sc_endpoints.c.method == endpoint.method,
            t.sc_endpoints.c.path == endpoint.path)).scalar()
        return None if eid is None else int(eid)

    # -- access rights (UG-SS §7) ------------------------------------------------

    def _right_where(self, conn: Connection, service: ServiceId, subject: Subject,
                     endpoint: Endpoint | None) -> tuple[int, int | None, Any]:
        sid = self._service_row_id(conn, service)
        eid: int | None = None
        if endpoint is not None and not endpoint.is_whole_service:
            eid = self._endpoint_row_id(conn, sid, endpoint)
            if eid is None:
                raise NotFound(f"endpoint {endpoint} is not defined for {service}; "
                               "add it first (service endpoint-add)")
        kind, text = _subject_text(subject)
        ar = t.sc_access_rights.c
        where = sa.and_(ar.service_id == sid, ar.subject_type == kind, ar.subject_id == text,
                        ar.endpoint_id.is_(None) if eid is None else ar.endpoint_id == eid)
        return sid, eid, where

    def grant(self, service: ServiceId, subject: Subject, endpoint: Endpoint | None = None) -> None:
        """Allow ``subject`` the whole service (``endpoint=None``) or one defined endpoint."""
        with self._change() as conn:
            sid, eid, where = self._right_where(conn, service, subject, endpoint)
            if isinstance(subject, LocalGroupId):
                self._group_row_id(conn, service.subsystem, subject.code)
            if conn.execute(sa.select(t.sc_access_rights.c.id).where(where)).first():
                raise DuplicateEntry(f"{subject} already has this right on {service}")
            kind, text = _subject_text(subject)
            conn.execute(t.sc_access_rights.insert().values(
                service_id=sid, subject_type=kind, subject_id=text, endpoint_id=eid,
                granted_at=self._now()))
        log.info("access_granted", service=str(service), subject=str(subject),
                 endpoint=str(endpoint) if endpoint else "*")

    def revoke(self, service: ServiceId, subject: Subject,
               endpoint: Endpoint | None = None) -> None:
        """Remove exactly the right that :meth:`grant` with the same arguments added."""
        with self._change() as conn:
            _, _, where = self._right_where(conn, service, subject, endpoint)
            if not conn.execute(t.sc_access_rights.delete().where(where)).rowcount:
                raise NotFound(f"{subject} has no such right on {service}")
        log.info("access_revoked", service=str(service), subject=str(subject),
                 endpoint=str(endpoint) if endpoint else "*")

    def access_rights(self, service: ServiceId) -> tuple[AccessRule, ...]:
        """The rules of one service, as the access check sees them."""
        snap = self._current()
        if service not in snap.services:
            raise UnknownService(f"Unknown service: {_label(service)}", service=str(service))
        return snap.rules.get(service, ())

    # -- local groups (UG-SS §8) -------------------------------------------------

    def add_local_group(self, subsystem: SubsystemId, code: str, description: str = "") -> None:
        """Create a local group owned by ``subsystem``."""
        LocalGroupId(code)  # validates the code
        with self._change() as conn:
            if conn.execute(sa.select(t.sc_local_groups.c.id).where(
                    t.sc_local_groups.c.subsystem_id == str(subsystem),
                    t.sc_local_groups.c.code == code)).first():
                raise DuplicateEntry(f"local group {code!r} of {subsystem} already exists")
            conn.execute(t.sc_local_groups.insert().values(
                subsystem_id=str(subsystem), code=code, description=description))

    def add_local_group_member(self, subsystem: SubsystemId, code: str, client: ClientId) -> None:
        """Add ``client`` to a local group of ``subsystem``."""
        with self._change() as conn:
            gid = self._group_row_id(conn, subsystem, code)
            if conn.execute(sa.select(t.sc_local_group_members.c.group_id).where(
                    t.sc_local_group_members.c.group_id == gid,
                    t.sc_local_group_members.c.client_id == str(client))).first():
                raise DuplicateEntry(f"{client} is already in local group {code!r}")
            conn.execute(t.sc_local_group_members.insert().values(
                group_id=gid, client_id=str(client), added_at=self._now()))

    def remove_local_group_member(self, subsystem: SubsystemId, code: str,
                                  client: ClientId) -> None:
        """Remove ``client`` from a local group of ``subsystem``."""
        with self._change() as conn:
            gid = self._group_row_id(conn, subsystem, code)
            if not conn.execute(t.sc_local_group_members.delete().where(
                    t.sc_local_group_members.c.group_id == gid,
                    t.sc_local_group_members.c.client_id == str(client))).rowcount:
                raise NotFound(f"{client} is not in local group {code!r}")

    def local_groups(self, subsystem: SubsystemId | None = None) -> list[LocalGroup]:
        """Local groups (of one subsystem, or all), sorted, with their members."""
        g, m = t.sc_local_groups.c, t.sc_local_group_members.c
        query = sa.select(g.id, g.subsystem_id, g.code, g.description).order_by(
            g.subsystem_id, g.code)
        if subsystem is not None:
            query = query.where(g.subsystem_id == str(subsystem))
        with self._read() as conn:
            groups = conn.execute(query).all()
            members = conn.execute(sa.select(m.group_id, m.client_id)).all()
        by_group: dict[int, list[ClientId]] = {}
        for gid, cid in members:
            by_group.setdefault(gid, []).append(parse_client(cid))
        return [LocalGroup(SubsystemId.parse(sub), code, desc,
                           tuple(sorted(by_group.get(gid, []), key=str)))
                for gid, sub, code, desc in groups]

    # -- reading: the cached snapshot (§5) ---------------------------------------

    def _current(self) -> Snapshot:
        """The snapshot to read. While a gateway keeps it fresh in the background
        (:meth:`refresh` off the event loop, docs/spec/access.md §5) this never touches
        the database; otherwise (the CLI, tests) it checks the stored version per ttl."""
        snap = self._snapshot
        if snap is not None and (self._refreshed_elsewhere
                                 or self._clock() - self._checked_at < self.ttl):
            return snap
        return self.refresh()

    def refresh(self) -> Snapshot:
        """Reload the snapshot if the stored version changed (blocking: call it in a
        worker thread from async code)."""
        with self._lock:
            snap, now = self._snapshot, self._clock()
            with self._read() as conn:
                if snap is None or stored_version(conn) != snap.version:
                    snap = load_snapshot(conn)
            self._snapshot, self._checked_at = snap, now
            return snap

    async def keep_fresh(self, stop: asyncio.Event, ready: asyncio.Event | None = None
                         ) -> None:
        """Refresh every ``ttl`` seconds in a worker thread until ``stop`` is set; from
        then on request handlers read the snapshot without any database query. ``ready``
        is set once the first refresh is done."""
        await asyncio.to_thread(self.refresh)
        self._refreshed_elsewhere = True
        if ready is not None:
            ready.set()
        try:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.ttl)
                if stop.is_set():
                    break
                try:
                    await asyncio.to_thread(self.refresh)
                except StorageError as e:  # keep serving the last good snapshot
                    log.warning("serverconf_refresh_failed", error=e.message)
        finally:
            self._refreshed_elsewhere = False

    def services(self, subsystem: SubsystemId | None = None) -> list[ServiceDescription]:
        """Services of one subsystem (or all), sorted by id."""
        snap = self._current()
        return sorted((d for d in snap.services.values()
                       if subsystem is None or d.id.subsystem == subsystem), key=lambda d: d.id)

    def service(self, service: ServiceId) -> ServiceDescription:
        """One service; :class:`UnknownService` if this gateway does not have it."""
        found = self._current().services.get(service)
        if found is None:
            raise UnknownService(f"Unknown service: {_label(service)}", service=str(service))
        return found

    # -- the access check (§3) ------------------------------------------------------

    def check_access(self, service: ServiceId, client: ClientId, method: str, path: str,
                     conf: GlobalGroups) -> ServiceDescription:
        """Steps of docs/spec/access.md §3, in X-Road's ``verifyAccess`` order.

        ``path`` is the part after the service code, without the query
        (``/pets/1``; ``""`` for the service root). Returns the service to call.
        """
        snap = self._current()
        # (1) the service exists on this gateway
        desc = snap.services.get(service)
        if desc is None:
            raise UnknownService(f"Unknown service: {_label(service)}", service=str(service))
        # (2)-(6) a rule of this service allows this client, method and path
        decision = decide(
            snap.rules.get(service, ()), client=client, service_code=service.service_code,
            method=method, path=path, global_groups=conf.group_members,
            local_groups=snap.local_groups.get(service.subsystem, {}))
        if not decision:
            raise AccessDenied(f"Request is not allowed: {_label(service)}",
                               service=str(service), client=str(client), reason=decision.reason)
        # (7) the service is enabled
        if desc.disabled:
            notice = desc.disabled_notice or f"Service '{_label(service)}' is disabled"
            raise ServiceDisabled(f"Service {_label(service)} is disabled: {notice}",
                                  service=str(service))
        # (8) a service the operator exempted from TLS verification warns on every use
        if not desc.verify_tls:
            log.warning("service_tls_unverified", service=str(service), url=desc.url)
        return desc

    # -- metaservices (research/xroad.md §4.2) ---------------------------------

    @staticmethod
    def _service_json(desc: ServiceDescription, endpoints: tuple[Endpoint, ...]) -> dict[str, Any]:
        sub = desc.id.subsystem
        version = {"service_version": desc.service_version} if desc.service_version else {}
        return version | {
            "member_class": sub.member.member_class,
            "member_code": sub.member.member_code,
            "object_type": "SERVICE",
            "service_code": desc.id.service_code,
            "service_type": desc.service_type,
            "subsystem_code": sub.subsystem_code,
            "xroad_instance": sub.instance,
            "endpoint_list": [{"method": e.method, "path": e.path} for e in endpoints],
        }

    def list_methods(self, subsystem: SubsystemId) -> dict[str, Any]:
        """REST ``listMethods``: every service of ``subsystem`` with its endpoints."""
        return {"service": [self._service_json(d, d.endpoints) for d in self.services(subsystem)]}

    def allowed_methods(self, subsystem: SubsystemId, client: ClientId,
                        conf: GlobalGroups) -> dict[str, Any]:
        """REST ``allowedMethods``: the services ``client`` may call, with allowed endpoints."""
        snap = self._current()
        local = snap.local_groups.get(subsystem, {})
        out = []
        for desc in self.services(subsystem):
            allowed = allowed_endpoints(
                snap.rules.get(desc.id, ()), desc.endpoints, client=client,
                service_code=desc.id.service_code, global_groups=conf.group_members,
                local_groups=local)
            if allowed is not None:
                out.append(self._service_json(desc, allowed))
        return {"service": out}

    def openapi(self, subsystem: SubsystemId, service_code: str) -> OpenApiDescription:
        """REST ``getOpenAPI?serviceCode=``: the stored description, JSON or YAML."""
        service = ServiceId(subsystem, service_code)
        with self._read() as conn:
            row = conn.execute(sa.select(t.sc_services.c.openapi).where(
                t.sc_services.c.subsystem_id == str(subsystem),
                t.sc_services.c.service_code == service_code)).first()
        if row is None:
            raise UnknownService(f"Unknown service: {_label(service)}", service=str(service))
        if row.openapi is None:
            raise InvalidServiceType(f"service {_label(service)} has no OpenAPI description")
        text: str = row.openapi
        json_like = text.lstrip().startswith(("{", "["))
        return OpenApiDescription(text, "application/json" if json_like else "application/yaml")
