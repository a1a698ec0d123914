"""The e-Residency workflow on a real store (docs/spec/identity.md §5.2)."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest

from sild.core.personal_code import Sex
from sild.core.personal_code import parse as parse_code
from sild.errors import InvalidRequest, InvalidStateTransition, NotFound
from sild.identity.eresidency import EResidency
from sild.identity.records import Application, ApplicationState, CheckResult, PersonKind
from sild.identity.token import Pins, SoftToken

PINS = Pins("1234", "12345", "12345678")
PHOTO = hashlib.sha256(b"passport photo page").hexdigest()


def apply(eres: EResidency) -> Application:
    return eres.apply(citizenship="JP", given_name="Haruki", surname="Tanaka",
                      birth_date=dt.date(1985, 4, 2), sex=Sex.MALE,
                      document_photo_sha256=PHOTO, reason="run a company in the EU")


def approved(eres: EResidency) -> Application:
    app = apply(eres)
    eres.check(app.id, officer="Peeter Politsei", result=CheckResult.CLEAR, note="no records")
    return eres.decide(app.id, officer="Rita Registrar", approve=True, reason="business plan ok")


def test_full_workflow(eres: EResidency, tmp_path: Path) -> None:
    """apply → check → approve → issue → pickup gives an e-resident an EE code and a token."""
    app = approved(eres)
    assert app.state is ApplicationState.APPROVED
    assert (app.checked_by, app.decided_by) == ("Peeter Politsei", "Rita Registrar")
    issued = eres.issue(app.id, PINS, actor="clerk")
    ident = issued.identity
    code = ident.person.code
    assert code.country == "EE"
    assert parse_code("EE", code.code) == code  # a valid isikukood ...
    assert (code.birth_date, code.sex) == (dt.date(1985, 4, 2), Sex.MALE)  # ... for him
    assert ident.person.kind is PersonKind.E_RESIDENT
    assert eres.get(app.id).state is ApplicationState.ISSUED
    out = tmp_path / "haruki.token"
    eres.pickup(app.id, out, document_photo_sha256=PHOTO.upper(), actor="clerk")
    assert eres.get(app.id).state is ApplicationState.PICKED_UP
    assert SoftToken.open(out).certificate("sign") == ident.sign_certificate


def test_check_needs_a_police_officer(eres: EResidency) -> None:
    """A registrar cannot run the background check; an unknown name is NotFound."""
    app = apply(eres)
    with pytest.raises(InvalidRequest, match="is registrar; this step needs police"):
        eres.check(app.id, officer="Rita Registrar", result=CheckResult.CLEAR, note="x")
    with pytest.raises(NotFound, match="no officer"):
        eres.check(app.id, officer="Nobody", result=CheckResult.CLEAR, note="x")
    assert eres.get(app.id).state is ApplicationState.SUBMITTED


def test_decision_needs_a_registrar(eres: EResidency) -> None:
    """The police officer cannot decide (role), so the checker never decides (four eyes)."""
    app = apply(eres)
    eres.check(app.id, officer="Peeter Politsei", result=CheckResult.CLEAR, note="ok")
    with pytest.raises(InvalidRequest, match="needs registrar"):
        eres.decide(app.id, officer="Peeter Politsei", approve=True, reason="x")
    assert eres.get(app.id).state is ApplicationState.CHECKED


def test_approval_before_check_is_refused(eres: EResidency) -> None:
    """Approving an unchecked application is an InvalidStateTransition."""
    app = apply(eres)
    with pytest.raises(InvalidStateTransition, match="approve needs it checked"):
        eres.decide(app.id, officer="Rita Registrar", approve=True, reason="x")


def test_flagged_check_can_only_be_rejected(eres: EResidency) -> None:
    """A flagged background check blocks approval; rejection records who and why."""
    app = apply(eres)
    eres.check(app.id, officer="Peeter Politsei", result=CheckResult.FLAGGED,
               note="sanctions list match")
    with pytest.raises(InvalidStateTransition, match="flagged"):
        eres.decide(app.id, officer="Rita Registrar", approve=True, reason="x")
    assert eres.get(app.id).state is ApplicationState.CHECKED
    done = eres.decide(app.id, officer="Kalle Kaks", approve=False, reason="sanctions")
    assert (done.state, done.decided_by, done.decision_reason) == (
        ApplicationState.REJECTED, "Kalle Kaks", "sanctions")


def test_rejected_is_final(eres: EResidency) -> None:
    """A rejected application cannot be checked, approved or issued."""
    app = apply(eres)
    eres.decide(app.id, officer="Rita Registrar", approve=False, reason="incomplete")
    with pytest.raises(InvalidStateTransition):
        eres.check(app.id, officer="Peeter Politsei", result=CheckResult.CLEAR, note="x")
    with pytest.raises(InvalidStateTransition, match="issue needs it approved"):
        eres.issue(app.id, PINS, actor="clerk")


def test_issue_twice_is_refused(eres: EResidency) -> None:
    """An application is issued once."""
    app = approved(eres)
    eres.issue(app.id, PINS, actor="clerk")
    with pytest.raises(InvalidStateTransition):
        eres.issue(app.id, PINS, actor="clerk")


def test_pickup_with_another_document_is_refused(eres: EResidency, tmp_path: Path) -> None:
    """The person picking up must show the document applied with (its photo hash)."""
    app = approved(eres)
    eres.issue(app.id, PINS, actor="clerk")
    out = tmp_path / "t.token"
    with pytest.raises(InvalidRequest, match="not the one applied with"):
        eres.pickup(app.id, out, document_photo_sha256="0" * 64, actor="clerk")
    assert not out.exists()
    assert eres.get(app.id).state is ApplicationState.ISSUED


def test_pickup_before_issue_is_refused(eres: EResidency, tmp_path: Path) -> None:
    """Nothing to pick up before issuance."""
    app = approved(eres)
    with pytest.raises(InvalidStateTransition, match="pickup needs it issued"):
        eres.pickup(app.id, tmp_path / "t.token", document_photo_sha256=PHOTO, actor="clerk")


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [("document_photo_sha256", "abc", "64 hex digits"),
     ("document_photo_sha256", "g" * 64, "64 hex digits"),
     ("citizenship", "JPN", "alpha-2"),
     ("reason", "", "reason"),
     ("given_name", "", "empty"),
     ("birth_date", dt.date(1850, 1, 1), "not plausible"),
     ("birth_date", dt.date(2099, 1, 1), "not plausible")],
)
def test_malformed_applications(eres: EResidency, field: str, value: object, why: str) -> None:
    """Bad hashes, countries, reasons, names and birth dates are refused; nothing stored."""
    args: dict[str, object] = {
        "citizenship": "JP", "given_name": "Haruki", "surname": "Tanaka",
        "birth_date": dt.date(1985, 4, 2), "sex": Sex.MALE, "document_photo_sha256": PHOTO,
        "reason": "business"}
    args[field] = value
    with pytest.raises(InvalidRequest, match=why):
        eres.apply(**args)  # type: ignore[arg-type]
    assert eres.list_applications() == []


def test_unknown_application(eres: EResidency) -> None:
    """Steps on an unknown application id are NotFound."""
    with pytest.raises(NotFound, match="no e-Residency application 42"):
        eres.check(42, officer="Peeter Politsei", result=CheckResult.CLEAR, note="x")
