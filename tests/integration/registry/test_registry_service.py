"""The registry on SQLite and PostgreSQL: records, workflow, forged requests, snapshot."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from sild.core.dsse import Envelope, Signature
from sild.core.identifiers import GlobalGroupId, MemberId, ServerId, SubsystemId
from sild.crypto.certs import fingerprint, serial_hex
from sild.crypto.keys import KeyType, generate_key
from sild.errors import (
    CertificateError,
    CertificateRevoked,
    DuplicateEntry,
    InvalidRequest,
    InvalidStateTransition,
    NotFound,
    SignatureError,
    UnknownMember,
)
from sild.registry.workflow import Action, State
from sild.testing.world import CLIENT, OTHER, OWNER, SERVER, World

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def _conf(w: World):  # type: ignore[no-untyped-def]
    return w.registry.snapshot(at=w.clock(), expire_after=timedelta(seconds=600),
                               refresh_interval=60)


def test_every_change_bumps_the_version(world: World) -> None:
    """Adding a member and a subsystem each bump the configuration version by one."""
    v = world.registry.version()
    world.registry.add_member(OTHER, "Company")
    world.registry.add_subsystem(SubsystemId(OTHER, "crm"))
    assert world.registry.version() == v + 2


def test_duplicate_member_is_refused_and_version_unchanged(world: World) -> None:
    """A duplicate member changes nothing, not even the version."""
    v = world.registry.version()
    with pytest.raises(DuplicateEntry):
        world.registry.add_member(OWNER, "again")
    assert world.registry.version() == v


def test_member_of_another_instance_is_refused(world: World) -> None:
    """The registry only holds identifiers of its own instance."""
    with pytest.raises(InvalidRequest, match="not in instance EE"):
        world.registry.add_member(MemberId("FI", "GOV", "1"), "x")


def test_gateway_registration_submit_approve(world: World) -> None:
    """A signed gateway request is queued, approved, and then in the configuration."""
    v = world.registry.version()
    row = world.registry.submit(world.gateway_request())
    assert row.state == State.SUBMITTED
    assert world.registry.version() == v  # a pending request is not configuration
    world.registry.decide(row.id, Action.APPROVE)
    assert world.registry.version() == v + 1
    gw = _conf(world).gateway(SERVER)
    assert gw is not None
    assert gw.address == "127.0.0.1:5500"
    assert gw.auth_fingerprint == fingerprint(world.auth.certificate)


def test_client_registration_creates_and_hosts_subsystem(world: World) -> None:
    """Approving a client request creates the subsystem and hosts it on the gateway."""
    world.registry.decide(world.registry.submit(world.gateway_request()).id, Action.APPROVE)
    row = world.registry.submit(world.client_request())
    world.registry.decide(row.id, Action.APPROVE)
    conf = _conf(world)
    assert conf.gateway(SERVER).clients == (CLIENT,)
    assert conf.member(OWNER).subsystems == ("rr",)


def test_client_of_another_member_needs_its_cosignature(world: World) -> None:
    """Hosting another member's subsystem needs that member's sign key too."""
    world.registry.decide(world.registry.submit(world.gateway_request()).id, Action.APPROVE)
    world.registry.add_member(OTHER, "Company")
    other_sub = SubsystemId(OTHER, "crm")
    with pytest.raises(InvalidRequest, match="must co-sign"):
        world.registry.submit(world.client_request(other_sub))
    row = world.registry.submit(world.client_request(
        other_sub, client_cred=world.pki.sign_credential(OTHER)))
    assert row.client_id == str(other_sub)
    wrong = world.pki.sign_credential(MemberId("EE", "COM", "999"))
    with pytest.raises(CertificateError, match="client sign certificate is for"):
        world.registry.submit(world.client_request(SubsystemId(OTHER, "x"), client_cred=wrong))


def test_rejected_request_changes_nothing(world: World) -> None:
    """A rejected request is final and leaves the configuration as it was."""
    v = world.registry.version()
    row = world.registry.submit(world.gateway_request())
    rejected = world.registry.decide(row.id, Action.REJECT, reason="unknown org")
    assert (rejected.state, rejected.reason) == (State.REJECTED, "unknown org")
    assert world.registry.version() == v + 1  # the decision itself is recorded
    assert _conf(world).gateway(SERVER) is None
    with pytest.raises(InvalidStateTransition):
        world.registry.decide(row.id, Action.APPROVE)


def test_approving_twice_is_an_invalid_transition(world: World) -> None:
    """APPROVED is final."""
    row = world.registry.submit(world.gateway_request())
    world.registry.decide(row.id, Action.APPROVE)
    with pytest.raises(InvalidStateTransition, match="cannot approve"):
        world.registry.decide(row.id, Action.APPROVE)
    with pytest.raises(NotFound):
        world.registry.decide(999, Action.APPROVE)


def _flip_signature(raw: bytes) -> bytes:
    env = Envelope.parse(raw)
    sigs = tuple(Signature(s.keyid, bytes([s.sig[0] ^ 1]) + s.sig[1:]) if s.keyid == "owner"
                 else s for s in env.signatures)
    return Envelope(env.payload_type, env.payload, sigs).encode()


def test_bad_signature_is_refused(world: World) -> None:
    """A request whose owner signature does not verify is refused and not stored."""
    with pytest.raises(SignatureError, match="bad owner signature"):
        world.registry.submit(_flip_signature(world.gateway_request()))
    assert world.registry.requests() == []


def test_signature_by_another_key_is_refused(world: World) -> None:
    """Signing with a key that is not the certificate's is a bad signature."""
    impostor = world.pki.sign_credential(OWNER)
    forged = type(world.owner_sign)(impostor.key, world.owner_sign.certificate)
    with pytest.raises(SignatureError):
        world.registry.submit(world.gateway_request(owner=forged))


