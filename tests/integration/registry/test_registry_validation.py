"""The registry refuses, before storing, every input the global configuration could not
carry (docs/spec/globalconf.md §2.1), on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sild.core.dsse import Envelope
from sild.core.globalconf import MEMBER_NAME, encode_document, parse_document
from sild.core.identifiers import GlobalGroupId, MemberId
from sild.crypto.certs import serial_hex
from sild.errors import DuplicateEntry, InvalidRequest, UnknownMember
from sild.registry.requests import _envelope
from sild.registry.workflow import Action
from sild.testing.world import OWNER, World

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def _publishable(w: World) -> None:
    """The document the registry would sign now parses with the gateways' codec."""
    conf = w.registry.snapshot(at=w.clock(), expire_after=timedelta(seconds=600),
                               refresh_interval=60)
    assert parse_document(encode_document(conf)) == conf


def _unchanged(w: World, change: Callable[[], object]) -> InvalidRequest:
    """Run a change that must be refused; nothing stored, version unchanged."""
    before = (w.registry.version(), w.registry.members(), w.registry.groups(),
              w.registry.gateways())
    with pytest.raises(InvalidRequest) as e:
        change()
    assert (w.registry.version(), w.registry.members(), w.registry.groups(),
            w.registry.gateways()) == before
    assert "\n" not in str(e.value)
    return e.value


BAD_NAMES = [
    ("", "must be 1-255 characters"),
    ("   ", "must be 1-255 characters"),
    ("x" * 256, "must be 1-255 characters"),
    ("Ministry\nof Evil", "must not contain control characters (U+000A)"),
    ("nul\x00byte", "must not contain control characters (U+0000)"),
    ("lone \udcff", "must not contain control characters (U+DCFF)"),
]


@pytest.mark.parametrize(("name", "problem"), BAD_NAMES)
def test_bad_member_name_is_refused(world: World, name: str, problem: str) -> None:
    """A member name the document could not carry is refused and nothing is stored."""
    err = _unchanged(world, lambda: world.registry.add_member(MemberId("EE", "COM", "9"), name))
    assert str(err) == f"member name {problem}"


@pytest.mark.parametrize(("name", "problem"), BAD_NAMES)
def test_bad_rename_is_refused(world: World, name: str, problem: str) -> None:
    """Renaming to a bad name is refused the same way; the old name stays."""
    err = _unchanged(world, lambda: world.registry.edit_member(OWNER, name))
    assert problem in str(err)


def test_name_at_the_limit_is_published(world: World) -> None:
    """255 characters (the document's limit) are accepted and published; spaces trimmed."""
    world.registry.add_member(MemberId("EE", "COM", "9"), "  " + "ä" * 255 + " ")
    assert ("EE/COM/9", "ä" * 255, []) in world.registry.members()
    _publishable(world)


@pytest.mark.parametrize(
    ("description", "problem"),
    [("", "must be 1-1024 characters"), ("d" * 1025, "must be 1-1024 characters"),
     ("tab\there", "must not contain control characters (U+0009)")],
)
def test_bad_group_description_is_refused(world: World, description: str, problem: str) -> None:
    """A group description the document could not carry is refused: nothing stored."""
    gid = GlobalGroupId("EE", "security-servers")
    err = _unchanged(world, lambda: world.registry.add_group(gid, description))
    assert str(err) == f"group description {problem}"


def test_group_without_description_gets_its_code(world: World) -> None:
    """A group created without a description is described by its code, and publishable."""
    world.registry.add_group(GlobalGroupId("EE", "security-servers"))
    assert world.registry.groups() == [("EE/security-servers", "security-servers", [])]
    _publishable(world)


def test_duplicate_group_is_refused_by_name(world: World) -> None:
    """Creating a group twice says so (not a database message)."""
    world.registry.add_group(GlobalGroupId("EE", "g"))
    with pytest.raises(DuplicateEntry, match="global group EE/g already exists"):
        world.registry.add_group(GlobalGroupId("EE", "g"))


@pytest.mark.parametrize("name", ["", "x" * 256, "C\rA"])
def test_bad_ca_name_is_refused(world: World, name: str) -> None:
    """An approved CA's name obeys the document's rule for CA names."""
    from sild.testing.pki import TestPki

    other = TestPki.create(world.pki.ca.folder.parent / f"other-{len(name)}", at=world.clock())
    cas = len(world.registry.snapshot(at=world.clock(), expire_after=timedelta(seconds=60),
                                      refresh_interval=60).cas)
    with pytest.raises(InvalidRequest, match="CA name"):
        world.registry.add_ca(other.ca.certificate, name)
    assert len(world.registry.snapshot(at=world.clock(), expire_after=timedelta(seconds=60),
                                       refresh_interval=60).cas) == cas


