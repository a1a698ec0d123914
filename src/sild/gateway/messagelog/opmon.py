"""Operational-monitoring records: one per request on each gateway that handled it.

The fields are X-Road's operational monitoring data (research/xroad.md §4.3; X-Road
``pr-opmon_x-road_operational_monitoring_protocol_Y-1096-2.md`` §"Record fields"),
spelt in snake_case, minus those that only SOAP has (MIME sizes, attachment counts,
protocol version), which a later SOAP issue adds. Records are written through the
message log's group commit (:class:`sild.gateway.messagelog.MessageLog`), in the same
transaction as the message records of the same call when they are appended together.

Times follow X-Road: ``monitoring_data_ts`` in Unix seconds, the four
request/response timestamps in Unix milliseconds.

A record refuses (``ValueError``) any text its row cannot hold: a surrogate, a NUL, or
more characters than the column takes (docs/spec/exchange.md §1.1), so one bad row can
never reach, and fail, a group commit. A gateway that records a *refused* request
builds the record with :meth:`OpMonRecord.escaped`: every text value that breaks the
rule of §1.1 is stored in the bounded, escaped form of
:func:`sild.core.headertext.escape_text` instead of raw, so the refusal is still
monitored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sild.core.headertext import MAX_FAULT_STRING, MAX_ISSUE, MAX_PATH, escape_text, storable
from sild.core.identifiers import ClientId, MemberId, ServiceId, SubsystemId
from sild.store.messagelog_tables import opmon_records

__all__ = ["OpMonRecord", "ServerType"]

ServerType = Literal["Client", "Producer"]  # consumer gateway | provider gateway


# Text fields → the most characters their column takes: the String length, or for the
# unbounded Text columns the bound chosen in sild.core.headertext.
_TEXT_BOUNDS = {"rest_path": MAX_PATH, "message_issue": MAX_ISSUE,
                "fault_string": MAX_FAULT_STRING}
TEXT_LIMITS: dict[str, int] = {
    name: opmon_records.c[name].type.length or _TEXT_BOUNDS[name]  # type: ignore[attr-defined]
    for name in ("rest_method", "rest_path", "message_id", "message_user_id", "message_issue",
                 "x_request_id", "client_security_server_address",
                 "service_security_server_address", "fault_code", "fault_string")
}



@dataclass(frozen=True, slots=True, kw_only=True)
class OpMonRecord:
    """One request as seen by one gateway (X-Road opmon record; §4.3).

    ``client`` and ``service`` may be ``None`` when the request was refused before
    they could be parsed (the record then tells that a malformed request arrived).
    """

    security_server_type: ServerType
    request_in_ts: int  # ms: the request arrived at this gateway
    succeeded: bool
    request_out_ts: int | None = None  # ms: forwarded to the provider gateway / IS
    response_in_ts: int | None = None  # ms: the response came back
    response_out_ts: int | None = None  # ms: the response left towards the client
    monitoring_data_ts: int | None = None  # s; defaults to the last timestamp given
    client: ClientId | None = None
    service: ServiceId | None = None
    represented_party: MemberId | None = None
    rest_method: str | None = None
    rest_path: str | None = None
    message_id: str | None = None  # X-Road-Id
    message_user_id: str | None = None  # X-Road-UserId
    message_issue: str | None = None  # X-Road-Issue
    x_request_id: str | None = None  # X-Road-Request-Id
    client_security_server_address: str | None = None
    service_security_server_address: str | None = None
    request_size: int | None = None
    response_size: int | None = None
    fault_code: str | None = None
    fault_string: str | None = None
    status_code: int | None = None

    def __post_init__(self) -> None:
        if self.security_server_type not in ("Client", "Producer"):
            raise ValueError("security_server_type must be 'Client' or 'Producer'")
        for name, limit in TEXT_LIMITS.items():
            value = getattr(self, name)
            if value is not None and (type(value) is not str
                                      or not storable(value, limit=limit)):
                raise ValueError(f"{name} cannot be stored: it must be text of at most "
                                 f"{limit} characters without surrogates or NUL")

    @classmethod
    def escaped(cls, **values: Any) -> OpMonRecord:
        """A record whose text values are stored escaped where they break §1.1.

        For requests that were refused, possibly *because* of one of these values:
        valid text is kept as it is, anything else goes through
        :func:`~sild.core.headertext.escape_text` (backslash escapes, cut to the column
        with a trailing ``…``), so it is monitored without reaching a row raw.
        """
        for name, limit in TEXT_LIMITS.items():
            value = values.get(name)
            if isinstance(value, str):
                values[name] = escape_text(value, limit=limit)
        return cls(**values)

    def to_row(self) -> dict[str, Any]:
        """The ``opmon_records`` row (sild.store.messagelog_tables)."""
        last = max(t for t in (self.request_in_ts, self.request_out_ts,
                               self.response_in_ts, self.response_out_ts) if t is not None)
        client_member: MemberId | None = None
        client_subsystem: str | None = None
        if isinstance(self.client, SubsystemId):
            client_member, client_subsystem = self.client.member, self.client.subsystem_code
        elif isinstance(self.client, MemberId):
            client_member = self.client
        svc = self.service
        svc_member = svc.subsystem.member if svc is not None else None
        party = self.represented_party
        return {
            "monitoring_data_ts": (self.monitoring_data_ts if self.monitoring_data_ts is not None
                                   else last // 1000),
            "security_server_type": self.security_server_type,
            "request_in_ts": self.request_in_ts,
            "request_out_ts": self.request_out_ts,
            "response_in_ts": self.response_in_ts,
            "response_out_ts": self.response_out_ts,
            "client_xroad_instance": client_member.instance if client_member else None,
            "client_member_class": client_member.member_class if client_member else None,
            "client_member_code": client_member.member_code if client_member else None,
            "client_subsystem_code": client_subsystem,
            "service_xroad_instance": svc_member.instance if svc_member else None,
            "service_member_class": svc_member.member_class if svc_member else None,
            "service_member_code": svc_member.member_code if svc_member else None,
            "service_subsystem_code": svc.subsystem.subsystem_code if svc else None,
            "service_code": svc.service_code if svc else None,
            "represented_party_class": party.member_class if party else None,
            "represented_party_code": party.member_code if party else None,
            "rest_method": self.rest_method,
            "rest_path": self.rest_path,
            "message_id": self.message_id,
            "message_user_id": self.message_user_id,
            "message_issue": self.message_issue,
            "x_request_id": self.x_request_id,
            "client_security_server_address": self.client_security_server_address,
            "service_security_server_address": self.service_security_server_address,
            "request_size": self.request_size,
            "response_size": self.response_size,
            "succeeded": self.succeeded,
            "fault_code": self.fault_code,
            "fault_string": self.fault_string,
            "status_code": self.status_code,
        }