def test_tampered_payload_is_refused(world: World) -> None:
    """Changing the address after signing breaks the signatures."""
    env = Envelope.parse(world.gateway_request())
    payload = json.loads(env.payload)
    payload["address"] = "evil.example:5500"
    forged = Envelope(env.payload_type, json.dumps(payload).encode(), env.signatures).encode()
    with pytest.raises(SignatureError):
        world.registry.submit(forged)


def test_unknown_owner_is_refused(world: World) -> None:
    """The owner must be a registered member."""
    stranger = MemberId("EE", "COM", "55555555")
    server = ServerId(stranger, "gw9")
    with pytest.raises(UnknownMember, match="not registered"):
        world.registry.submit(world.gateway_request(
            server=server, auth=world.pki.auth_credential(server),
            owner=world.pki.sign_credential(stranger)))


def test_duplicate_server_code_is_refused(world: World) -> None:
    """A server code already registered for the owner cannot be registered again."""
    world.registry.decide(world.registry.submit(world.gateway_request()).id, Action.APPROVE)
    with pytest.raises(DuplicateEntry, match="server code gw1 is already registered"):
        world.registry.submit(world.gateway_request(auth=world.pki.auth_credential(SERVER)))


def test_second_pending_request_for_same_server_is_refused(world: World) -> None:
    """Two pending requests for one server code cannot both be approved."""
    world.registry.submit(world.gateway_request())
    with pytest.raises(DuplicateEntry, match="already pending"):
        world.registry.submit(world.gateway_request(auth=world.pki.auth_credential(SERVER)))


def test_owner_certificate_of_another_member_is_refused(world: World) -> None:
    """The owner's sign certificate must name the owner."""
    world.registry.add_member(OTHER, "Company")
    with pytest.raises(CertificateError, match="is for EE/COM/12345678"):
        world.registry.submit(world.gateway_request(owner=world.pki.sign_credential(OTHER)))


