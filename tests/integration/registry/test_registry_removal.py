"""Editing and removing members, subsystems and global groups (docs/guide.md §5), on
SQLite and PostgreSQL: each change is whole, bumps the version, and leaves a document
that refers to nothing that is gone."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sild.core.globalconf import GlobalConf, encode_document, parse_document
from sild.core.identifiers import GlobalGroupId, MemberId, SubsystemId
from sild.errors import InvalidRequest, NotFound
from sild.registry.workflow import Action
from sild.testing.world import CLIENT, OTHER, OWNER, SERVER, World

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

GROUP = GlobalGroupId("EE", "security-servers")


def _conf(w: World) -> GlobalConf:
    """The next document, after the gateways' own codec read it back."""
    conf = w.registry.snapshot(at=w.clock(), expire_after=timedelta(seconds=600),
                               refresh_interval=60)
    parsed = parse_document(encode_document(conf))
    assert parsed == conf
    return parsed


def _refers_to_known_clients(conf: GlobalConf) -> None:
    """Every hosted client and group member is a registered member or subsystem."""
    for gw in conf.gateways:
        assert conf.member(gw.id.owner) is not None
        assert all(conf.has_client(c) for c in gw.clients)
    for g in conf.global_groups:
        assert all(conf.has_client(c) for c in g.members)


def _hosted(w: World) -> None:
    """OWNER runs gateway gw1 hosting its subsystem rr; rr and OWNER are in GROUP."""
    w.registry.decide(w.registry.submit(w.gateway_request()).id, Action.APPROVE)
    w.registry.decide(w.registry.submit(w.client_request()).id, Action.APPROVE)
    w.registry.add_group(GROUP, "Security servers")
    w.registry.group_add(GROUP, CLIENT)
    w.registry.group_add(GROUP, OWNER)


def test_edit_member_renames_in_next_document(world: World) -> None:
    """member edit changes the name in the next document and bumps the version by one."""
    v = world.registry.version()
    world.registry.edit_member(OWNER, "  Ministry of Proofs ")
    assert world.registry.version() == v + 1
    entry = _conf(world).member(OWNER)
    assert entry is not None
    assert entry.name == "Ministry of Proofs"


def test_edit_group_changes_description(world: World) -> None:
    """group edit changes the description in the next document."""
    world.registry.add_group(GROUP)
    world.registry.edit_group(GROUP, "All security servers")
    assert [g.description for g in _conf(world).global_groups] == ["All security servers"]


def test_remove_group_takes_its_memberships(world: World) -> None:
    """group remove deletes the group and its memberships; the members stay."""
    _hosted(world)
    v = world.registry.version()
    removal = world.registry.remove_group(GROUP)
    assert removal.group_memberships == (
        (str(GROUP), str(OWNER)), (str(GROUP), str(CLIENT)))
    assert world.registry.version() == v + 1
    conf = _conf(world)
    assert conf.global_groups == ()
    assert conf.has_client(CLIENT)
    world.registry.add_group(GROUP)  # the id is free again, and the group starts empty
    assert world.registry.groups() == [(str(GROUP), "security-servers", [])]


def test_remove_member_without_dependents(world: World) -> None:
    """A member with nothing else registered is removed, with its group memberships."""
    world.registry.add_member(OTHER, "Company")
    world.registry.add_group(GROUP)
    world.registry.group_add(GROUP, OTHER)
    removal = world.registry.remove_member(OTHER)
    assert removal.group_memberships == ((str(GROUP), str(OTHER)),)
    conf = _conf(world)
    assert conf.member(OTHER) is None
    assert conf.group_members(GROUP) == ()


def test_remove_member_with_dependents_is_refused(world: World) -> None:
    """A member with subsystems and a gateway is refused by name; nothing changes."""
    _hosted(world)
    before = (world.registry.version(), world.registry.members(), world.registry.gateways(),
              world.registry.groups())
    with pytest.raises(InvalidRequest) as e:
        world.registry.remove_member(OWNER)
    assert str(e.value) == (
        "member EE/GOV/70000001 still has subsystem(s) EE/GOV/70000001/rr; gateway(s) "
        "EE/GOV/70000001/gw1; hosting(s) on EE/GOV/70000001/gw1; remove them first, or "
        "remove with cascade (CLI --cascade, API ?cascade=true)")
    assert (world.registry.version(), world.registry.members(), world.registry.gateways(),
            world.registry.groups()) == before