@pytest.mark.parametrize(("given_serial", "stored"), [("00AB", "ab"), ("0x0f", "f"), ("0", "0")])
def test_serial_is_stored_as_gateways_compare_it(world: World, given_serial: str,
                                                 stored: str) -> None:
    """A serial with leading zeros or upper case is stored in the one spelling that matches."""
    world.registry.revoke(world.ca_fingerprint, given_serial)
    conf = world.registry.snapshot(at=world.clock(), expire_after=timedelta(seconds=60),
                                   refresh_interval=60)
    assert conf.is_revoked(world.ca_fingerprint, int(stored, 16))
    _publishable(world)


@pytest.mark.parametrize("serial", ["", "xyz", "1" * 65, "0x"])
def test_bad_serial_is_refused(world: World, serial: str) -> None:
    """A serial that is not 1-64 hex digits is refused and nothing revoked."""
    v = world.registry.version()
    with pytest.raises(InvalidRequest, match="is not hexadecimal"):
        world.registry.revoke(world.ca_fingerprint, serial)
    assert world.registry.version() == v


@pytest.mark.parametrize(("url", "key"), [("u" * 256, ""), ("", ""), ("http://l", "k\n")])
def test_bad_ledger_endpoint_is_refused(world: World, url: str, key: str) -> None:
    """Ledger endpoints and keys obey the document's rule for ledger values."""
    v = world.registry.version()
    with pytest.raises(InvalidRequest, match="ledger"):
        world.registry.add_ledger_endpoint(url, key)
    assert world.registry.version() == v


def _request_with_address(w: World, address: str) -> bytes:
    """A correctly signed gateway request whose address the builder would refuse."""
    env = Envelope.parse(w.gateway_request())
    payload = json.loads(env.payload)
    payload["address"] = address
    return _envelope(payload, {"owner": w.owner_sign.key, "auth": w.auth.key})


@pytest.mark.parametrize("address", ["gw.example", "gw.example:0", "gw.example:99999",
                                     "gw example:5500", "[::1:5500", "a" * 300 + ":1"])
def test_registration_with_bad_address_is_refused(world: World, address: str) -> None:
    """A signed request naming an address gateways could not use is refused at submit."""
    with pytest.raises(InvalidRequest, match="registration request: address"):
        world.registry.submit(_request_with_address(world, address))
    assert world.registry.requests() == []


def test_builder_refuses_bad_address_before_signing(world: World) -> None:
    """The gateway owner's side refuses a bad address before anything is sent."""
    with pytest.raises(InvalidRequest, match=r"gateway address 'gw\.example' must be host:port"):
        world.gateway_request(address="gw.example")


def test_pending_request_of_removed_member_cannot_be_approved(world: World) -> None:
    """Approval re-checks the owner: a member removed meanwhile cannot get a gateway."""
    row = world.registry.submit(world.gateway_request())
    world.registry.remove_member(OWNER)
    v = world.registry.version()
    with pytest.raises(UnknownMember, match="member EE/GOV/70000001 is not registered"):
        world.registry.decide(row.id, Action.APPROVE)
    assert world.registry.version() == v
    assert world.registry.gateways() == []
    _publishable(world)


_codes = itertools.count()


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(st.characters(codec="utf-8"), max_size=300))
def test_whatever_is_stored_can_be_published(world: World, name: str) -> None:
    """For any name: either the registry refuses it, or the next document carries it."""
    member = MemberId("EE", "PROP", str(next(_codes)))
    try:
        world.registry.add_member(member, name)
    except InvalidRequest:
        assert MEMBER_NAME.problem(name.strip()) is not None
        return
    _publishable(world)


def test_revoked_serial_of_a_real_certificate_matches(world: World) -> None:
    """The serial printed for a certificate revokes exactly that certificate."""
    serial = serial_hex(world.auth.certificate)
    world.registry.revoke(world.ca_fingerprint, serial.upper())
    conf = world.registry.snapshot(at=world.clock(), expire_after=timedelta(seconds=60),
                                   refresh_interval=60)
    assert conf.is_revoked(world.ca_fingerprint, world.auth.certificate.serial_number)


def test_stored_request_with_bad_address_cannot_be_approved(world: World) -> None:
    """A request an older release queued with a bad address is refused at approval."""
    from sild.registry.workflow import State
    from sild.store import registry_tables as t

    raw = _request_with_address(world, "gw.example")
    with world.registry.engine.begin() as conn:  # queued before addresses were checked
        rid = conn.execute(t.registration_requests.insert().values(
            kind="gateway", server_id="EE/GOV/70000001/gw1", address="gw.example",
            envelope=raw, state=State.SUBMITTED.value, submitted_at=world.clock(),
        )).inserted_primary_key[0]
    v = world.registry.version()
    with pytest.raises(InvalidRequest, match="registration request: address"):
        world.registry.decide(int(rid), Action.APPROVE)
    assert (world.registry.version(), world.registry.gateways()) == (v, [])
    assert world.registry.request(int(rid)).state == State.SUBMITTED
