"""The global configuration document, signing and verification (docs/spec/globalconf.md)."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from sild.core.canonical import canonical_json
from sild.core.globalconf import (
    MAX_DOCUMENT_BYTES,
    PAYLOAD_TYPE,
    CaEntry,
    GatewayEntry,
    GlobalConf,
    GlobalGroupEntry,
    LedgerSettings,
    MemberEntry,
    RevokedCert,
    SigningKey,
    VerifiedGlobalConf,
    encode_document,
    parse_document,
    sign_globalconf,
    signing_key_of,
    verify_globalconf,
)
from sild.core.identifiers import GlobalGroupId, MemberId, ServerId, SubsystemId
from sild.errors import (
    GlobalConfError,
    GlobalConfExpired,
    GlobalConfRollback,
    GlobalConfSignatureError,
)
from sild.testing.confdouble import fake_certificate_pem, make_conf

T0 = datetime(2026, 11, 22, 16, 0, 0, tzinfo=UTC)
OLD = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
NEW = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
STRANGER = Ed25519PrivateKey.from_private_bytes(bytes(range(2, 34)))


def trust(*keys: Ed25519PrivateKey) -> dict[str, SigningKey]:
    return {k.key_id: k for k in (signing_key_of(p) for p in keys)}


def check(
    raw: bytes,
    keys: dict[str, SigningKey] | None = None,
    *,
    at: datetime = T0 + timedelta(seconds=5),
    last: tuple[int, datetime] | None = None,
    instance: str = "EE",
) -> VerifiedGlobalConf:
    return verify_globalconf(
        raw, trusted_keys=keys if keys is not None else trust(OLD), instance=instance, at=at,
        last=last,
    )  # fmt: skip


def payload_obj(conf: GlobalConf) -> dict[str, Any]:
    obj: dict[str, Any] = json.loads(encode_document(conf))
    return obj


# --- hypothesis strategies over whole documents ----------------------------------------------

PART = st.from_regex(r"[A-Za-z0-9'()+,\-.=?]{1,8}", fullmatch=True)
# Text fields hold no control characters or lone surrogates (§2.1 field rules).
TEXT = st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=20)
TIME = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=0))
KEY = st.binary(min_size=32, max_size=32).map(
    lambda b: signing_key_of(Ed25519PrivateKey.from_private_bytes(b))
)
HEX64 = st.binary(min_size=32, max_size=32).map(bytes.hex)


@st.composite
def documents(draw: st.DrawFn) -> GlobalConf:
    instance = draw(PART)
    members = draw(st.lists(st.tuples(PART, PART), max_size=4, unique=True))
    member_ids = [MemberId(instance, c, m) for c, m in members]
    subs = {m: draw(st.lists(PART, max_size=3, unique=True)) for m in member_ids}
    clients: list[MemberId | SubsystemId] = [*member_ids] + [
        SubsystemId(m, s) for m in member_ids for s in subs[m]
    ]
    some_clients = st.lists(st.sampled_from(clients), unique_by=str) if clients else st.just([])
    issued = draw(TIME)
    cas = []
    for der in draw(st.lists(st.binary(min_size=1, max_size=64), max_size=3, unique=True)):
        pem, fp = fake_certificate_pem(der)
        serials = draw(st.lists(st.integers(1, 2**160).map(lambda n: format(n, "x")), unique=True))
        cas.append(CaEntry(draw(TEXT), pem, fp, tuple(RevokedCert(s, draw(TIME)) for s in serials)))
    gateways = [
        GatewayEntry(
            ServerId(m, draw(PART)), f"gw{i}.example:{draw(st.integers(1, 65535))}",
            draw(HEX64), tuple(draw(some_clients)),
        )
        for i, m in enumerate(member_ids[:2])
    ]  # fmt: skip
    groups = [
        GlobalGroupEntry(GlobalGroupId(instance, code), draw(TEXT), tuple(draw(some_clients)))
        for code in draw(st.lists(PART, max_size=2, unique=True))
    ]
    return GlobalConf(
        instance=instance,
        version=draw(st.integers(0, 2**53 - 1)),
        issued_at=issued,
        expires_at=issued + timedelta(seconds=draw(st.integers(1, 10**6))),
        refresh_interval=draw(st.integers(1, 86_400)),
        signing_keys=tuple(
            draw(st.lists(KEY, min_size=1, max_size=3, unique_by=lambda k: k.key_id))
        ),
        cas=tuple(cas),
        members=tuple(MemberEntry(m, draw(TEXT), tuple(subs[m])) for m in member_ids),
        gateways=tuple(gateways),
        global_groups=tuple(groups),
        ledger=LedgerSettings(tuple(draw(st.lists(TEXT, max_size=2, unique=True)))),
    )


@settings(max_examples=150, deadline=None)
@given(documents())
def test_encode_parse_round_trip(conf: GlobalConf) -> None:
    """Any document survives encode → parse unchanged, byte for byte."""
    payload = encode_document(conf)
    assert parse_document(payload) == conf
    assert encode_document(parse_document(payload)) == payload


def test_encoding_sorts_lists() -> None:
    """Lists are sorted on encoding, so member order in the input does not change the bytes."""
    conf = make_conf([OLD])
    shuffled = replace(conf, members=tuple(reversed(conf.members)))
    assert encode_document(shuffled) == encode_document(conf)


# --- signing and verification, §3 and §4 ----------------------------------------------------

GOOD = sign_globalconf(make_conf([OLD]), [OLD])


def test_good_document_verifies() -> None:
    """A document signed by the anchor key verifies and names that key."""
    v = check(GOOD)
    assert v.conf == make_conf([OLD])
    assert v.key_ids == (signing_key_of(OLD).key_id,)
    assert v.raw == GOOD


def test_verified_type_cannot_be_built_by_hand() -> None:
    """Only verify_globalconf makes a VerifiedGlobalConf (STYLE.md rule 2)."""
    with pytest.raises(TypeError):
        VerifiedGlobalConf(make_conf([OLD]), GOOD, (), object())


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_flipped_byte_is_rejected(data: st.DataObject) -> None:
    """Flipping any single byte of the served envelope is rejected with a GlobalConfError."""
    i = data.draw(st.integers(0, len(GOOD) - 1))
    x = data.draw(st.integers(1, 255))
    forged = GOOD[:i] + bytes([GOOD[i] ^ x]) + GOOD[i + 1 :]
    with pytest.raises(GlobalConfError) as e:
        check(forged)
    assert "\n" not in str(e.value)


def test_signature_by_unknown_key_is_rejected() -> None:
    """A document signed only by a key we do not trust is a signature error."""
    with pytest.raises(GlobalConfSignatureError, match="signed by unknown key"):
        check(sign_globalconf(make_conf([STRANGER]), [STRANGER]))


def test_forged_signature_under_trusted_key_id_is_rejected() -> None:
    """A signature made by another key but labelled with the trusted key id is refused."""
    env = json.loads(sign_globalconf(make_conf([OLD]), [STRANGER]))
    env["signatures"][0]["keyid"] = signing_key_of(OLD).key_id
    with pytest.raises(GlobalConfSignatureError, match="bad signature by key"):
        check(json.dumps(env).encode())


def test_extra_signature_by_unknown_key_is_ignored() -> None:
    """Unknown key ids are ignored as long as one trusted signature verifies (§4 step 2)."""
    v = check(sign_globalconf(make_conf([OLD]), [STRANGER, OLD]))
    assert v.key_ids == (signing_key_of(OLD).key_id,)


def test_lower_version_is_rollback() -> None:
    """A version lower than the last accepted one is a rollback."""
    raw = sign_globalconf(make_conf([OLD], version=6), [OLD])
    with pytest.raises(GlobalConfRollback, match="older than accepted 7"):
        check(raw, last=(7, T0))


def test_same_version_issued_earlier_is_rollback() -> None:
    """Re-serving the same version with an older issued_at is a freeze attack."""
    raw = sign_globalconf(make_conf([OLD], version=7), [OLD])
    with pytest.raises(GlobalConfRollback, match="re-issued earlier"):
        check(raw, last=(7, T0 + timedelta(seconds=1)))


def test_same_copy_again_is_accepted() -> None:
    """Fetching the very copy accepted last time is not a rollback."""
    raw = sign_globalconf(make_conf([OLD], version=7), [OLD])
    assert check(raw, last=(7, T0)).conf.version == 7


def test_expired_document_is_rejected() -> None:
    """A document at or past its expires_at is expired."""
    with pytest.raises(GlobalConfExpired, match="expired at 2026-11-22T16:10:00Z"):
        check(GOOD, at=T0 + timedelta(seconds=600))


def test_document_from_the_future_is_rejected() -> None:
    """issued_at more than 60 s ahead of our clock is a clock-skew error."""
    with pytest.raises(GlobalConfError, match="issued in the future"):
        check(GOOD, at=T0 - timedelta(seconds=61))


def test_document_slightly_ahead_is_accepted() -> None:
    """Up to 60 s of clock skew is tolerated."""
    assert check(GOOD, at=T0 - timedelta(seconds=60)).conf.version == 1


def test_other_instance_is_rejected() -> None:
    """A document for another instance is refused even when well signed."""
    with pytest.raises(GlobalConfError, match="for instance 'EE', not 'FI'"):
        check(GOOD, instance="FI")


def test_wrong_payload_type_is_rejected() -> None:
    """A validly signed envelope of another payload type is not a configuration."""
    env = json.loads(GOOD)
    env["payloadType"] = "application/vnd.sild.registration+json"
    with pytest.raises(GlobalConfError, match="payloadType"):
        check(json.dumps(env).encode())


def test_oversized_document_is_rejected_before_parsing() -> None:
    """A document above the size limit is refused without parsing."""
    with pytest.raises(GlobalConfError, match="larger than"):
        check(b" " * (MAX_DOCUMENT_BYTES + 1))


def test_noncanonical_base64_padding_is_rejected() -> None:
    """Non-zero padding bits in the signature's base64 cannot make a second valid spelling."""
    env = json.loads(GOOD)
    sig = env["signatures"][0]["sig"]
    assert sig.endswith("==")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    env["signatures"][0]["sig"] = sig[:-3] + alphabet[alphabet.index(sig[-3]) ^ 1] + "=="
    assert base64.b64decode(env["signatures"][0]["sig"]) == base64.b64decode(sig)
    with pytest.raises(GlobalConfError, match="canonical base64"):
        check(json.dumps(env, separators=(",", ":"), sort_keys=True).encode())


