"""Message-log and monitoring records as values: hashes, timestamps, validation (no database)."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from sild.core.canonical import canonical_json
from sild.core.identifiers import MemberId, ServiceId
from sild.errors import ConfigurationError, StorageError
from sild.gateway.messagelog.log import (
    LoggingFailed,
    MessageLog,
    format_ts,
    parse_ts,
    record_hash,
)
from sild.gateway.messagelog.opmon import OpMonRecord
from sild.testing.messagelog import make_record


@given(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9999, 1, 1),
                    timezones=st.just(UTC)))
def test_log_timestamps_round_trip(when: datetime) -> None:
    """format_ts then parse_ts gives back the same instant, microseconds included."""
    assert parse_ts(format_ts(when)) == when


def test_log_timestamps_are_utc_whatever_the_input_zone() -> None:
    """An instant given in another zone is written in UTC."""
    at = datetime(2026, 11, 22, 14, 0, 0, 5, tzinfo=timezone(timedelta(hours=2)))
    assert format_ts(at) == "2026-11-22T12:00:00.000005Z"


@pytest.mark.parametrize("text", ["2026-11-22T12:00:00Z", "2026-11-22 12:00:00.000000Z",
                                  "2026-11-22T12:00:00.000000+00:00", ""])
def test_other_timestamp_spellings_are_refused(text: str) -> None:
    """Only the one spelling format_ts writes parses."""
    with pytest.raises(ValueError, match=r"."):
        parse_ts(text)


@pytest.mark.parametrize("change", [
    {"logged_at": datetime(2026, 11, 22, 12, 0, 0, 1, tzinfo=UTC)},
    {"side": "provider"}, {"kind": "response"}, {"message_id": "EE-x"},
    {"request_id": "other"}, {"client_id": "EE/GOV/1/x"}, {"service_id": "EE/GOV/1/x/y"},
    {"envelope": b"{}"}, {"signature": b"\0"}, {"signer_cert_fingerprint": "cd" * 32},
    {"body": b"another body"}, {"status": 500},
])
def test_record_hash_covers_every_field(change: dict[str, object]) -> None:
    """Changing any logged field changes the record hash."""
    rec = make_record(1, at=datetime(2026, 11, 22, 12, tzinfo=UTC))
    assert dataclasses.replace(rec, **change).record_hash() != rec.record_hash()  # type: ignore[arg-type]


# Text a row can hold: no surrogates, no NUL (docs/spec/exchange.md §1.1).
storable_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))


@given(storable_text.filter(lambda t: len(t) <= 255), storable_text,
       st.one_of(st.none(), st.integers(-(2**63), 2**63)))
def test_record_hash_is_sha256_of_canonical_json(message_id: str, client: str,
                                                 status: int | None) -> None:
    """The writer's fast hash equals SHA-256 over canonical_json of the content."""
    rec = dataclasses.replace(make_record(1), message_id=message_id, client_id=client,
                              status=status)
    expected = hashlib.sha256(canonical_json(rec.content())).digest()
    assert rec.record_hash() == expected
    assert rec.to_row(keep_body=True)["record_hash"] == expected
    assert record_hash(rec.content()) == expected


def test_record_hash_does_not_depend_on_keeping_the_body() -> None:
    """A record given only its body digest hashes the same as with the body."""
    rec = make_record(3, body=b"payload")
    digest = hashlib.sha512(b"payload").digest()
    digest_only = dataclasses.replace(rec, body=None, body_digest=digest)
    assert digest_only.record_hash() == rec.record_hash()
    assert rec.to_row(keep_body=False)["body"] is None
    assert rec.to_row(keep_body=False)["record_hash"] == rec.record_hash()


@pytest.mark.parametrize("change", [
    {"side": "both"}, {"kind": "ping"}, {"logged_at": datetime(2026, 11, 22)},
    {"body": None}, {"status": 200.0}, {"status": True}, {"client_id": None},
])
def test_malformed_records_cannot_be_built(change: dict[str, object]) -> None:
    """Bad side or kind, a naive time, or neither body nor digest: ValueError."""
    with pytest.raises(ValueError, match=r"."):
        dataclasses.replace(make_record(1), **change)  # type: ignore[arg-type]


