"""Malformed caller text on both gateways (docs/spec/exchange.md §1.1): non-UTF-8 header
bytes, control characters, over-long ids and ``%00`` in the path are Client.InvalidRequest,
and the refused request's monitoring record holds an escaped, bounded value, never the raw
one (issue 7 §1)."""

from __future__ import annotations

import asyncio
import http.client
import json
import ssl
import uuid
from dataclasses import replace
from urllib.parse import urlsplit

import aiohttp
import pytest

from sild.clock import utc_now
from sild.core.envelope import RequestHeader, body_digest
from sild.core.frame import CONTENT_TYPE as FRAME_TYPE
from sild.core.frame import encode_frame
from sild.crypto.tls import client_context
from sild.gateway.exchange.transports import MESSAGE_PATH
from sild.gateway.messagelog.opmon import OpMonRecord
from sild.gateway.signer import SignKeys
from sild.testing.exchange import CLIENT, CONSUMER, ECHO, PROVIDER, Net

CLIENT_HEADER = ("X-Road-Client", str(CLIENT).encode())


def raw_call(net: Net, path: str, headers: list[tuple[str, bytes]]
             ) -> tuple[int, dict[str, str], bytes]:
    """One request with header values sent as raw bytes (http.client, no re-encoding)."""
    url = urlsplit(net.consumer_url())
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=20)
    try:
        conn.putrequest("GET", path)
        for name, value in headers:
            conn.putheader(name, value)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def last_opmon(net: Net, gw: str) -> OpMonRecord:
    records = [r for r in net.logs[gw].records if isinstance(r, OpMonRecord)]
    assert records
    return records[-1]


NOT_UTF8 = b"EE\xff\xfe38001085718"
ESCAPED = "EE\\xff\\xfe38001085718"


@pytest.mark.parametrize(("header", "field"), [
    ("X-Road-UserId", "message_user_id"), ("X-Road-Issue", "message_issue"),
    ("X-Road-Id", "message_id"), ("X-Road-Represented-Party", None)])
def test_non_utf8_header_is_refused_and_monitored_escaped(net: Net, header: str,
                                                          field: str | None) -> None:
    """Header bytes that are not UTF-8 → 400 Client.InvalidRequest; opmon keeps them escaped."""
    status, headers, body = raw_call(net, f"/r1/{ECHO.path()}",
                                     [CLIENT_HEADER, (header, NOT_UTF8)])
    assert (status, headers["x-road-error"]) == (400, "Client.InvalidRequest")
    assert json.loads(body)["message"] == f"{header} header is not valid UTF-8"
    rec = last_opmon(net, "gw2")
    assert (rec.succeeded, rec.fault_code) == (False, "Client.InvalidRequest")
    if field == "message_id":
        assert rec.message_id is None  # never accepted as the message id
    elif field is not None:
        assert getattr(rec, field) == ESCAPED


def test_tab_in_user_id_is_refused(net: Net) -> None:
    """A control character HTTP lets through (TAB) is still refused in an id header."""
    status, headers, _ = raw_call(net, f"/r1/{ECHO.path()}",
                                  [CLIENT_HEADER, ("X-Road-UserId", b"EE\t1")])
    assert (status, headers["x-road-error"]) == (400, "Client.InvalidRequest")
    assert last_opmon(net, "gw2").message_user_id == "EE\\x091"


def test_overlong_user_id_is_monitored_cut_to_its_column(net: Net) -> None:
    """A refused 300-character X-Road-UserId is recorded cut to 255 characters."""
    status, headers, _ = raw_call(net, f"/r1/{ECHO.path()}",
                                  [CLIENT_HEADER, ("X-Road-UserId", b"u" * 300)])
    assert (status, headers["x-road-error"]) == (400, "Client.InvalidRequest")
    assert last_opmon(net, "gw2").message_user_id == "u" * 254 + "…"


@pytest.mark.parametrize("rest", ["/a%00b", "/a%0Ab", "/%FF", "?q=%00", "/ok?q=%1b"])
def test_encoded_control_or_non_utf8_in_path_is_refused(net: Net, rest: str) -> None:
    """%00, other encoded controls or non-UTF-8 escapes in path or query → InvalidRequest."""
    status, headers, _ = raw_call(net, f"/r1/{ECHO.path()}{rest}", [CLIENT_HEADER])
    assert (status, headers["x-road-error"]) == (400, "Client.InvalidRequest")
    rec = last_opmon(net, "gw2")
    assert rec.fault_code == "Client.InvalidRequest"
    assert rec.rest_path is None or "\x00" not in rec.rest_path