# --- key rotation and several keys -----------------------------------------------------------


def test_rotation_accepts_next_document_signed_by_new_key() -> None:
    """Doc N (signed by old, naming old+new) lets doc N+1 signed only by new be accepted."""
    n = check(sign_globalconf(make_conf([OLD, NEW], version=1), [OLD]))
    raw = sign_globalconf(make_conf([NEW], version=2, issued_at=T0 + timedelta(seconds=1)), [NEW])
    v = check(raw, n.trusted_keys, last=(1, n.conf.issued_at))
    assert v.key_ids == (signing_key_of(NEW).key_id,)


def test_rotated_document_is_rejected_by_anchor_only_client() -> None:
    """A client that only knows the anchor's old key refuses doc N+1 signed only by new."""
    raw = sign_globalconf(make_conf([NEW], version=2), [NEW])
    with pytest.raises(GlobalConfSignatureError, match="unknown key"):
        check(raw, trust(OLD))


@pytest.mark.parametrize("signer", [OLD, NEW])
def test_any_of_several_anchor_keys_verifies(signer: Ed25519PrivateKey) -> None:
    """With two anchor keys, a document signed by either one is accepted."""
    v = check(sign_globalconf(make_conf([OLD, NEW]), [signer]), trust(OLD, NEW))
    assert v.key_ids == (signing_key_of(signer).key_id,)


