"""The e-Residency workflow (docs/spec/identity.md §5.2; research/citizen.md §3.2).

application (document photo hash + reason) → background check by a **police**
officer → decision by a **registrar** (approve/reject, who and why; the decider is
never the checker, and a flagged check can only be rejected) → issuance (a new
Estonian personal code, keys, certificates, token) → pickup (the applicant shows
the same document: its photo hash must match).
"""

from __future__ import annotations

import datetime as dt
import hmac
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sild.core.personal_code import Sex
from sild.errors import InvalidRequest, InvalidStateTransition, NotFound
from sild.identity._common import aware, check_id, new_id, reason_text
from sild.identity.profiles import PersonName
from sild.identity.records import (
    Application,
    ApplicationState,
    CheckResult,
    OfficerRole,
    PersonKind,
    application_step,
)
from sild.identity.service import IdentityService, Issued
from sild.identity.token import Pins
from sild.store.identity_tables import applications

__all__ = ["EResidency", "parse_sha256"]


def parse_sha256(text: object, what: str = "document photo hash") -> str:
    """64 hex digits, lower-cased."""
    if (not isinstance(text, str) or len(text) != 64
            or any(c not in "0123456789abcdefABCDEF" for c in text)):
        raise InvalidRequest(f"{what} must be a SHA-256 in hex (64 hex digits)")
    return text.lower()