def test_opmon_row_splits_member_client_and_defaults_the_data_timestamp() -> None:
    """A member client has no subsystem; monitoring_data_ts is the last timestamp in s."""
    rec = OpMonRecord(security_server_type="Producer", request_in_ts=1_000_500,
                      response_out_ts=2_000_900, succeeded=False,
                      client=MemberId.parse("EE/COM/123"),
                      service=ServiceId.parse("EE/GOV/7/sub/svc"),
                      fault_code="Server.ServerProxy.AccessDenied")
    row = rec.to_row()
    assert (row["client_member_class"], row["client_subsystem_code"]) == ("COM", None)
    assert (row["service_subsystem_code"], row["service_code"]) == ("sub", "svc")
    assert row["monitoring_data_ts"] == 2_000
    assert row["fault_code"] == "Server.ServerProxy.AccessDenied"


def test_opmon_record_without_ids_is_allowed() -> None:
    """A request refused before its ids were parsed still gets a record."""
    row = OpMonRecord(security_server_type="Client", request_in_ts=5_000,
                      succeeded=False).to_row()
    assert row["client_member_code"] is None
    assert row["service_code"] is None


def test_opmon_server_type_is_checked() -> None:
    """Only X-Road's Client and Producer are server types."""
    with pytest.raises(ValueError, match="Client"):
        OpMonRecord(security_server_type="Consumer", request_in_ts=1,  # type: ignore[arg-type]
                    succeeded=True)


def test_message_log_settings_are_checked() -> None:
    """An unknown body mode or a zero batch is a configuration error."""
    engine = sa.create_engine("sqlite://")
    with pytest.raises(ConfigurationError):
        MessageLog(engine, body_mode="none")
    with pytest.raises(ConfigurationError):
        MessageLog(engine, max_batch=0)


def test_logging_failed_is_a_storage_error_with_the_xroad_code() -> None:
    """LoggingFailed maps to Server.LoggingFailed and is caught as StorageError."""
    e = LoggingFailed("x")
    assert isinstance(e, StorageError)
    assert e.xroad_code == "Server.LoggingFailed"


UNDECODABLE = b"EE\xff\xfe".decode("utf-8", "surrogateescape")  # as aiohttp hands it over


@pytest.mark.parametrize("change", [
    {"message_id": UNDECODABLE}, {"message_id": "a\x00b"}, {"message_id": "x" * 256},
    {"request_id": "r" * 65}, {"client_id": "EE/GOV/1/\udcff"}, {"service_id": "\x00"},
    {"signer_cert_fingerprint": "ab" * 33},
])
def test_log_record_refuses_text_the_database_cannot_store(change: dict[str, object]) -> None:
    """A surrogate, a NUL or too long a value: ValueError at construction, never in a commit."""
    with pytest.raises(ValueError, match="cannot be stored"):
        dataclasses.replace(make_record(1), **change)  # type: ignore[arg-type]


@pytest.mark.parametrize("change", [
    {"message_user_id": UNDECODABLE}, {"message_issue": "case\x00"},
    {"message_id": "i" * 256}, {"rest_path": "/a/\udcff"}, {"fault_string": "f" * 5000},
    {"rest_method": "X" * 17}, {"message_user_id": b"bytes"},
])
def test_opmon_record_refuses_text_the_database_cannot_store(change: dict[str, object]) -> None:
    """Surrogates, NUL, over-long or non-text values: ValueError at construction."""
    with pytest.raises(ValueError, match="cannot be stored"):
        OpMonRecord(security_server_type="Client", request_in_ts=1, succeeded=False,
                    **change)  # type: ignore[arg-type]


def test_escaped_opmon_record_stores_refused_values_escaped_and_bounded() -> None:
    """A refused request's values are recorded escaped and cut to the column, not raw."""
    rec = OpMonRecord.escaped(
        security_server_type="Client", request_in_ts=1, succeeded=False,
        message_user_id=UNDECODABLE, message_issue="a\x00b", message_id="i" * 300,
        rest_path="/a/b\x00", fault_code="Client.InvalidRequest", fault_string="f" * 5000)
    row = rec.to_row()
    assert row["message_user_id"] == "EE\\xff\\xfe"
    assert row["message_issue"] == "a\\x00b"
    assert row["message_id"] == "i" * 254 + "…"
    assert row["rest_path"] == "/a/b\\x00"
    assert len(row["fault_string"]) == 2048
    assert row["fault_code"] == "Client.InvalidRequest"


def test_escaped_opmon_record_keeps_valid_values_as_they_are() -> None:
    """Valid text (UTF-8 letters included) is recorded exactly as sent."""
    rec = OpMonRecord.escaped(security_server_type="Producer", request_in_ts=1, succeeded=True,
                              message_user_id="EE38001085718", message_issue="Müller / 7",
                              rest_path="/a/b c")
    assert (rec.message_user_id, rec.message_issue, rec.rest_path) == (
        "EE38001085718", "Müller / 7", "/a/b c")