def test_all_verifying_keys_are_reported() -> None:
    """A document signed by two trusted keys reports both key ids."""
    v = check(sign_globalconf(make_conf([OLD, NEW]), [OLD, NEW]), trust(OLD, NEW))
    assert set(v.key_ids) == set(trust(OLD, NEW))


# --- strict parsing, §4 step (3) --------------------------------------------------------------


def _mutate(path: str, value: Any) -> bytes:
    obj = payload_obj(make_conf([OLD]))
    *head, last = path.split(".")
    target: Any = obj
    for p in head:
        target = target[int(p)] if p.isdigit() else target[p]
    if value is KeyError:
        del target[int(last) if last.isdigit() else last]
    elif last.isdigit():
        target[int(last)] = value
    else:
        target[last] = value
    return canonical_json(obj)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("format", "sild-globalconf/2", "globalconf.format: must be 'sild-globalconf/1'"),
        ("version", KeyError, "missing field 'version'"),
        ("version", True, "globalconf.version: must be an integer"),
        ("version", -1, "globalconf.version: must be between"),
        ("surprise", 1, "unknown field 'surprise'"),
        ("issued_at", "2026-11-22T18:00:00+02:00", "globalconf.issued_at: "),
        ("expires_at", "2026-11-22T16:00:00Z", "expires_at: must be after issued_at"),
        ("refresh_interval", 0, "globalconf.refresh_interval"),
        ("signing_keys", [], "signing_keys: must list at least one key"),
        ("signing_keys.0.key_id", "0" * 32, "signing_keys[0].key_id: "),
        ("signing_keys.0.algorithm", "rsa", "signing_keys[0].algorithm"),
        ("members.0.id", "EE/GOV", "globalconf.members[0].id: member identifier"),
        ("members.1.subsystems", ["r r"], "members[1].subsystems[0]"),
        ("members.1.subsystems", ["rr", "rr"], "members[1].subsystems: duplicate"),
        ("gateways.0.address", "127.0.0.1", "gateways[0].address: '127.0.0.1' must be host:port"),
        ("gateways.0.auth_fingerprint", "AB" * 32, "gateways[0].auth_fingerprint"),
        ("gateways.0.clients", ["EE/GOV/70000562/rr", "EE/GOV/70000562"], "must be sorted"),
        ("cas.0.fingerprint", "00" * 32, "cas[0].fingerprint: is not the SHA-256"),
        ("cas.0.certificate", "not a pem", "cas[0].certificate: must be one PEM"),
        ("cas.0.revoked.0.serial", "0X1F", "cas[0].revoked[0].serial"),
        ("global_groups.0.id", "EE", "global_groups[0].id: global group identifier"),
        ("ledger", [], "globalconf.ledger: must be a JSON object"),
    ],
)
def test_malformed_field_is_named(path: str, value: Any, message: str) -> None:
    """Each malformed field is rejected with a one-line error naming it."""
    with pytest.raises(GlobalConfError) as e:
        parse_document(_mutate(path, value))
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_unsorted_members_are_rejected() -> None:
    """Members out of order are refused: one document has one spelling."""
    obj = payload_obj(make_conf([OLD]))
    obj["members"].reverse()
    with pytest.raises(GlobalConfError, match="members: entries must be sorted"):
        parse_document(canonical_json(obj))


