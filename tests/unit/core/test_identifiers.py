"""X-Road identifiers: grammar, percent-encoding, round trips."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sild.core.identifiers import (
    GlobalGroupId,
    MemberId,
    ServerId,
    ServiceId,
    SubsystemId,
    parse_client,
)
from sild.errors import InvalidIdentifier

ALLOWED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'()+,-.=?"
part = st.text(alphabet=ALLOWED, min_size=1, max_size=20)


@given(part, part, part)
def test_member_format_parse_identity(i: str, c: str, m: str) -> None:
    """format∘parse is the identity on member ids."""
    text = f"{i}/{c}/{m}"
    assert str(MemberId.parse(text)) == text


@given(part, part, part, part, part)
def test_service_format_parse_identity(i: str, c: str, m: str, s: str, v: str) -> None:
    """format∘parse is the identity on service ids, and the path form parses back."""
    text = f"{i}/{c}/{m}/{s}/{v}"
    sid = ServiceId.parse(text)
    assert str(sid) == text
    assert ServiceId.parse(sid.path()) == sid


@given(part, part, part, st.one_of(st.none(), part))
def test_client_parse_of_format(i: str, c: str, m: str, s: str | None) -> None:
    """parse∘format is the identity on client ids, members and subsystems alike."""
    member = MemberId(i, c, m)
    client = member if s is None else SubsystemId(member, s)
    assert parse_client(str(client)) == client
    assert parse_client(client.path()) == client


def test_percent_encoded_parts_are_decoded() -> None:
    """Each part is percent-decoded on its own (PR-REST §4.2)."""
    assert SubsystemId.parse("EE/GOV/7000%30/r%3Fr") == SubsystemId(
        MemberId("EE", "GOV", "70000"), "r?r"
    )


def test_question_mark_is_encoded_in_paths() -> None:
    """A '?' in a code must not start the query string of a REST path."""
    assert ServiceId.parse("EE/GOV/1/rr/get?x").path() == "EE/GOV/1/rr/get%3Fx"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "EE",
        "EE/GOV",
        "EE/GOV/1/rr/x",  # five parts is not a client
        "EE//1",
        "EE/GOV/1/",
        "EE/GO V/1",
        "EE/GOV/ä",
        "EE/GOV/a%2Fb",  # an encoded slash is not an allowed character
        "EE/GOV/%zz",
        "EE/GOV/%C3",  # truncated UTF-8
        "EE/GOV/a;b",
        "EE/GOV/" + "x" * 256,
    ],
)
def test_malformed_client_ids_raise_one_error_type(text: str) -> None:
    """Malformed client identifiers raise InvalidIdentifier naming the problem."""
    with pytest.raises(InvalidIdentifier) as e:
        parse_client(text)
    assert str(e.value)


@given(st.text(max_size=40))
def test_arbitrary_text_parses_or_raises_invalid_identifier(text: str) -> None:
    """No input makes the parser raise anything but InvalidIdentifier."""
    with contextlib.suppress(InvalidIdentifier):
        parse_client(text)


def test_non_text_is_rejected() -> None:
    """A non-string identifier (e.g. from JSON) is an InvalidIdentifier, not a TypeError."""
    with pytest.raises(InvalidIdentifier):
        MemberId.parse(42)  # type: ignore[arg-type]


def test_constructor_validates_parts() -> None:
    """A malformed identifier cannot be built directly either."""
    with pytest.raises(InvalidIdentifier):
        MemberId("EE", "GOV", "a/b")


def test_server_and_group_ids() -> None:
    """Server ids have four parts, global group ids two."""
    assert ServerId.parse("EE/GOV/1/gw1").owner == MemberId("EE", "GOV", "1")
    assert str(GlobalGroupId.parse("EE/security-servers")) == "EE/security-servers"
    with pytest.raises(InvalidIdentifier):
        GlobalGroupId.parse("EE/a/b")