def test_auth_certificate_used_as_sign_is_refused(world: World) -> None:
    """Key usage is checked on use: an auth certificate cannot sign as the owner."""
    wrong = world.pki.auth_credential(SERVER)
    with pytest.raises(CertificateError, match="not a sign certificate"):
        world.registry.submit(world.gateway_request(owner=wrong))


def test_certificate_from_unapproved_ca_is_refused(world: World, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Certificates must chain to an approved CA."""
    from sild.testing.pki import TestPki

    rogue = TestPki.create(tmp_path / "rogue", at=world.clock())
    with pytest.raises(CertificateError, match="not issued by an approved CA"):
        world.registry.submit(world.gateway_request(auth=rogue.auth_credential(SERVER)))


def test_revocation_flows_into_configuration_and_blocks_use(world: World) -> None:
    """A revoked certificate is listed in the configuration and refused afterwards."""
    serial = serial_hex(world.auth.certificate)
    world.registry.revoke(world.ca_fingerprint, serial, reason="key compromise")
    assert _conf(world).is_revoked(world.ca_fingerprint, serial)
    with pytest.raises(CertificateRevoked):
        world.registry.submit(world.gateway_request())
    with pytest.raises(DuplicateEntry):
        world.registry.revoke(world.ca_fingerprint, serial)
    with pytest.raises(InvalidRequest):
        world.registry.revoke(world.ca_fingerprint, "not-hex")


def test_revocation_before_approval_blocks_approval(world: World) -> None:
    """Approval re-checks the certificate; nothing is applied if it was revoked."""
    row = world.registry.submit(world.gateway_request())
    world.registry.revoke(world.ca_fingerprint, serial_hex(world.auth.certificate))
    v = world.registry.version()
    with pytest.raises(CertificateRevoked):
        world.registry.decide(row.id, Action.APPROVE)
    assert world.registry.request(row.id).state == State.SUBMITTED
    assert world.registry.version() == v
    assert world.registry.gateways() == []


def test_stale_request_is_refused(world: World) -> None:
    """A request signed more than a day ago cannot be replayed."""
    raw = world.gateway_request()
    world.clock.advance(25 * 3600)
    with pytest.raises(InvalidRequest, match="stale"):
        world.registry.submit(raw)


@pytest.mark.parametrize(
    "raw",
    [b"", b"{}", b"[]", b"not json", b'{"payloadType":"x","payload":"!!","signatures":[]}',
     b"\xff\xfe", b"{" * 5000],
)
def test_garbage_requests_are_invalid(world: World, raw: bytes) -> None:
    """Garbage bodies give InvalidRequest, never a crash."""
    with pytest.raises(InvalidRequest):
        world.registry.submit(raw)


def test_global_groups(world: World) -> None:
    """Groups hold registered clients and appear in the configuration."""
    gid = GlobalGroupId("EE", "security-servers")
    world.registry.add_group(gid, "all")
    world.registry.add_subsystem(CLIENT)
    world.registry.group_add(gid, CLIENT)
    assert _conf(world).group_members(gid) == (CLIENT,)
    with pytest.raises(UnknownMember):
        world.registry.group_add(gid, SubsystemId(OWNER, "nope"))
    world.registry.group_remove(gid, CLIENT)
    with pytest.raises(NotFound):
        world.registry.group_remove(gid, CLIENT)


def test_config_key_rotation_rules(world: World) -> None:
    """Keys can be added and retired, but never the last active one."""
    first = world.registry.config_keys()[0][0]
    new = world.registry.add_config_key(generate_key(KeyType.ED25519).public_key())
    assert {k.key_id for k in _conf(world).signing_keys} == {first, new}
    world.registry.retire_config_key(first)
    assert {k.key_id for k in _conf(world).signing_keys} == {new}
    with pytest.raises(InvalidRequest, match="last active"):
        world.registry.retire_config_key(new)
    with pytest.raises(InvalidRequest, match="Ed25519"):
        world.registry.add_config_key(generate_key(KeyType.P256).public_key())