def test_non_canonical_payload_is_rejected() -> None:
    """A payload with insignificant whitespace is not the canonical form."""
    pretty = json.dumps(payload_obj(make_conf([OLD])), sort_keys=True, indent=1).encode()
    with pytest.raises(GlobalConfError, match="canonical JSON"):
        parse_document(pretty)


def test_payload_that_is_not_json_is_rejected() -> None:
    """A payload that is not JSON is a GlobalConfError, not a crash."""
    with pytest.raises(GlobalConfError, match="not valid JSON"):
        parse_document(b"{nope")


# --- lookups ---------------------------------------------------------------------------------

CONF = make_conf([OLD])
GOV = MemberId("EE", "GOV", "70000562")
RR = SubsystemId(GOV, "rr")


def test_gateway_lookup() -> None:
    """gateway() finds a registered gateway and returns None for an unknown one."""
    entry = CONF.gateway(ServerId(GOV, "gw1"))
    assert entry is not None
    assert entry.address == "127.0.0.1:5500"
    assert CONF.gateway(ServerId(GOV, "gw2")) is None


def test_gateways_for_client() -> None:
    """gateways_for() lists the gateways hosting a client, empty for others."""
    assert [str(g.id) for g in CONF.gateways_for(RR)] == ["EE/GOV/70000562/gw1"]
    assert CONF.gateways_for(SubsystemId(GOV, "other")) == ()


