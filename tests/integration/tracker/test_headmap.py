"""The anchored head map (docs/spec/tracker.md §3.4) with a real ledger on loopback, on
SQLite and PostgreSQL: a person's proof verifies against the ledger key, and what an
operator with write access to the provider's database can do is caught.

Issue #8 "Proofs": "delete, alter, back-date or insert one usage row directly in the
provider's database → the person's verification fails and says which"; and the head
itself is checked against the ledger, so rewriting a whole chain with its head, or
deleting the newest record and moving the head back, fails too.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sild.cli import main
from sild.cli.tracker_verify import add_verify_parser
from sild.core.access import parse_subject
from sild.core.identifiers import GlobalGroupId
from sild.core.note import Ed25519Signer, Ed25519Verifier, parse_verifier_key
from sild.core.usage import chain_next
from sild.core.usage_proof import ProofResult, verify_usage_proof
from sild.core.verification import TrustPolicy
from sild.gateway.serverconf.store import PersonalData
from sild.localnet import LocalNet
from sild.registry.service import Registry
from sild.store import make_engine
from sild.testing.exchange import CLIENT, CONSUMER, ECHO, PROVIDER, call
from sild.testing.netthread import NetThread
from sild.tracker.anchor_proof import anchored_head
from sild.tracker.proof import usage_proof
from sild.tracker.store import UsageStore

ANN, BOB = "EE60001017869", "EE39901012239"
COVERT = CONSUMER.member.subsystem("other")  # the registry's covert group holds it
REGISTER = str(ECHO.subsystem)


@pytest.fixture
def running(tmp_path: Path, database_factory: Callable[[str], str]
            ) -> Iterator[tuple[LocalNet, UsageStore, TrustPolicy]]:
    net = LocalNet.create(tmp_path / "net", [PROVIDER, CONSUMER], instance_id="EE",
                          database_url=database_factory, ledger=True)
    engine = make_engine(net.gateway_settings[PROVIDER.server].database_url)
    key = parse_verifier_key((net.root / "ledger" / "ledger.vkey").read_text().strip())
    assert isinstance(key, Ed25519Verifier)
    reg_engine = make_engine(net.instance.database_url)
    registry = Registry(reg_engine, "EE")
    registry.add_group(GlobalGroupId("EE", "covert"))
    registry.group_add(GlobalGroupId("EE", "covert"), COVERT)
    reg_engine.dispose()
    with NetThread(net):
        sc = net.stores[PROVIDER.server].serverconf
        sc.add_service(ECHO.subsystem, "echo", net.is_url + "/echo", timeout=5)
        sc.grant(ECHO, parse_subject(str(CLIENT)))
        sc.grant(ECHO, parse_subject(str(COVERT)))
        sc.declare_personal_data(ECHO, PersonalData(categories=("health",)))
        yield net, UsageStore(engine), TrustPolicy(log_keys=(key,))
    engine.dispose()


def _use(net: LocalNet, subject: str, purpose: str, client: object = CLIENT) -> None:
    status, _, body = call(f"{net.is_url_of(CONSUMER.server)}/r1/{ECHO.path()}/x",
                           headers={"X-Road-Client": str(client), "Sild-Data-Subject": subject,
                                    "Sild-Purpose": purpose, "X-Road-UserId": "EE38001085718"})
    assert status == 200, body


def _anchored(store: UsageStore, subject: str, seq: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        got = anchored_head(store.engine, REGISTER, subject)
        if got is not None and got.seq == seq:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"head {seq} of {subject} not anchored within {timeout} s")
        time.sleep(0.1)


def _traffic(net: LocalNet, store: UsageStore) -> None:
    for i in range(3):
        _use(net, ANN, f"Treatment {i}")
    _use(net, BOB, "Treatment")
    _anchored(store, ANN, 3)
    _anchored(store, BOB, 1)


def _verify(store: UsageStore, policy: TrustPolicy, **kw: Any) -> ProofResult:
    proof = usage_proof(store, REGISTER, ANN, anchor=True, **kw)
    return verify_usage_proof(json.loads(json.dumps(proof)), policy=policy,
                              at=datetime.now(UTC))


def _tamper(store: UsageStore, sql: str, **params: object) -> None:
    with store.engine.begin() as conn:
        conn.execute(sa.text(sql), params)


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="sild tracker")
    add_verify_parser(parser.add_subparsers())
    args = parser.parse_args(list(argv))
    code: int = args.func(args)
    return code


def _audit(net: LocalNet, tmp_path: Path) -> int:
    key = tmp_path / "ledger.vkey"
    key.write_text((net.root / "ledger" / "ledger.vkey").read_text())
    return main(["audit", "--dir", str(net.gateway_settings[PROVIDER.server].root),
                 "--ledger-key", str(key)])


def test_a_persons_proof_verifies_against_the_ledger(
        running: tuple[LocalNet, UsageStore, TrustPolicy], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """After traffic and a round, the head is anchored and `sild tracker verify` says OK."""
    net, store, policy = running
    _traffic(net, store)
    proof = usage_proof(store, REGISTER, ANN, anchor=True)
    assert proof["head"]["seq"] == 3
    assert proof["unanchored"] == []
    result = verify_usage_proof(proof, policy=policy, at=datetime.now(UTC))
    assert result.verdict == "OK", result.summary()
    assert result.records == 3
    assert result.anchor is not None
    assert result.anchor.round_id == proof["anchor"]["round"]["id"]
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(proof))
    vkey = net.root / "ledger" / "ledger.vkey"
    assert _cli("verify", str(path), "--ledger-key", str(vkey)) == 0
    assert "OK" in capsys.readouterr().out
    assert _cli("verify", str(path)) == 4  # no trust anchor given: NA
    # a person never recorded: absence from the anchored map is proven too
    other = verify_usage_proof(usage_proof(store, REGISTER, "EE38001085718", anchor=True),
                               policy=policy, at=datetime.now(UTC))
    assert other.verdict == "OK", other.summary()
    assert _audit(net, tmp_path) == 0
    assert "usage heads match the anchored head map" in capsys.readouterr().out


def test_a_proof_from_another_ledger_is_refused(
        running: tuple[LocalNet, UsageStore, TrustPolicy]) -> None:
    """The receipt must be signed by the ledger the person trusts."""
    net, store, _ = running
    _traffic(net, store)
    other = Ed25519Signer.from_seed("ee.sild/ledger", bytes(32)).verifier()
    result = _verify(store, TrustPolicy(log_keys=(other,)))
    assert result.verdict == "FAIL"
    assert result.anchor is not None
    assert result.anchor.code == "KEY-02"


def test_operator_rewrites_a_record_with_its_chain_and_head(
        running: tuple[LocalNet, UsageStore, TrustPolicy], tmp_path: Path) -> None:
    """Record 2 rewritten and the chain and head recomputed consistently: the chain
    check passes on its own, but the head disagrees with the anchored map."""
    net, store, policy = running
    _traffic(net, store)
    rows = store.chain(REGISTER, ANN)
    chain = rows[0].chain
    for u in rows[1:]:
        changed = dataclasses.replace(u, action="Forged") if u.seq == 2 else u
        record_hash = changed.record().content(u.seq, u.logged_at).record_hash()
        chain = chain_next(chain, record_hash)
        _tamper(store, "UPDATE usage_log SET action = :a, record_hash = :h, chain = :c "
                "WHERE id = :i", a=changed.action, h=record_hash, c=chain, i=u.id)
    _tamper(store, "UPDATE usage_heads SET chain = :c WHERE subject = :s", c=chain, s=ANN)
    assert verify_usage_proof(usage_proof(store, REGISTER, ANN)).ok  # unanchored: fooled
    result = _verify(store, policy)
    assert result.verdict == "FAIL"
    assert "disagrees with the anchored head map" in result.summary()
    assert [f.seq for f in result.findings] == [3]
    # a proof that names the rewritten head is refused by the map itself
    proof = usage_proof(store, REGISTER, ANN, anchor=True)
    proof["head"]["chain"] = proof["current"]["chain"]
    forged = verify_usage_proof(proof, policy=policy, at=datetime.now(UTC))
    assert forged.anchor is not None
    assert forged.anchor.code == "MAP-02"
    assert "disagrees with the anchored map" in forged.summary()
    assert _audit(net, tmp_path) == 5  # the audit sees the head differ from the map
    # new traffic does not launder the rewrite into the next map: the anchorer keeps
    # the old head, and the proof keeps failing
    _use(net, ANN, "Treatment 4")
    _anchored(store, BOB, 1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not _mapped_after(store, ANN, 4):
        time.sleep(0.1)
    assert _mapped_after(store, ANN, 4)
    assert anchored_head(store.engine, REGISTER, ANN).seq == 3  # type: ignore[union-attr]
    assert _verify(store, policy).verdict == "FAIL"


def _mapped_after(store: UsageStore, subject: str, seq: int) -> bool:
    """A round that covers record ``seq`` of ``subject`` has its receipt."""
    with store.engine.connect() as conn:
        row_id = conn.execute(sa.text("SELECT id FROM usage_log WHERE subject = :s AND "
                                      "seq = :n"), {"s": subject, "n": seq}).scalar()
        through = conn.execute(sa.text("SELECT max(map_through) FROM anchor_rounds WHERE "
                                       "receipt IS NOT NULL")).scalar()
    return row_id is not None and through is not None and through >= row_id


def test_operator_rewrites_the_map_bucket_too(
        running: tuple[LocalNet, UsageStore, TrustPolicy]) -> None:
    """Rewriting the stored bucket to match breaks its path to the anchored map root."""
    net, store, policy = running
    _traffic(net, store)
    from sild.core.headmap import (
        bucket_of,
        decode_entries,
        encode_entries,
        map_key,
        stored_bucket_hash,
    )

    key = map_key(REGISTER, ANN)
    with store.engine.begin() as conn:
        row = conn.execute(sa.text("SELECT round_id, entries FROM usage_map_buckets WHERE "
                                   "bucket = :b ORDER BY round_id DESC"),
                           {"b": bucket_of(key)}).first()
        assert row is not None
        entries = decode_entries(bytes(row.entries))
        entries[key] = (2, entries[key][1])
        blob = encode_entries(entries)
        conn.execute(sa.text("UPDATE usage_map_buckets SET entries = :e, hash = :h WHERE "
                             "bucket = :b AND round_id = :r"),
                     {"e": blob, "h": stored_bucket_hash(blob), "b": bucket_of(key),
                      "r": row.round_id})
    result = _verify(store, policy)
    assert result.verdict == "FAIL"
    assert result.anchor is not None
    assert result.anchor.code == "MAP-03"


def test_deleting_the_newest_record_and_moving_the_head_back(
        running: tuple[LocalNet, UsageStore, TrustPolicy], tmp_path: Path) -> None:
    """The anchored head still names record 3: it is missing."""
    net, store, policy = running
    _traffic(net, store)
    rows = store.chain(REGISTER, ANN)
    _tamper(store, "DELETE FROM usage_log WHERE id = :i", i=rows[2].id)
    _tamper(store, "UPDATE usage_heads SET seq = 2, chain = :c WHERE subject = :s",
            c=rows[1].chain, s=ANN)
    assert verify_usage_proof(usage_proof(store, REGISTER, ANN)).ok  # unanchored: fooled
    result = _verify(store, policy)
    assert result.verdict == "FAIL"
    assert [(f.seq, f.problem) for f in result.findings] == [(3, "missing")]
    assert _audit(net, tmp_path) == 5


@pytest.mark.parametrize(("sql", "seq", "problem"), [
    ("DELETE FROM usage_log WHERE id = :i2", 2, "missing"),
    ("UPDATE usage_log SET action = 'Forged' WHERE id = :i2", 2, "altered"),
    ("UPDATE usage_log SET logged_at = :early WHERE id = :i2", 2, "altered or back-dated"),
    ("INSERT INTO usage_log SELECT :new, register, subject, 4, logged_at, action, "
     "purpose_code, legal_basis, receiver, receiver_name, user_id, service, message_id, "
     "request_id, consent_id, categories, flags, sealed, reason, record_hash, chain "
     "FROM usage_log WHERE id = :i2", 4, "inserted"),
])
def test_one_row_changed_without_recomputation_is_named(
        running: tuple[LocalNet, UsageStore, TrustPolicy], sql: str, seq: int,
        problem: str) -> None:
    """Delete, alter, back-date or insert one row: the anchored proof names the record."""
    net, store, policy = running
    _traffic(net, store)
    rows = store.chain(REGISTER, ANN)
    _tamper(store, sql, i2=rows[1].id, new=rows[-1].id + 1000,
            early=rows[1].logged_at - timedelta(days=3))
    result = _verify(store, policy)
    assert result.verdict == "FAIL", result.summary()
    assert result.findings[0].seq == seq
    assert result.findings[0].problem.startswith(problem)
    assert result.anchor is not None
    assert result.anchor.status == "OK"


def test_the_tracker_route_serves_the_anchor_section(
        running: tuple[LocalNet, UsageStore, TrustPolicy]) -> None:
    """GET /sild/v1/usageProof?anchor=1 on the tracker app; a bad flag is a 400."""
    from sild.testing.servers import serve_asgi
    from sild.tracker.app import create_tracker_app

    net, store, policy = running
    _traffic(net, store)
    headers = {"X-Road-UserId": ANN, "X-Road-Service": str(ECHO.subsystem.service("findUsage"))}
    with serve_asgi(create_tracker_app(store, retention_days=365)) as url:
        status, _, body = call(f"{url}/sild/v1/usageProof?userCode={ANN}&anchor=1",
                               headers=headers)
        assert status == 200, body
        result = verify_usage_proof(json.loads(body), policy=policy, at=datetime.now(UTC))
        assert result.verdict == "OK", result.summary()
        status, _, body = call(f"{url}/sild/v1/usageProof?userCode={ANN}", headers=headers)
        assert "anchor" not in json.loads(body)
        status, _, body = call(f"{url}/sild/v1/usageProof?userCode={ANN}&anchor=yes",
                               headers=headers)
        assert status == 400


def test_a_release_without_traffic_is_anchored_in_a_round_of_its_own(
        running: tuple[LocalNet, UsageStore, TrustPolicy], tmp_path: Path) -> None:
    """`sild tracker unseal` appends a record with no message-log row: the map still
    moves on, in a round with no records, and the audit accepts that round."""
    net, store, policy = running
    _use(net, ANN, "Investigation", client=COVERT)
    _anchored(store, ANN, 1)
    (sealed,) = store.sealed(REGISTER)
    assert _verify(store, policy).sealed == 1
    store.unseal(sealed.id, "Tartu Maakohus 2-26-1234", at=datetime.now(UTC))
    _anchored(store, ANN, 2)
    result = _verify(store, policy)
    assert result.verdict == "OK", result.summary()
    assert result.records == 2
    with store.engine.connect() as conn:
        empty = conn.execute(sa.text("SELECT count(*) FROM anchor_rounds WHERE "
                                     "last_record_id < first_record_id")).scalar()
    assert empty == 1
    assert _audit(net, tmp_path) == 0


def test_expiry_is_not_mistaken_for_a_rewrite(
        running: tuple[LocalNet, UsageStore, TrustPolicy], tmp_path: Path) -> None:
    """Expired records leave their head; the next record extends it and is mapped (the
    anchorer's rewrite check accepts a mapped record that lies below the cutoff)."""
    net, store, _ = running
    _traffic(net, store)
    assert store.expire(datetime.now(UTC) + timedelta(seconds=1)) == 4
    _use(net, ANN, "Treatment 4")
    _anchored(store, ANN, 4)
    assert _audit(net, tmp_path) == 0
