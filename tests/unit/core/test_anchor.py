"""The configuration anchor file (docs/spec/globalconf.md §1)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from sild.core.anchor import Anchor, encode_anchor, parse_anchor
from sild.core.globalconf import signing_key_of
from sild.errors import InvalidRequest

KEY_A = Ed25519PrivateKey.from_private_bytes(b"a" * 32)
KEY_B = Ed25519PrivateKey.from_private_bytes(b"b" * 32)
ANCHOR = Anchor(
    "EE",
    datetime(2026, 11, 22, 16, 0, 0, tzinfo=UTC),
    ("http://127.0.0.1:4000/globalconf", "https://registry2.example/globalconf"),
    (signing_key_of(KEY_A), signing_key_of(KEY_B)),
)


def obj() -> dict[str, Any]:
    value: dict[str, Any] = json.loads(encode_anchor(ANCHOR))
    return value


def test_round_trip() -> None:
    """An anchor survives encode → parse unchanged."""
    assert parse_anchor(encode_anchor(ANCHOR)) == ANCHOR


@given(
    st.lists(st.from_regex(r"[a-z]{1,10}", fullmatch=True), min_size=1, max_size=4, unique=True),
    st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=4, unique=True),
)
def test_round_trip_property(hosts: list[str], seeds: list[bytes]) -> None:
    """Any anchor with valid sources and keys survives encode → parse."""
    keys = tuple(signing_key_of(Ed25519PrivateKey.from_private_bytes(s)) for s in seeds)
    anchor = Anchor("EE", ANCHOR.generated_at, tuple(f"https://{h}/gc" for h in hosts), keys)
    assert parse_anchor(encode_anchor(anchor)) == anchor


def test_matches_spec_example_shape() -> None:
    """The encoded file has exactly the fields of the spec's example."""
    assert obj()["format"] == "sild-anchor/1"
    assert obj()["sources"][0] == {"url": "http://127.0.0.1:4000/globalconf"}
    assert set(obj()["keys"][0]) == {"key_id", "algorithm", "public_key"}


def test_trusted_keys_by_id() -> None:
    """trusted_keys maps each key id to its key."""
    assert set(ANCHOR.trusted_keys) == {k.key_id for k in ANCHOR.keys}


def _with(field: str, value: Any) -> bytes:
    o = obj()
    if value is KeyError:
        del o[field]
    else:
        o[field] = value
    return json.dumps(o).encode()


def _key_with(field: str, value: Any) -> bytes:
    o = obj()
    o["keys"][0][field] = value
    return json.dumps(o).encode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"[]", "anchor must be a JSON object"),
        (b"\xff", "anchor is not UTF-8"),
        (_with("format", "sild-anchor/2"), "format must be 'sild-anchor/1'"),
        (_with("instance", KeyError), "missing field 'instance'"),
        (_with("instance", "E E"), "anchor: instance: "),
        (_with("extra", 1), "unknown field 'extra'"),
        (_with("generated_at", "yesterday"), "anchor: generated_at: "),
        (_with("sources", []), "sources must be a list of 1-16 entries"),
        (_with("sources", [{"url": "ftp://x/"}]), "sources[0].url 'ftp://x/' must be an http(s)"),
        (_with("sources", [{"url": "http://x:99999/"}]), "sources[0].url"),
        (_with("sources", [{"href": "http://x/"}]), "sources[0] must be"),
        (_with("sources", [{"url": "http://x/"}] * 2), "same URL twice"),
        (_with("keys", []), "keys must be a list of 1-16 entries"),
        (_with("keys", [obj()["keys"][0]] * 2), "same key twice"),
        (_key_with("key_id", "0" * 32), "anchor: keys[0].key_id: "),
        (_key_with("public_key", "AAAA"), "anchor: keys[0].public_key"),
        (_key_with("algorithm", "p256"), "anchor: keys[0].algorithm"),
    ],
)
def test_malformed_anchor_names_the_problem(data: bytes, message: str) -> None:
    """Each malformed anchor is refused with a one-line error naming what is wrong."""
    with pytest.raises(InvalidRequest) as e:
        parse_anchor(data)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_oversized_anchor_is_refused() -> None:
    """A file far larger than any anchor is refused before parsing."""
    with pytest.raises(InvalidRequest, match="larger than"):
        parse_anchor(b" " * (1024 * 1024))
