"""A client flooding malformed requests cannot fail a well-behaved client's calls (issue 7
§1; docs/spec/exchange.md §1.1; docs/operations.md "Message log"): real gateways, real
message logs on SQLite and PostgreSQL, loopback only, bounded in count and time."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from sild.core.access import parse_subject
from sild.localnet import LocalNet
from sild.store import make_engine
from sild.testing.exchange import CLIENT, CONSUMER, ECHO, PROVIDER
from sild.testing.netthread import NetThread

GOOD_CALLS = 120  # per good worker
BAD_CALLS = 300  # per bad worker
DEADLINE = 12.0  # seconds; the loops stop by themselves at the latest then

# What a careless or hostile client sends: (extra path, headers as raw bytes).
MALFORMED: list[tuple[str, list[tuple[str, bytes]]]] = [
    ("", [("X-Road-UserId", b"EE\xff\xfe38001085718")]),
    ("", [("X-Road-Issue", b"case \xc3\x28")]),
    ("", [("X-Road-Id", b"id-\xff")]),
    ("", [("X-Road-UserId", b"u" * 300)]),
    ("", [("X-Road-UserId", b"EE\t1")]),
    ("/a%00b", []),
    ("/x?q=%00", []),
]


@pytest.fixture
def running(tmp_path: Path,
            database_factory: Callable[[str], str]) -> Iterator[LocalNet]:
    net = LocalNet.create(tmp_path / "net", [PROVIDER, CONSUMER], instance_id="EE",
                          database_url=database_factory)
    with NetThread(net):
        sc = net.stores[PROVIDER.server].serverconf
        sc.add_service(ECHO.subsystem, "echo", net.is_url + "/echo", timeout=5)
        sc.grant(ECHO, parse_subject(str(CLIENT)))
        yield net


def _worker(base: str, calls: int, pick: Callable[[int], tuple[str, list[tuple[str, bytes]]]],
            stop_at: float) -> list[tuple[int, str]]:
    """Sequential calls on one keep-alive connection; (status, X-Road-Error) for each."""
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=20)
    out: list[tuple[int, str]] = []
    try:
        for i in range(calls):
            if time.monotonic() > stop_at:
                break
            rest, headers = pick(i)
            conn.putrequest("POST", f"/r1/{ECHO.path()}{rest}")
            conn.putheader("X-Road-Client", str(CLIENT))
            conn.putheader("Content-Length", "2")
            for name, value in headers:
                conn.putheader(name, value)
            conn.endheaders(b"{}")
            resp = conn.getresponse()
            resp.read()
            out.append((resp.status, resp.getheader("X-Road-Error") or ""))
    finally:
        conn.close()
    return out


def test_malformed_flood_does_not_fail_a_good_neighbour(running: LocalNet) -> None:
    """Beside a malformed flood the good client sees 0 errors; the flood is refused, monitored."""
    net = running
    base = net.is_url_of(CONSUMER.server)
    stop_at = time.monotonic() + DEADLINE
    good_headers = [("X-Road-UserId", b"EE38001085718"),
                    ("X-Road-Issue", "Müller / 7".encode())]
    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        bad = [pool.submit(_worker, base, BAD_CALLS, lambda i: MALFORMED[i % len(MALFORMED)],
                           stop_at) for _ in range(2)]
        good = [pool.submit(_worker, base, GOOD_CALLS, lambda i: ("", good_headers), stop_at)
                for _ in range(2)]
        bad_out = [r for f in bad for r in f.result()]
        good_out = [r for f in good for r in f.result()]
    elapsed = time.monotonic() - started
    print(f"\n{len(bad_out)} malformed and {len(good_out)} good calls in {elapsed:.1f} s "
          f"({len(bad_out) / elapsed:.0f} malformed/s)")

    assert len(good_out) >= 50  # enough calls to have shared batches with the flood
    assert [r for r in good_out if r != (200, "")] == []
    assert len(bad_out) >= 100
    assert {r for r in bad_out} == {(400, "Client.InvalidRequest")}

    engine = make_engine(net.gateway_settings[CONSUMER.server].database_url)
    try:
        with engine.connect() as conn:
            refused = conn.execute(sa.text(
                "SELECT message_user_id, message_issue, rest_path, fault_code "
                "FROM opmon_records WHERE succeeded = :f"), {"f": False}).all()
            served = conn.execute(sa.text(
                "SELECT count(*) FROM message_log WHERE kind = 'response'")).scalar_one()
    finally:
        engine.dispose()
    assert len(refused) == len(bad_out)  # every refusal is monitored
    assert served == len(good_out)
    users = {r.message_user_id for r in refused}
    assert "EE\\xff\\xfe38001085718" in users
    assert "u" * 254 + "…" in users
    assert "EE\\x091" in users
    assert "case \\xc3(" in {r.message_issue for r in refused}
    assert all(r.fault_code == "Client.InvalidRequest" for r in refused)
    for row in refused:  # nothing raw: no NUL, no control character, no surrogate
        text = json.dumps([row.message_user_id, row.message_issue, row.rest_path],
                          ensure_ascii=False)
        assert not any(ord(c) < 0x20 or 0xD800 <= ord(c) <= 0xDFFF for c in text), row
