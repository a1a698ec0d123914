"""Caller-supplied header and path text (docs/spec/exchange.md §1.1): what may reach a log row."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sild.core import headertext
from sild.core.headertext import (
    MAX_MESSAGE_ID,
    check_header,
    check_path,
    escape_text,
    storable,
)
from sild.errors import InvalidRequest
from sild.store.messagelog_tables import message_log, opmon_records

# Text a database column takes and §1.1 allows: no surrogates (Cs), no controls (Cc).
valid_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=300)
any_text = st.text(st.characters(), max_size=300)


def _bad_char() -> st.SearchStrategy[str]:
    return st.one_of(st.characters(min_codepoint=0, max_codepoint=0x1F),
                     st.characters(min_codepoint=0x7F, max_codepoint=0x9F),
                     st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF))


def test_limits_equal_the_log_columns() -> None:
    """The header limits are the lengths of the columns that store them (§1.1)."""
    assert message_log.c.message_id.type.length == headertext.MAX_MESSAGE_ID
    assert opmon_records.c.message_id.type.length == headertext.MAX_MESSAGE_ID
    assert opmon_records.c.message_user_id.type.length == headertext.MAX_USER_ID
    assert message_log.c.request_id.type.length == headertext.MAX_REQUEST_ID
    assert opmon_records.c.x_request_id.type.length == headertext.MAX_REQUEST_ID
    assert opmon_records.c.represented_party_code.type.length == headertext.MAX_REPRESENTED_PARTY


@given(valid_text)
def test_valid_text_within_the_limit_passes_unchanged(value: str) -> None:
    """Any text without surrogates or control characters, short enough, is accepted as is."""
    assert check_header("X-Road-Issue", value, limit=300) == value


@given(valid_text, _bad_char(), valid_text)
def test_one_bad_character_anywhere_is_refused(before: str, bad: str, after: str) -> None:
    """A NUL, any control character or a lone surrogate anywhere → Client.InvalidRequest."""
    with pytest.raises(InvalidRequest) as e:
        check_header("X-Road-UserId", before + bad + after, limit=1000)
    assert e.value.xroad_code == "Client.InvalidRequest"
    assert "X-Road-UserId" in e.value.message
    assert bad not in e.value.message  # the raw value is never echoed


def test_undecodable_header_bytes_are_refused_as_not_utf8() -> None:
    """Header bytes that are not UTF-8 (aiohttp's surrogateescape) are named as such."""
    raw = b"EE\xff\xfe".decode("utf-8", "surrogateescape")
    with pytest.raises(InvalidRequest, match="X-Road-Id header is not valid UTF-8"):
        check_header("X-Road-Id", raw, limit=MAX_MESSAGE_ID)


def test_utf8_letters_are_accepted() -> None:
    """Non-ASCII text that was valid UTF-8 (Müller, Jürgen) is fine."""
    assert check_header("X-Road-UserId", "Jürgen Müller", limit=255) == "Jürgen Müller"


@given(st.integers(min_value=0, max_value=50))
def test_length_limit_is_exact(extra: int) -> None:
    """limit characters pass, limit+1 are refused."""
    assert check_header("X-Road-Id", "a" * 255, limit=255)
    with pytest.raises(InvalidRequest, match="longer than 255"):
        check_header("X-Road-Id", "a" * (256 + extra), limit=255)


@pytest.mark.parametrize("raw", ["/a/b%00c", "/a%0A", "/%7F", "/x%C2%85", "/%FF", "/%C3",
                                 "/a\x00", "/a\udcff"])
def test_path_with_encoded_control_or_non_utf8_is_refused(raw: str) -> None:
    """%00, other encoded control characters and non-UTF-8 escapes → Client.InvalidRequest."""
    with pytest.raises(InvalidRequest):
        check_path(raw)


@pytest.mark.parametrize("raw", ["q=%00", "q=%0d%0a", "q=a%C2%85"])
def test_query_with_encoded_control_is_refused(raw: str) -> None:
    """An encoded control character in a query is refused even where legacy bytes pass."""
    with pytest.raises(InvalidRequest, match="query encodes the control character"):
        check_path(raw, what="query", utf8=False)


def test_query_may_carry_a_legacy_encoding() -> None:
    """An ISO-8859-1 form value (%F5 = õ) passes in a query, not in a path."""
    assert check_path("name=J%F5ks", what="query", utf8=False) == "name=J%F5ks"
    with pytest.raises(InvalidRequest, match="not UTF-8"):
        check_path("/J%F5ks")


@pytest.mark.parametrize("raw", ["", "/a/b%20c", "/%C3%A4/x", "/100%", "/%zz", "/a+b"])
def test_ordinary_paths_pass(raw: str) -> None:
    """Spaces, UTF-8 escapes and stray percent signs are the IS's business, not refused."""
    assert check_path(raw) == raw


@given(valid_text)
def test_any_valid_text_percent_encoded_is_a_valid_path(text: str) -> None:
    """Whatever valid text an IS encodes into its path passes (round trip through quote)."""
    from urllib.parse import quote
    encoded = "/" + quote(text, safe="/")
    if len(encoded) <= headertext.MAX_PATH:
        assert check_path(encoded) == encoded


@given(any_text, st.integers(min_value=1, max_value=400))
def test_escaped_text_is_always_valid_and_bounded(value: str, limit: int) -> None:
    """escape_text's result keeps §1.1 and fits the limit, whatever went in."""
    out = escape_text(value, limit=limit)
    assert len(out) <= limit
    assert check_header("X", out, limit=limit) == out
    assert storable(out, limit=limit)


@given(valid_text)
def test_escaping_leaves_valid_text_alone(value: str) -> None:
    """A value that keeps §1.1 is logged exactly as sent."""
    assert escape_text(value, limit=300) == value


def test_escaping_shows_the_original_bytes() -> None:
    """Undecodable bytes show as \\xNN of the byte, NUL as \\x00, a backslash doubled."""
    raw = b"a\\b\xff\x00".decode("utf-8", "surrogateescape")
    assert escape_text(raw, limit=100) == "a\\\\b\\xff\\x00"


def test_escaping_cuts_with_an_ellipsis() -> None:
    """An over-long value is cut to the limit, the last character an ellipsis."""
    assert escape_text("x" * 300, limit=255) == "x" * 254 + "…"


@given(any_text)
def test_storable_is_no_surrogate_no_nul(value: str) -> None:
    """storable() refuses exactly surrogates and NUL (within the length)."""
    expected = not any(c == "\x00" or "\ud800" <= c <= "\udfff" for c in value)
    assert storable(value, limit=1000) is expected
