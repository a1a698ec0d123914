"""Canonical JSON: the fast encoder gives exactly the reference bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sild.core.canonical import canonical_json, parse_json_object, reference_canonical_json
from sild.errors import InvalidRequest

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.text(),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=30,
)


@given(json_values)
def test_fast_encoder_equals_reference(value: object) -> None:
    """orjson with sorted keys produces the reference bytes for every JSON value."""
    try:
        expected = reference_canonical_json(value)
    except UnicodeEncodeError:
        with pytest.raises(InvalidRequest):
            canonical_json(value)
        return
    assert canonical_json(value) == expected


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=5))
def test_parse_of_canonical_round_trips(value: dict[str, object]) -> None:
    """Canonical bytes parse back to the same object."""
    try:
        raw = canonical_json(value)
    except InvalidRequest:
        return
    assert parse_json_object(raw, "x") == value


@pytest.mark.parametrize("bad", [1.5, float("nan"), {"a": 2.0}, {1: "x"}, b"bytes"])
def test_non_canonical_values_are_refused(bad: object) -> None:
    """Floats, non-string keys and non-JSON types have no canonical form."""
    with pytest.raises(InvalidRequest):
        canonical_json(bad)


def test_duplicate_keys_are_refused() -> None:
    """A JSON object with a repeated key is ambiguous and refused."""
    with pytest.raises(InvalidRequest, match="duplicate"):
        parse_json_object(b'{"a":1,"a":2}', "x")
