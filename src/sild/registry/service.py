"""The registry's records and the operations on them (X-Road central server).

Every change runs in one transaction that also bumps the configuration version
(docs/spec/globalconf.md §2: "version increases by one on every change"), so a
change is either fully in the next configuration or not at all. The CLI and the
HTTP API call the same methods; the source of truth is the database, so a CLI
change is picked up by a running registry at its next configuration request.

Every input that ends up in the document is checked, before anything is stored,
with the field rules the configuration codec itself applies (docs/spec/globalconf.md
§2.1), so the registry cannot store what it could not publish.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from cryptography import x509
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from sild.clock import utc_now
from sild.core.globalconf import (
    CA_CERTIFICATE,
    CA_NAME,
    GROUP_DESCRIPTION,
    LEDGER_VALUE,
    MEMBER_NAME,
    PURPOSE_CODE,
    PURPOSE_TEXT,
    REVOKED_SERIAL,
    CaEntry,
    GatewayEntry,
    GlobalConf,
    GlobalGroupEntry,
    LedgerSettings,
    MemberEntry,
    PurposeEntry,
    RevokedCert,
    SigningKey,
)
from sild.core.identifiers import (
    ClientId,
    GlobalGroupId,
    MemberId,
    ServerId,
    SubsystemId,
    parse_client,
)
from sild.crypto.certs import (
    CertPurpose,
    cert_pem,
    check_usage,
    find_issuer,
    fingerprint,
    identity_of,
    load_certificate,
    serial_hex,
)
from sild.crypto.keys import KeyType, PublicKey, key_id, key_type_of, public_key_raw
from sild.errors import (
    CertificateError,
    CertificateRevoked,
    DuplicateEntry,
    InvalidRequest,
    NotFound,
    StorageError,
    UnknownMember,
)
from sild.registry.requests import SignedRequest, parse_request
from sild.registry.workflow import Action, State, next_state
from sild.store import registry_tables as t

__all__ = ["MAX_REQUEST_ID", "GatewayRow", "Registry", "Removal", "RequestRow"]

MAX_REQUEST_ID = 2**31 - 1  # registration_requests.id is an INTEGER column (PostgreSQL)

# A registration request older than this is stale; one dated in the future beyond
# clock skew is refused (prevents replaying old signed requests much later).
REQUEST_MAX_AGE = timedelta(hours=24)
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class RequestRow:
    id: int
    kind: str
    server_id: str
    client_id: str | None
    address: str | None
    state: str
    submitted_at: datetime
    decided_at: datetime | None
    reason: str


@dataclass(frozen=True, slots=True)
class GatewayRow:
    id: str
    address: str
    auth_fingerprint: str
    clients: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Removal:
    """What a removal took with it besides the record named (all in one transaction)."""

    subsystems: tuple[str, ...] = ()
    gateways: tuple[str, ...] = ()
    hostings: tuple[tuple[str, str], ...] = ()  # (gateway, client) no longer hosted
    group_memberships: tuple[tuple[str, str], ...] = ()  # (group, client) no longer in it

    def summary(self) -> str:
        """One line for people, e.g. ``2 subsystem(s), 1 group membership(s)``; or ``""``."""
        parts = [f"{len(v)} {what}(s)" for what, v in (
            ("subsystem", self.subsystems), ("gateway", self.gateways),
            ("hosting", self.hostings), ("group membership", self.group_memberships)) if v]
        return ", ".join(parts)


def _aware(when: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    if when is not None and when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when


class Registry:
    """Members, subsystems, gateways, groups, CAs, revocations and requests."""

    def __init__(
        self, engine: Engine, instance: str, *, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self.engine = engine
        self.instance = instance
        self.clock = clock

    # -- transactions ----------------------------------------------------------

    @contextmanager
    def _change(self, *, bump: bool = True) -> Iterator[Connection]:
        """A transaction that bumps the configuration version when it commits."""
        try:
            with self.engine.begin() as conn:
                yield conn
                if not bump:
                    return
                now = self.clock()
                updated = conn.execute(
                    t.conf_state.update()
                    .where(t.conf_state.c.id == 1)
                    .values(version=t.conf_state.c.version + 1, changed_at=now)
                ).rowcount
                if not updated:
                    conn.execute(t.conf_state.insert().values(id=1, version=1, changed_at=now))
        except IntegrityError as e:
            raise DuplicateEntry(f"already registered: {e.orig}") from e
        except DataError as e:  # the field rules should have caught it first
            raise InvalidRequest(f"refused by the database: {e.orig}") from e
        except OperationalError as e:
            raise StorageError(f"database error: {e.orig}") from e

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except OperationalError as e:
            raise StorageError(f"database error: {e.orig}") from e

    def version(self) -> int:
        with self._read() as conn:
            v = conn.execute(sa.select(t.conf_state.c.version)).scalar()
        return int(v or 0)

    def _check_instance(self, ident: MemberId | SubsystemId | ServerId | GlobalGroupId) -> None:
        if ident.instance != self.instance:
            raise InvalidRequest(f"{ident} is not in instance {self.instance}")

    # -- members and subsystems ------------------------------------------------

    def add_member(self, member: MemberId, name: str) -> None:
        self._check_instance(member)
        name = MEMBER_NAME.check(_trimmed(name), "member name")
        with self._change() as conn:
            if conn.execute(sa.select(t.members.c.id).where(t.members.c.id == str(member))).first():
                raise DuplicateEntry(f"member {member} is already registered")
            conn.execute(t.members.insert().values(id=str(member), name=name,
                                                   created_at=self.clock()))

    def edit_member(self, member: MemberId, name: str) -> None:
        """Rename a member (the name shown in the global configuration)."""
        self._check_instance(member)
        name = MEMBER_NAME.check(_trimmed(name), "member name")
        with self._change() as conn:
            if not conn.execute(t.members.update().where(t.members.c.id == str(member))
                                .values(name=name)).rowcount:
                raise NotFound(f"member {member} is not registered")

    def remove_member(self, member: MemberId, *, cascade: bool = False) -> Removal:
        """Remove a member and its global-group memberships.

        A member that still has subsystems, owns gateways or is hosted on one is refused,
        naming them, unless ``cascade``: then those go too — its subsystems, its gateways
        (with every client they host), its and its subsystems' hostings and group
        memberships — so the next document refers to nothing that is gone.
        """
        self._check_instance(member)
        mid = str(member)
        with self._change() as conn:
            if not conn.execute(sa.select(t.members.c.id).where(t.members.c.id == mid)).first():
                raise NotFound(f"member {member} is not registered")
            subs = tuple(sorted(conn.execute(sa.select(t.subsystems.c.id).where(
                t.subsystems.c.member_id == mid)).scalars()))
            gws = tuple(sorted(conn.execute(sa.select(t.gateways.c.id).where(
                t.gateways.c.owner_id == mid)).scalars()))
            clients = (mid, *subs)
            gc = t.gateway_clients.c
            hosted = sa.or_(gc.gateway_id.in_(gws), gc.client_id.in_(clients))
            hostings = _pairs(conn.execute(sa.select(gc.gateway_id, gc.client_id).where(hosted)))
            if not cascade and (subs or gws or hostings):
                still = "; ".join(part for part in (
                    _listing("subsystem(s)", subs), _listing("gateway(s)", gws),
                    _listing("hosting(s) on", [g for g, c in hostings if c in clients]),
                ) if part)
                raise InvalidRequest(
                    f"member {member} still has {still}; remove them first, or remove with "
                    f"cascade (CLI --cascade, API ?cascade=true)")
            conn.execute(t.gateway_clients.delete().where(hosted))
            conn.execute(t.gateways.delete().where(t.gateways.c.owner_id == mid))
            memberships = self._leave_groups(conn, clients)
            conn.execute(t.subsystems.delete().where(t.subsystems.c.member_id == mid))
            conn.execute(t.members.delete().where(t.members.c.id == mid))
        return Removal(subs, gws, hostings, memberships)

    def remove_subsystem(self, subsystem: SubsystemId, *, cascade: bool = False) -> Removal:
        """Remove a subsystem and its global-group memberships.

        One still hosted on a gateway is refused, naming the gateways, unless ``cascade``:
        then the hostings go too.
        """
        self._check_instance(subsystem)
        sid = str(subsystem)
        with self._change() as conn:
            if not conn.execute(sa.select(t.subsystems.c.id)
                                .where(t.subsystems.c.id == sid)).first():
                raise NotFound(f"subsystem {subsystem} is not registered")
            gc = t.gateway_clients.c
            hostings = _pairs(conn.execute(sa.select(gc.gateway_id, gc.client_id)
                                           .where(gc.client_id == sid)))
            if hostings and not cascade:
                raise InvalidRequest(
                    f"subsystem {subsystem} is still hosted on "
                    f"{_listing('gateway(s)', [g for g, _ in hostings])}; remove with cascade "
                    f"(CLI --cascade, API ?cascade=true) to end that hosting too")
            conn.execute(t.gateway_clients.delete().where(gc.client_id == sid))
            memberships = self._leave_groups(conn, (sid,))
            conn.execute(t.subsystems.delete().where(t.subsystems.c.id == sid))
        return Removal(hostings=hostings, group_memberships=memberships)

    def _leave_groups(
        self, conn: Connection, clients: tuple[str, ...]
    ) -> tuple[tuple[str, str], ...]:
        gm = t.global_group_members.c
        gone = _pairs(conn.execute(sa.select(gm.group_id, gm.client_id)
                                   .where(gm.client_id.in_(clients))))
        conn.execute(t.global_group_members.delete().where(gm.client_id.in_(clients)))
        return gone

    def _require_member(self, conn: Connection, member: MemberId) -> None:
        if not conn.execute(sa.select(t.members.c.id).where(t.members.c.id == str(member))).first():
            raise UnknownMember(f"member {member} is not registered")

    def add_subsystem(self, subsystem: SubsystemId) -> None:
        self._check_instance(subsystem)
        with self._change() as conn:
            self._require_member(conn, subsystem.member)
            self._insert_subsystem(conn, subsystem, must_be_new=True)

    def _insert_subsystem(self, conn: Connection, sub: SubsystemId, *, must_be_new: bool) -> None:
        exists = conn.execute(
            sa.select(t.subsystems.c.id).where(t.subsystems.c.id == str(sub))
        ).first()
        if exists and must_be_new:
            raise DuplicateEntry(f"subsystem {sub} is already registered")
        if not exists:
            conn.execute(t.subsystems.insert().values(
                id=str(sub), member_id=str(sub.member), created_at=self.clock()))

    def members(self) -> list[tuple[str, str, list[str]]]:
        """(member id, name, subsystem codes) for every member."""
        with self._read() as conn:
            rows = conn.execute(sa.select(t.members.c.id, t.members.c.name)
                                .order_by(t.members.c.id)).all()
            subs = conn.execute(sa.select(t.subsystems.c.id, t.subsystems.c.member_id)).all()
        by_member: dict[str, list[str]] = {}
        for sid, mid in subs:
            by_member.setdefault(mid, []).append(SubsystemId.parse(sid).subsystem_code)
        return [(mid, name, sorted(by_member.get(mid, []))) for mid, name in rows]

    # -- certification authorities and revocation ------------------------------

    def add_ca(self, certificate: x509.Certificate, name: str) -> str:
        """Approve a CA; returns its fingerprint."""
        bc = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value \
            if _has_ext(certificate, x509.BasicConstraints) else None
        if bc is None or not bc.ca:
            raise CertificateError("not a CA certificate (BasicConstraints CA:TRUE missing)")
        name = CA_NAME.check(_trimmed(name), "CA name")
        pem = CA_CERTIFICATE.check(cert_pem(certificate), "CA certificate")
        fp = fingerprint(certificate)
        with self._change() as conn:
            exists = sa.select(t.cas.c.fingerprint).where(t.cas.c.fingerprint == fp)
            if conn.execute(exists).first():
                raise DuplicateEntry(f"CA {name} ({fp[:16]}…) is already approved")
            conn.execute(t.cas.insert().values(fingerprint=fp, name=name, certificate_pem=pem,
                                               added_at=self.clock()))
        return fp

    def _cas(self, conn: Connection) -> list[x509.Certificate]:
        return [load_certificate(pem.encode()) for (pem,) in
                conn.execute(sa.select(t.cas.c.certificate_pem)).all()]

    def revocations(self, ca_fingerprint: str) -> dict[str, tuple[datetime, str]]:
        """``serial (hex) -> (revoked at, reason)`` of one CA's revoked certificates."""
        q = sa.select(t.revocations).where(t.revocations.c.ca_fingerprint == ca_fingerprint)
        with self.engine.connect() as conn:
            return {r.serial: (r.revoked_at, r.reason) for r in conn.execute(q)}

    def revoke(self, ca_fingerprint: str, serial: str, *, reason: str = "") -> None:
        """Revoke a certificate by its serial (hex, any case, optional ``0x``)."""
        text = serial.strip().lower().removeprefix("0x")
        problem = REVOKED_SERIAL.problem(text)
        if problem is not None:
            raise InvalidRequest(f"serial {serial[:80]!r} is not hexadecimal: {problem}")
        # One spelling per serial, the one gateways compare against (GlobalConf.is_revoked):
        # "00ab" stored as is would never match certificate 0xab.
        serial = format(int(text, 16), "x")
        with self._change() as conn:
            if not conn.execute(sa.select(t.cas.c.fingerprint)
                                .where(t.cas.c.fingerprint == ca_fingerprint)).first():
                raise NotFound(f"no approved CA with fingerprint {ca_fingerprint[:16]}…")
            if conn.execute(sa.select(t.revocations.c.serial).where(
                    t.revocations.c.ca_fingerprint == ca_fingerprint,
                    t.revocations.c.serial == serial)).first():
                raise DuplicateEntry(f"certificate {serial} is already revoked")
            conn.execute(t.revocations.insert().values(
                ca_fingerprint=ca_fingerprint, serial=serial, revoked_at=self.clock(),
                reason=reason))

    def check_certificate(
        self, conn: Connection, cert: x509.Certificate, purpose: CertPurpose, at: datetime
    ) -> None:
        """Approved issuer, valid at ``at``, not revoked, right key usage."""
        issuer = find_issuer(cert, self._cas(conn), at=at)
        if conn.execute(sa.select(t.revocations.c.serial).where(
                t.revocations.c.ca_fingerprint == fingerprint(issuer),
                t.revocations.c.serial == serial_hex(cert))).first():
            raise CertificateRevoked(f"certificate {serial_hex(cert)} is revoked")
        check_usage(cert, purpose)

    # -- global groups ---------------------------------------------------------

    def add_group(self, group: GlobalGroupId, description: str | None = None) -> None:
        """Create a global group; without a description its code is the description.

        X-Road requires a description (docs/spec/globalconf.md §2.1: 1-1024 characters);
        an explicit empty one is refused rather than replaced.
        """
        self._check_instance(group)
        text = group.group_code if description is None else _trimmed(description)
        text = GROUP_DESCRIPTION.check(text, "group description")
        with self._change() as conn:
            if conn.execute(sa.select(t.global_groups.c.id)
                            .where(t.global_groups.c.id == str(group))).first():
                raise DuplicateEntry(f"global group {group} already exists")
            conn.execute(t.global_groups.insert().values(id=str(group), description=text))

    def edit_group(self, group: GlobalGroupId, description: str) -> None:
        """Change a global group's description."""
        self._check_instance(group)
        text = GROUP_DESCRIPTION.check(_trimmed(description), "group description")
        with self._change() as conn:
            if not conn.execute(t.global_groups.update()
                                .where(t.global_groups.c.id == str(group))
                                .values(description=text)).rowcount:
                raise NotFound(f"no global group {group}")

    def remove_group(self, group: GlobalGroupId) -> Removal:
        """Remove a global group with its memberships (access rights granted to the group
        then match nobody: gateways deny by default)."""
        self._check_instance(group)
        with self._change() as conn:
            if not conn.execute(sa.select(t.global_groups.c.id)
                                .where(t.global_groups.c.id == str(group))).first():
                raise NotFound(f"no global group {group}")
            gm = t.global_group_members.c
            gone = _pairs(conn.execute(sa.select(gm.group_id, gm.client_id)
                                       .where(gm.group_id == str(group))))
            conn.execute(t.global_group_members.delete().where(gm.group_id == str(group)))
            conn.execute(t.global_groups.delete().where(t.global_groups.c.id == str(group)))
        return Removal(group_memberships=gone)

    def group_add(self, group: GlobalGroupId, client: ClientId) -> None:
        with self._change() as conn:
            if not conn.execute(sa.select(t.global_groups.c.id)
                                .where(t.global_groups.c.id == str(group))).first():
                raise NotFound(f"no global group {group}")
            self._require_client(conn, client)
            conn.execute(t.global_group_members.insert().values(
                group_id=str(group), client_id=str(client)))

    def group_remove(self, group: GlobalGroupId, client: ClientId) -> None:
        with self._change() as conn:
            n = conn.execute(t.global_group_members.delete().where(
                t.global_group_members.c.group_id == str(group),
                t.global_group_members.c.client_id == str(client))).rowcount
            if not n:
                raise NotFound(f"{client} is not in global group {group}")

    def groups(self) -> list[tuple[str, str, list[str]]]:
        with self._read() as conn:
            groups = conn.execute(sa.select(t.global_groups).order_by(t.global_groups.c.id)).all()
            members = conn.execute(sa.select(t.global_group_members)).all()
        by_group: dict[str, list[str]] = {}
        for gid, cid in members:
            by_group.setdefault(gid, []).append(cid)
        return [(g.id, g.description, sorted(by_group.get(g.id, []))) for g in groups]

    # -- purposes of processing personal data (docs/spec/tracker.md §1) ----------

    def add_purpose(self, code: str, text: str) -> None:
        """Register a purpose; requests may then name its code in ``Sild-Purpose``."""
        code = PURPOSE_CODE.check(_trimmed(code), "purpose code")
        text = PURPOSE_TEXT.check(_trimmed(text), "purpose text")
        with self._change() as conn:
            if conn.execute(sa.select(t.purposes.c.code).where(t.purposes.c.code == code)
                            ).first():
                raise DuplicateEntry(f"purpose {code!r} already exists")
            conn.execute(t.purposes.insert().values(code=code, text=text))

    def remove_purpose(self, code: str) -> None:
        with self._change() as conn:
            if not conn.execute(t.purposes.delete().where(t.purposes.c.code == code)).rowcount:
                raise NotFound(f"no purpose {code!r}")

    def purposes(self) -> list[tuple[str, str]]:
        with self._read() as conn:
            return [(r.code, r.text) for r in conn.execute(
                sa.select(t.purposes).order_by(t.purposes.c.code))]

    def _require_client(self, conn: Connection, client: ClientId) -> None:
        if isinstance(client, SubsystemId):
            if not conn.execute(sa.select(t.subsystems.c.id)
                                .where(t.subsystems.c.id == str(client))).first():
                raise UnknownMember(f"subsystem {client} is not registered")
        else:
            self._require_member(conn, client)

    # -- configuration signing keys and ledger placeholders --------------------

    def add_config_key(self, public_key: PublicKey) -> str:
        if key_type_of(public_key) is not KeyType.ED25519:
            raise InvalidRequest("configuration keys are Ed25519 (docs/spec/globalconf.md §1)")
        kid = key_id(public_key)
        with self._change() as conn:
            conn.execute(t.config_keys.insert().values(
                key_id=kid, algorithm="ed25519", public_key=public_key_raw(public_key),
                status="active", created_at=self.clock()))
        return kid

    def retire_config_key(self, kid: str) -> None:
        with self._change() as conn:
            active = conn.execute(sa.select(t.config_keys.c.key_id)
                                  .where(t.config_keys.c.status == "active")).scalars().all()
            if kid not in active:
                raise NotFound(f"no active configuration key {kid}")
            if len(active) == 1:
                raise InvalidRequest("cannot retire the last active configuration key")
            conn.execute(t.config_keys.update().where(t.config_keys.c.key_id == kid)
                         .values(status="retired"))

    def config_keys(self) -> list[tuple[str, str, datetime]]:
        with self._read() as conn:
            rows = conn.execute(sa.select(t.config_keys.c.key_id, t.config_keys.c.status,
                                          t.config_keys.c.created_at)
                                .order_by(t.config_keys.c.created_at)).all()
        return [(k, s, _aware(c) or c) for k, s, c in rows]

    def add_ledger_endpoint(self, url: str, public_key: str = "") -> None:
        LEDGER_VALUE.check(url, "ledger endpoint")
        if public_key:
            LEDGER_VALUE.check(public_key, "ledger key")
        with self._change() as conn:
            conn.execute(t.ledger_endpoints.insert().values(url=url, public_key=public_key))

    # -- registration workflow -------------------------------------------------

    def submit(self, raw: bytes) -> RequestRow:
        """Check a signed registration request and queue it for an administrator."""
        req = parse_request(raw)
        at = self.clock()
        if req.instance != self.instance:
            raise InvalidRequest(f"request is for instance {req.instance}, not {self.instance}")
        if req.requested_at > at + CLOCK_SKEW or req.requested_at < at - REQUEST_MAX_AGE:
            raise InvalidRequest("registration request is stale or dated in the future")
        with self._change(bump=False) as conn:  # a pending request changes no configuration
            self._check_request(conn, req, at)
            auth = req.certificates.get("auth")
            rid = conn.execute(t.registration_requests.insert().values(
                kind=req.kind, server_id=str(req.server),
                client_id=str(req.client) if req.client else None,
                address=req.address,
                auth_fingerprint=fingerprint(auth) if auth else None,
                envelope=raw, state=State.SUBMITTED.value, submitted_at=at,
            )).inserted_primary_key
            assert rid is not None
        return self.request(int(rid[0]))

    def _check_request(self, conn: Connection, req: SignedRequest, at: datetime) -> None:
        owner = req.server.owner
        # Certificates: approved CA, unrevoked, right usage, right identity.
        owner_cert = req.certificates["owner"]
        self.check_certificate(conn, owner_cert, CertPurpose.SIGN, at)
        if identity_of(owner_cert) != str(owner):
            raise CertificateError(
                f"owner sign certificate is for {identity_of(owner_cert)}, not {owner}")
        self._require_member(conn, owner)
        pending = sa.and_(t.registration_requests.c.state == State.SUBMITTED.value,
                          t.registration_requests.c.server_id == str(req.server))
        if req.kind == "gateway":
            auth_cert = req.certificates["auth"]
            self.check_certificate(conn, auth_cert, CertPurpose.AUTH, at)
            if identity_of(auth_cert) != str(req.server):
                raise CertificateError(
                    f"auth certificate is for {identity_of(auth_cert)}, not {req.server}")
            self._check_new_gateway(conn, req.server, fingerprint(auth_cert))
            if conn.execute(sa.select(t.registration_requests.c.id).where(
                    pending, t.registration_requests.c.kind == "gateway")).first():
                raise DuplicateEntry(f"a request for gateway {req.server} is already pending")
            return
        client = req.client
        assert client is not None
        if not conn.execute(sa.select(t.gateways.c.id)
                            .where(t.gateways.c.id == str(req.server))).first():
            raise UnknownMember(f"gateway {req.server} is not registered")
        self._require_member(conn, client.member)
        if client.member != owner:
            client_cert = req.certificates.get("client")
            if client_cert is None:
                raise InvalidRequest(
                    f"{client.member} is not the gateway owner: its sign key must co-sign")
            self.check_certificate(conn, client_cert, CertPurpose.SIGN, at)
            if identity_of(client_cert) != str(client.member):
                raise CertificateError(
                    f"client sign certificate is for {identity_of(client_cert)}, "
                    f"not {client.member}")
        self._check_new_client(conn, req.server, client)
        if conn.execute(sa.select(t.registration_requests.c.id).where(
                pending, t.registration_requests.c.client_id == str(client))).first():
            raise DuplicateEntry(f"a request to host {client} on {req.server} is already pending")

    def _check_new_gateway(self, conn: Connection, server: ServerId, auth_fp: str) -> None:
        if conn.execute(sa.select(t.gateways.c.id).where(t.gateways.c.id == str(server))).first():
            raise DuplicateEntry(f"server code {server.server_code} is already registered "
                                 f"for {server.owner}")
        if conn.execute(sa.select(t.gateways.c.id)
                        .where(t.gateways.c.auth_fingerprint == auth_fp)).first():
            raise DuplicateEntry("this auth certificate is already registered to a gateway")

    def _check_new_client(self, conn: Connection, server: ServerId, client: ClientId) -> None:
        if conn.execute(sa.select(t.gateway_clients.c.client_id).where(
                t.gateway_clients.c.gateway_id == str(server),
                t.gateway_clients.c.client_id == str(client))).first():
            raise DuplicateEntry(f"{client} is already hosted on {server}")

    def decide(self, request_id: int, action: Action, *, reason: str = "") -> RequestRow:
        """Approve (and apply) or reject a submitted request."""
        _check_request_id(request_id)
        with self._change() as conn:
            row = conn.execute(sa.select(t.registration_requests)
                               .where(t.registration_requests.c.id == request_id)
                               .with_for_update()).first()
            if row is None:
                raise NotFound(f"no registration request {request_id}")
            new = next_state(State(row.state), action)
            if new is State.APPROVED:
                self._apply(conn, row)
            conn.execute(t.registration_requests.update()
                         .where(t.registration_requests.c.id == request_id)
                         .values(state=new.value, decided_at=self.clock(), reason=reason))
        return self.request(request_id)

    def _apply(self, conn: Connection, row: sa.Row[tuple[object, ...]]) -> None:
        server = ServerId.parse(str(row.server_id))
        req = parse_request(bytes(row.envelope))
        at = self.clock()
        # Re-check on approval: the member may have been removed meanwhile.
        self._require_member(conn, server.owner)
        if row.kind == "gateway":
            auth_cert = req.certificates["auth"]
            # Re-check on approval: the certificate may have been revoked meanwhile.
            self.check_certificate(conn, auth_cert, CertPurpose.AUTH, at)
            self._check_new_gateway(conn, server, fingerprint(auth_cert))
            conn.execute(t.gateways.insert().values(
                id=str(server), owner_id=str(server.owner), address=req.address,
                auth_fingerprint=fingerprint(auth_cert),
                auth_certificate_pem=cert_pem(auth_cert), registered_at=at))
            return
        client = parse_client(str(row.client_id))
        if not conn.execute(sa.select(t.gateways.c.id)
                            .where(t.gateways.c.id == str(server))).first():
            raise UnknownMember(f"gateway {server} is no longer registered")
        self._check_new_client(conn, server, client)
        self._require_member(conn, client.member)
        if isinstance(client, SubsystemId):
            self._insert_subsystem(conn, client, must_be_new=False)
        conn.execute(t.gateway_clients.insert().values(gateway_id=str(server),
                                                       client_id=str(client)))

    def request(self, request_id: int) -> RequestRow:
        _check_request_id(request_id)
        with self._read() as conn:
            row = conn.execute(sa.select(t.registration_requests)
                               .where(t.registration_requests.c.id == request_id)).first()
        if row is None:
            raise NotFound(f"no registration request {request_id}")
        return _request_row(row)

    def requests(self, state: State | None = None) -> list[RequestRow]:
        q = sa.select(t.registration_requests).order_by(t.registration_requests.c.id)
        if state is not None:
            q = q.where(t.registration_requests.c.state == state.value)
        with self._read() as conn:
            return [_request_row(r) for r in conn.execute(q).all()]

    def gateways(self) -> list[GatewayRow]:
        with self._read() as conn:
            gws = conn.execute(sa.select(t.gateways).order_by(t.gateways.c.id)).all()
            clients = conn.execute(sa.select(t.gateway_clients)).all()
        by_gw: dict[str, list[str]] = {}
        for gid, cid in clients:
            by_gw.setdefault(gid, []).append(cid)
        return [GatewayRow(g.id, g.address, g.auth_fingerprint, tuple(sorted(by_gw.get(g.id, []))))
                for g in gws]

    # -- the global configuration ----------------------------------------------

    def snapshot(self, *, at: datetime, expire_after: timedelta,
                 refresh_interval: int) -> GlobalConf:
        """Everything in one consistent read, as the unsigned configuration document."""
        at = at.replace(microsecond=0)
        with self._read() as conn, conn.begin():
            version = int(conn.execute(sa.select(t.conf_state.c.version)).scalar() or 0)
            keys = conn.execute(sa.select(t.config_keys)
                                .where(t.config_keys.c.status == "active")).all()
            ca_rows = conn.execute(sa.select(t.cas)).all()
            revs = conn.execute(sa.select(t.revocations)).all()
            member_rows = conn.execute(sa.select(t.members)).all()
            sub_rows = conn.execute(sa.select(t.subsystems)).all()
            gw_rows = conn.execute(sa.select(t.gateways)).all()
            gc_rows = conn.execute(sa.select(t.gateway_clients)).all()
            grp_rows = conn.execute(sa.select(t.global_groups)).all()
            grm_rows = conn.execute(sa.select(t.global_group_members)).all()
            ledger_rows = conn.execute(sa.select(t.ledger_endpoints)).all()
            purpose_rows = conn.execute(sa.select(t.purposes)).all()
        revoked: dict[str, list[RevokedCert]] = {}
        for r in revs:
            when = (_aware(r.revoked_at) or at).replace(microsecond=0)
            revoked.setdefault(r.ca_fingerprint, []).append(RevokedCert(r.serial, when))
        subs: dict[str, list[str]] = {}
        for s in sub_rows:
            subs.setdefault(s.member_id, []).append(SubsystemId.parse(s.id).subsystem_code)
        hosted: dict[str, list[ClientId]] = {}
        for gid, cid in gc_rows:
            hosted.setdefault(gid, []).append(parse_client(cid))
        grouped: dict[str, list[ClientId]] = {}
        for gid, cid in grm_rows:
            grouped.setdefault(gid, []).append(parse_client(cid))
        return GlobalConf(
            instance=self.instance,
            version=version,
            issued_at=at,
            expires_at=at + expire_after,
            refresh_interval=refresh_interval,
            signing_keys=tuple(SigningKey(k.key_id, k.algorithm, bytes(k.public_key))
                               for k in keys),
            cas=tuple(CaEntry(c.name, c.certificate_pem, c.fingerprint,
                              tuple(revoked.get(c.fingerprint, ()))) for c in ca_rows),
            members=tuple(MemberEntry(MemberId.parse(m.id), m.name, tuple(subs.get(m.id, ())))
                          for m in member_rows),
            gateways=tuple(GatewayEntry(ServerId.parse(g.id), g.address, g.auth_fingerprint,
                                        tuple(hosted.get(g.id, ()))) for g in gw_rows),
            global_groups=tuple(GlobalGroupEntry(GlobalGroupId.parse(g.id), g.description,
                                                 tuple(grouped.get(g.id, ())))
                                for g in grp_rows),
            ledger=LedgerSettings(endpoints=tuple(r.url for r in ledger_rows),
                                  keys=tuple(r.public_key for r in ledger_rows if r.public_key)),
            purposes=tuple(PurposeEntry(r.code, r.text) for r in purpose_rows),
        )