class EResidency:
    """The workflow, on top of an :class:`IdentityService`."""

    def __init__(self, service: IdentityService) -> None:
        self.s = service

    def apply(self, *, citizenship: str, given_name: str, surname: str,
              birth_date: dt.date, sex: Sex, document_photo_sha256: str,
              reason: str) -> Application:
        """Record an application (state ``submitted``)."""
        if (not isinstance(citizenship, str) or len(citizenship) != 2
                or not citizenship.isascii() or not citizenship.isalpha()):
            raise InvalidRequest("citizenship must be an ISO 3166-1 alpha-2 country code")
        name = PersonName.parse(given_name, surname)
        if not dt.date(1900, 1, 1) <= birth_date <= self.s.clock().date():
            raise InvalidRequest(f"birth date {birth_date} is not plausible")
        at = self.s.clock()
        with self.s.tx() as conn:
            res = conn.execute(applications.insert().values(
                state=ApplicationState.SUBMITTED.value, citizenship=citizenship.upper(),
                given_name=name.given, surname=name.surname, birth_date=birth_date,
                sex=sex.value, document_photo_sha256=parse_sha256(document_photo_sha256),
                reason=reason_text(reason), submitted_at=at))
            app_id = new_id(res)
            self.s.event(conn, action="apply", actor="applicant", reason=reason_text(reason), at=at,
                         application_id=app_id)
        return self.get(app_id)

    def _move(self, conn: Connection, app_id: int, step: str, values: dict[str, Any]) -> Any:
        check_id(app_id, "e-Residency application")
        row = conn.execute(sa.select(applications).where(applications.c.id == app_id)).first()
        if row is None:
            raise NotFound(f"no e-Residency application {app_id}")
        before = ApplicationState(row.state)
        after = application_step(before, step, application_id=app_id)
        res = conn.execute(applications.update().where(
            applications.c.id == app_id, applications.c.state == before.value,
        ).values(state=after.value, **values))
        if res.rowcount != 1:
            raise InvalidStateTransition(f"application {app_id} changed meanwhile; retry")
        return row

    def check(self, app_id: int, *, officer: str, result: CheckResult,
              note: str) -> Application:
        """The background check, by a police officer."""
        at = self.s.clock()
        with self.s.tx() as conn:
            officer = self.s.require_officer(conn, officer, OfficerRole.POLICE)
            self._move(conn, app_id, "check", {
                "checked_by": officer, "check_result": result.value,
                "check_note": reason_text(note), "checked_at": at})
            self.s.event(conn, action=f"check-{result.value}", actor=officer, reason=note,
                         at=at, application_id=app_id)
        return self.get(app_id)

    def decide(self, app_id: int, *, officer: str, approve: bool, reason: str) -> Application:
        """Approve or reject, by a registrar who did not run the check."""
        at = self.s.clock()
        step = "approve" if approve else "reject"
        with self.s.tx() as conn:
            officer = self.s.require_officer(conn, officer, OfficerRole.REGISTRAR)
            row = self._move(conn, app_id, step, {
                "decided_by": officer, "decision": step, "decision_reason": reason_text(reason),
                "decided_at": at})
            if row.checked_by == officer:
                raise InvalidRequest(f"{officer!r} ran the background check; another "
                                     "officer must decide (four eyes)")
            if approve and row.check_result != CheckResult.CLEAR.value:
                raise InvalidStateTransition(
                    f"application {app_id}: the background check flagged the applicant; "
                    "it can only be rejected")
            self.s.event(conn, action=step, actor=officer, reason=reason, at=at,
                         application_id=app_id)
        return self.get(app_id)

    def issue(self, app_id: int, pins: Pins, *, actor: str) -> Issued:
        """Give an approved applicant an Estonian personal code and an identity."""
        at = self.s.clock()
        with self.s.issuing() as (conn, written):
            row = self._move(conn, app_id, "issue", {"issued_at": at})
            code = self.s.new_eresident_code(conn, row.birth_date, Sex(row.sex))
            name = PersonName(row.given_name, row.surname)
            person_id = self.s.upsert_person(conn, code, name, PersonKind.E_RESIDENT, at)
            identity_id = self.s.issue_into(conn, person_id=person_id, code=code, name=name,
                                            pins=pins, at=at, written=written)
            conn.execute(applications.update().where(applications.c.id == app_id).values(
                person_id=person_id, identity_id=identity_id))
            self.s.event(conn, action="issue", actor=actor, reason=f"e-Residency {app_id}",
                         at=at, identity_id=identity_id, application_id=app_id)
        return Issued(self.s.get(identity_id), self.s.token_path(identity_id))

    def pickup(self, app_id: int, out: Path, *, document_photo_sha256: str,
               actor: str) -> Path:
        """Hand the token to the applicant who shows the same document."""
        shown = parse_sha256(document_photo_sha256)
        app = self.get(app_id)
        application_step(app.state, "pickup", application_id=app_id)
        if not hmac.compare_digest(shown, app.document_photo_sha256):
            raise InvalidRequest(f"application {app_id}: the document shown is not the one "
                                 "applied with")
        assert app.identity_id is not None
        at = self.s.clock()

        def also(conn: Connection) -> None:  # in the same transaction as the token handover
            self._move(conn, app_id, "pickup", {"picked_up_at": at})
            self.s.event(conn, action="pickup", actor=actor, at=at, application_id=app_id)

        return self.s.pickup(app.identity_id, out, actor=actor, also=also)

    def get(self, app_id: int) -> Application:
        check_id(app_id, "e-Residency application")
        with self.s.engine.connect() as conn:
            r = conn.execute(sa.select(applications).where(applications.c.id == app_id)).first()
        if r is None:
            raise NotFound(f"no e-Residency application {app_id}")
        return _application(r)

    def list_applications(self, *, state: ApplicationState | None = None) -> list[Application]:
        q = sa.select(applications).order_by(applications.c.id).limit(1000)
        if state is not None:
            q = q.where(applications.c.state == state.value)
        with self.s.engine.connect() as conn:
            return [_application(r) for r in conn.execute(q)]


def _application(r: Any) -> Application:
    return Application(
        id=int(r.id), state=ApplicationState(r.state), citizenship=r.citizenship,
        given_name=r.given_name, surname=r.surname, birth_date=r.birth_date, sex=r.sex,
        document_photo_sha256=r.document_photo_sha256, reason=r.reason,
        submitted_at=aware(r.submitted_at), checked_by=r.checked_by,
        check_result=CheckResult(r.check_result) if r.check_result else None,
        check_note=r.check_note, decided_by=r.decided_by, decision=r.decision,
        decision_reason=r.decision_reason, person_id=r.person_id, identity_id=r.identity_id)