def test_refusal_as_xml_does_not_crash_on_bad_bytes(net: Net) -> None:
    """Accept: text/xml with a non-UTF-8 header still gets an X-Road XML error."""
    status, headers, body = raw_call(net, f"/r1/{ECHO.path()}", [
        CLIENT_HEADER, ("Accept", b"text/xml"), ("X-Road-Issue", NOT_UTF8)])
    assert (status, headers["x-road-error"]) == (400, "Client.InvalidRequest")
    assert body.startswith(b"<error><type>Client.InvalidRequest</type>")


def test_non_utf8_client_header_is_an_identifier_error(net: Net) -> None:
    """A non-UTF-8 X-Road-Client is Client.InvalidClientIdentifier, monitored without ids."""
    status, headers, _ = raw_call(net, f"/r1/{ECHO.path()}", [("X-Road-Client", NOT_UTF8)])
    assert (status, headers["x-road-error"]) == (400, "Client.InvalidClientIdentifier")
    rec = last_opmon(net, "gw2")
    assert rec.client is None
    assert rec.fault_string is not None
    assert "\udcff" not in rec.fault_string


def test_valid_utf8_header_text_is_accepted(net: Net) -> None:
    """UTF-8 letters in X-Road-UserId and X-Road-Issue pass and are logged as sent."""
    status, _, _ = raw_call(net, f"/r1/{ECHO.path()}/%C3%A4", [
        CLIENT_HEADER, ("X-Road-UserId", "Jürgen".encode()),
        ("X-Road-Issue", "Müller / 7".encode())])
    assert status == 200
    rec = last_opmon(net, "gw2")
    assert (rec.message_user_id, rec.message_issue, rec.succeeded) == (
        "Jürgen", "Müller / 7", True)


def test_legacy_encoded_query_reaches_the_provider_is(net: Net) -> None:
    """An ISO-8859-1 query value (%F5) is passed on, still encoded (§1.1)."""
    status, _, body = raw_call(net, f"/r1/{ECHO.path()}/q?name=J%F5ks", [CLIENT_HEADER])
    assert status == 200
    assert json.loads(body)["raw_path"].endswith("/q?name=J%F5ks")


# -- the provider gateway: the same rule for what a peer gateway signs -----------------

def _signed(net: Net, **changes: object) -> bytes:
    body = b"{}"
    header = replace(RequestHeader(
        protocol="rest", client=CLIENT, service=ECHO, consumer=CONSUMER.server,
        message_id="EE-peer", request_id=str(uuid.uuid4()), time=utc_now(), method="POST",
        path="/x", query="", headers=(), body_digest=body_digest(body),
        body_length=len(body)), **changes)  # type: ignore[arg-type]
    signer = SignKeys.load(net.settings(CONSUMER).sign_dir).for_member(CONSUMER.member)
    assert signer is not None
    enc = header.encode()
    return encode_frame(enc, signer.sign(RequestHeader.signed_bytes(enc)),
                        signer.certificate_der, body)


def _post_peer(net: Net, frame: bytes) -> tuple[int, str]:
    s = net.settings(CONSUMER)
    tls: ssl.SSLContext = client_context(
        s.auth_cert_path, s.auth_key_path, password=None,
        ca_pems=[(net.net.instance.ca_dir / "ca.pem").read_text()])

    async def go() -> tuple[int, str]:
        async with aiohttp.ClientSession() as session, session.post(
                f"https://{net.settings(PROVIDER).peer_listen}{MESSAGE_PATH}", data=frame,
                headers={"Content-Type": FRAME_TYPE}, ssl=tls,
                timeout=aiohttp.ClientTimeout(total=10)) as resp:
            return resp.status, resp.headers.get("X-Road-Error", "")

    return asyncio.run(go())


@pytest.mark.parametrize(("change", "field", "stored"), [
    ({"user_id": "EE\x00"}, "message_user_id", "EE\\x00"),
    ({"issue": "a\nb"}, "message_issue", "a\\x0ab"),
    ({"message_id": "id\x7f"}, "message_id", "id\\x7f"),
    ({"path": "/x%00"}, "rest_path", "/x%00"),
    ({"request_id": "r\x00"}, "x_request_id", "r\\x00"),
])
def test_provider_refuses_control_characters_a_peer_signed(
        net: Net, change: dict[str, str], field: str, stored: str) -> None:
    """A signed envelope with NUL or controls in its texts → InvalidRequest, opmon escaped."""
    status, code = _post_peer(net, _signed(net, **change))
    assert (status, code) == (400, "Client.InvalidRequest")
    rec = last_opmon(net, "gw1")
    assert (rec.security_server_type, rec.fault_code) == ("Producer", "Client.InvalidRequest")
    assert getattr(rec, field) == stored