def test_remove_member_with_cascade_takes_everything(world: World) -> None:
    """--cascade removes subsystems, gateways (with hosted clients of others) and memberships."""
    _hosted(world)
    world.registry.add_member(OTHER, "Company")
    other_sub = SubsystemId(OTHER, "crm")
    world.registry.decide(world.registry.submit(world.client_request(
        other_sub, client_cred=world.pki.sign_credential(OTHER))).id, Action.APPROVE)
    v = world.registry.version()
    removal = world.registry.remove_member(OWNER, cascade=True)
    assert world.registry.version() == v + 1
    assert removal.subsystems == (str(CLIENT),)
    assert removal.gateways == (str(SERVER),)
    assert removal.hostings == ((str(SERVER), str(other_sub)), (str(SERVER), str(CLIENT)))
    assert len(removal.group_memberships) == 2
    assert removal.summary() == ("1 subsystem(s), 1 gateway(s), 2 hosting(s), "
                                 "2 group membership(s)")
    conf = _conf(world)
    assert conf.member(OWNER) is None
    assert conf.gateways == ()
    assert conf.has_client(other_sub)  # another member's subsystem is not removed
    _refers_to_known_clients(conf)


def test_removed_member_can_register_again(world: World) -> None:
    """After a cascade removal the member, gateway and subsystem can be registered anew."""
    _hosted(world)
    world.registry.remove_member(OWNER, cascade=True)
    world.registry.add_member(OWNER, "Ministry again")
    world.registry.decide(world.registry.submit(world.gateway_request()).id, Action.APPROVE)
    assert [g.id for g in world.registry.gateways()] == [str(SERVER)]
    assert _conf(world).gateway(SERVER) is not None


def test_remove_hosted_subsystem_is_refused(world: World) -> None:
    """A subsystem hosted on a gateway is refused without cascade, naming the gateway."""
    _hosted(world)
    v = world.registry.version()
    with pytest.raises(InvalidRequest, match="still hosted on gateway\\(s\\) EE/GOV/70000001/gw1"):
        world.registry.remove_subsystem(CLIENT)
    assert world.registry.version() == v
    assert _conf(world).has_client(CLIENT)


def test_remove_subsystem_with_cascade(world: World) -> None:
    """With cascade the hosting and the group membership go with the subsystem."""
    _hosted(world)
    removal = world.registry.remove_subsystem(CLIENT, cascade=True)
    assert removal.hostings == ((str(SERVER), str(CLIENT)),)
    assert removal.group_memberships == ((str(GROUP), str(CLIENT)),)
    conf = _conf(world)
    assert not conf.has_client(CLIENT)
    gw = conf.gateway(SERVER)
    assert gw is not None
    assert gw.clients == ()
    assert conf.group_members(GROUP) == (OWNER,)
    _refers_to_known_clients(conf)


def test_remove_unhosted_subsystem(world: World) -> None:
    """A subsystem hosted nowhere is removed without cascade, with its memberships."""
    world.registry.add_subsystem(CLIENT)
    world.registry.add_group(GROUP)
    world.registry.group_add(GROUP, CLIENT)
    world.registry.remove_subsystem(CLIENT)
    conf = _conf(world)
    assert not conf.has_client(CLIENT)
    assert conf.group_members(GROUP) == ()


@pytest.mark.parametrize(
    "change",
    [
        lambda r: r.edit_member(MemberId("EE", "GOV", "404"), "x"),
        lambda r: r.remove_member(MemberId("EE", "GOV", "404")),
        lambda r: r.remove_subsystem(SubsystemId(OWNER, "nope")),
        lambda r: r.edit_group(GlobalGroupId("EE", "nope"), "x"),
        lambda r: r.remove_group(GlobalGroupId("EE", "nope")),
    ],
    ids=["edit_member", "remove_member", "remove_subsystem", "edit_group", "remove_group"],
)
def test_unknown_id_is_not_found_and_changes_nothing(world: World, change) -> None:  # type: ignore[no-untyped-def]
    """Editing or removing what is not registered is NotFound; the version stays."""
    v = world.registry.version()
    with pytest.raises(NotFound):
        change(world.registry)
    assert world.registry.version() == v


def test_other_instance_is_refused(world: World) -> None:
    """Identifiers of another instance are refused before the database is asked."""
    with pytest.raises(InvalidRequest, match="not in instance EE"):
        world.registry.remove_member(MemberId("FI", "GOV", "1"))