def test_member_lookup() -> None:
    """member() finds a member by id."""
    entry = CONF.member(GOV)
    assert entry is not None
    assert entry.subsystems == ("rr",)
    assert CONF.member(MemberId("EE", "GOV", "1")) is None


@pytest.mark.parametrize(
    ("client", "known"),
    [(GOV, True), (RR, True), (SubsystemId(GOV, "nope"), False), (MemberId("EE", "X", "1"), False)],
)
def test_has_client(client: MemberId | SubsystemId, known: bool) -> None:
    """has_client() needs the member, and for a subsystem the subsystem, to be registered."""
    assert CONF.has_client(client) is known


def test_is_revoked() -> None:
    """is_revoked() matches a listed serial given as int or hex text, per CA fingerprint."""
    fp = CONF.cas[0].fingerprint
    assert CONF.is_revoked(fp, 0x1F)
    assert CONF.is_revoked(fp, "1F")
    assert not CONF.is_revoked(fp, 0x20)
    assert not CONF.is_revoked("00" * 32, 0x1F)


def test_group_members() -> None:
    """group_members() lists a global group's members, empty for an unknown group."""
    assert CONF.group_members(GlobalGroupId("EE", "all")) == (RR,)
    assert CONF.group_members(GlobalGroupId("EE", "none")) == ()


def test_payload_type_constant() -> None:
    """The envelope carries the spec's payload type (§3)."""
    assert json.loads(GOOD)["payloadType"] == PAYLOAD_TYPE == "application/vnd.sild.globalconf+json"


def test_purposes_are_optional_and_round_trip() -> None:
    """docs/spec/globalconf.md §2 ``purposes``: absent when none (earlier documents keep
    their bytes), sorted by code, strictly checked when present."""
    from sild.core.globalconf import PurposeEntry, encode_document, parse_document

    base = make_conf([OLD])
    assert b'"purposes"' not in encode_document(base)
    conf = replace(base, purposes=(PurposeEntry("tx-2", "Two"), PurposeEntry("tx-1", "One")))
    doc = encode_document(conf)
    back = parse_document(doc)
    assert [p.code for p in back.purposes] == ["tx-1", "tx-2"]
    assert back.purpose("tx-2") == PurposeEntry("tx-2", "Two")
    assert back.purpose("nope") is None
    obj = json.loads(doc)
    for bad in ([{"code": "b", "text": "x"}, {"code": "a", "text": "y"}],  # unsorted
                [{"code": "a", "text": "x"}, {"code": "a", "text": "x"}],  # duplicate
                [{"code": "a", "text": "x" * 201}], [{"code": "", "text": "x"}],
                [{"code": "a", "text": "x", "extra": 1}], "not a list"):
        obj["purposes"] = bad
        with pytest.raises(GlobalConfError):
            parse_document(canonical_json(obj))