def _pairs(rows: Iterable[Sequence[object]]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(row[0]), str(row[1])) for row in rows))


def _listing(what: str, ids: Iterable[str]) -> str:
    names = sorted(set(ids))
    if not names:
        return ""
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return f"{what} {shown}"


def _trimmed(text: object) -> object:
    """Surrounding whitespace is not part of a name; anything not text is left for the rule
    to refuse (the management API hands over what the JSON held)."""
    return text.strip() if isinstance(text, str) else text


def _has_ext(cert: x509.Certificate, cls: type) -> bool:
    try:
        cert.extensions.get_extension_for_class(cls)
    except x509.ExtensionNotFound:
        return False
    return True


def _request_row(row: sa.Row[tuple[object, ...]]) -> RequestRow:
    return RequestRow(
        id=int(row.id),
        kind=str(row.kind), server_id=str(row.server_id),
        client_id=str(row.client_id) if row.client_id else None,
        address=str(row.address) if row.address else None,
        state=str(row.state),
        submitted_at=_aware(row.submitted_at) or row.submitted_at,
        decided_at=_aware(row.decided_at),
        reason=str(row.reason or ""),
    )


def _check_request_id(request_id: int) -> None:
    """A request id the database can hold (INTEGER), or :class:`NotFound` — never a
    driver overflow (issue 12: ``2^63`` was a 500 on SQLite, ``2^31`` on PostgreSQL)."""
    if not 1 <= request_id <= MAX_REQUEST_ID:
        raise NotFound(f"no registration request {request_id}")
