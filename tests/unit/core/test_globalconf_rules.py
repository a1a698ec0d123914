"""The field rules of the global configuration (docs/spec/globalconf.md §2.1).

One definition per field, used by the codec (§4 step 3) and by the registry: the
property tests below prove that a value passes the rule exactly when the codec
accepts a document carrying it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from sild.core.canonical import canonical_json
from sild.core.globalconf import (
    CA_NAME,
    GATEWAY_ADDRESS,
    GROUP_DESCRIPTION,
    LEDGER_VALUE,
    MEMBER_NAME,
    REVOKED_SERIAL,
    TextRule,
    encode_document,
    parse_document,
)
from sild.errors import GlobalConfError, InvalidRequest
from sild.testing.confdouble import make_conf

# A document to carry the value under test: it has one CA, two members, one gateway,
# one group (sild.testing.confdouble).
BASE: dict[str, Any] = json.loads(
    encode_document(make_conf([Ed25519PrivateKey.from_private_bytes(bytes(32))])))


def _with(path: tuple[str | int, ...], value: object) -> bytes:
    obj = json.loads(canonical_json(BASE))
    target: Any = obj
    for p in path[:-1]:
        target = target[p]
    target[path[-1]] = value
    return canonical_json(obj)


def _codec_accepts(path: tuple[str | int, ...], value: object) -> bool:
    try:
        parse_document(_with(path, value))
    except GlobalConfError:
        return False
    return True


# Text with everything that can be encoded as UTF-8: controls, long runs, any script.
ANY_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=300)
FIELDS: list[tuple[TextRule, tuple[str | int, ...]]] = [
    (MEMBER_NAME, ("members", 0, "name")),
    (CA_NAME, ("cas", 0, "name")),
    (GROUP_DESCRIPTION, ("global_groups", 0, "description")),
    (GATEWAY_ADDRESS, ("gateways", 0, "address")),
]


@pytest.mark.parametrize(("rule", "path"), FIELDS, ids=[str(f[1]) for f in FIELDS])
@given(value=ANY_TEXT)
def test_rule_and_codec_agree(rule: TextRule, path: tuple[str | int, ...], value: str) -> None:
    """A value passes the field rule exactly when the codec accepts a document holding it."""
    assert (rule.problem(value) is None) == _codec_accepts(path, value)


@given(value=st.text(st.sampled_from("0123456789abcdefABCDEFx "), max_size=70))
def test_serial_rule_and_codec_agree(value: str) -> None:
    """Revoked serials: lower-case hex, 1-64 digits, in the rule and in the codec alike."""
    path = ("cas", 0, "revoked", 0, "serial")
    assert (REVOKED_SERIAL.problem(value) is None) == _codec_accepts(path, value)


@given(value=st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=300))
def test_ledger_rule_and_codec_agree(value: str) -> None:
    """Ledger endpoints obey LEDGER_VALUE in the codec too."""
    assert (LEDGER_VALUE.problem(value) is None) == _codec_accepts(("ledger", "endpoints"),
                                                                    [value])


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "must be 1-1024 characters"),
        ("x" * 1025, "must be 1-1024 characters"),
        ("line\nbreak", "must not contain control characters (U+000A)"),
        ("nul\x00", "must not contain control characters (U+0000)"),
        ("c1\x85", "must not contain control characters (U+0085)"),
        ("lone \ud800", "must not contain control characters (U+D800)"),
        (7, "must be a string, got int"),
    ],
)
def test_bad_descriptions_are_named(value: object, problem: str) -> None:
    """Each way a description can be wrong has its own words, shared by codec and registry."""
    assert GROUP_DESCRIPTION.problem(value) == problem


@pytest.mark.parametrize("value", ["x", "Security servers of EE", "Põhja-Eesti Regionaalhaigla",
                                   "ä" * 1024, "tab-free 🙂"])
def test_good_descriptions_pass(value: str) -> None:
    """Any printable text of 1-1024 characters, in any script, is a description."""
    assert GROUP_DESCRIPTION.problem(value) is None


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1:5500", "gw1.example.ee:5500", "[::1]:5500", "a" * 253 + ":65535"],
)
def test_good_addresses_pass(address: str) -> None:
    """host:port with a DNS name, IPv4 or bracketed IPv6 and a port 1-65535 is an address."""
    assert GATEWAY_ADDRESS.problem(address) is None


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("127.0.0.1", "must be host:port"),
        ("gw.example", "must be host:port"),
        ("gw.example:0", "has a bad port"),
        ("gw.example:65536", "has a bad port"),
        ("gw.example:port", "has a bad port"),
        ("user@gw.example:5500", "must be host:port"),
        ("gw.example:5500/path", "must be host:port"),
        ("gw example:5500", "must be host:port"),
        ("::1:5500", "has a bad port"),
        (":5500", "must be host:port"),
        ("a" * 262, "must be 1-261 characters"),
    ],
)
def test_bad_addresses_are_refused(address: str, problem: str) -> None:
    """Anything but host:port is refused with a reason."""
    got = GATEWAY_ADDRESS.problem(address)
    assert got is not None
    assert problem in got


def test_check_raises_invalid_request_naming_the_input() -> None:
    """check() is how the registry applies a rule: InvalidRequest '<what> <problem>'."""
    with pytest.raises(InvalidRequest, match=r"^group description must be 1-1024 characters$"):
        GROUP_DESCRIPTION.check("", "group description")
    assert MEMBER_NAME.check("Ministry", "member name") == "Ministry"


def test_codec_names_the_field_with_the_rules_words() -> None:
    """The codec's error is the rule's problem prefixed by the field path."""
    with pytest.raises(GlobalConfError,
                       match=r"global_groups\[0\]\.description: must be 1-1024 characters"):
        parse_document(_with(("global_groups", 0, "description"), ""))
