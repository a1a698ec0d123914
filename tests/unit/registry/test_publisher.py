"""The publisher's self-check and fallback (docs/spec/globalconf.md §5), with a registry
double that hands out prepared documents: no database, a settable clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from structlog.testing import capture_logs

from sild.core.globalconf import GlobalConf, GlobalGroupEntry, verify_globalconf
from sild.core.identifiers import GlobalGroupId
from sild.crypto.keys import key_id, save_private_key
from sild.errors import GlobalConfError, StorageError
from sild.registry.publisher import RETRY_AFTER_FAILURE, Publisher
from sild.testing.clock import SettableClock
from sild.testing.confdouble import make_anchor, make_conf

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


class FakeRegistry:
    """What the publisher asks of a registry: the version and a snapshot."""

    instance = "EE"

    def __init__(self) -> None:
        self.conf = make_conf([KEY])
        self.fail: Exception | None = None
        self.snapshots = 0

    def version(self) -> int:
        if isinstance(self.fail, StorageError):
            raise self.fail
        return self.conf.version

    def snapshot(self, *, at: datetime, expire_after: timedelta,
                 refresh_interval: int) -> GlobalConf:
        self.snapshots += 1
        if self.fail is not None:
            raise self.fail
        return replace(self.conf, issued_at=at, expires_at=at + expire_after,
                       refresh_interval=refresh_interval)

    def change(self, **fields: object) -> None:
        self.conf = replace(self.conf, version=self.conf.version + 1, **fields)  # type: ignore[arg-type]


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Publisher, FakeRegistry, SettableClock]:
    save_private_key(tmp_path / f"{key_id(KEY.public_key())}.key", KEY)
    registry = FakeRegistry()
    clock = SettableClock()
    publisher = Publisher(registry, tmp_path, anchor=make_anchor([KEY]),  # type: ignore[arg-type]
                          clock=clock)
    return publisher, registry, clock


def _bad_group() -> tuple[GlobalGroupEntry, ...]:
    return (GlobalGroupEntry(GlobalGroupId("EE", "security-servers"), ""),)


def test_good_document_verifies_against_the_anchor(setup) -> None:  # type: ignore[no-untyped-def]
    """What is served verifies with the anchor's keys, and health is clear."""
    publisher, registry, clock = setup
    raw = publisher.current()
    anchor = make_anchor([KEY])
    verified = verify_globalconf(raw, trusted_keys=anchor.trusted_keys, instance="EE",
                                 at=clock(), last=None)
    assert verified.conf.version == registry.conf.version
    assert publisher.problem is None


def test_refused_document_is_not_served(setup) -> None:  # type: ignore[no-untyped-def]
    """A document gateways would refuse leaves the last good one in service, logged."""
    publisher, registry, _ = setup
    good = publisher.current()
    registry.change(global_groups=_bad_group())
    with capture_logs() as logs:
        assert publisher.current() == good
    assert publisher.problem is not None
    assert "fails the gateways' own check" in publisher.problem
    assert "global_groups[0].description: must be 1-1024 characters" in publisher.problem
    assert publisher.serving_version == registry.conf.version - 1
    (entry,) = [e for e in logs if e["event"] == "globalconf_not_published"]
    assert entry["log_level"] == "error"


def test_failing_build_is_retried_only_after_a_pause(setup) -> None:  # type: ignore[no-untyped-def]
    """A failure is not rebuilt on every request: only after RETRY_AFTER_FAILURE."""
    publisher, registry, clock = setup
    publisher.current()
    registry.change(global_groups=_bad_group())
    publisher.current()
    builds = registry.snapshots
    for _ in range(5):
        publisher.current()
    assert registry.snapshots == builds
    clock.advance(RETRY_AFTER_FAILURE.total_seconds())
    publisher.current()
    assert registry.snapshots == builds + 1


def test_a_fix_is_published_at_once(setup) -> None:  # type: ignore[no-untyped-def]
    """The next change (a new version) is tried immediately and clears the problem."""
    publisher, registry, clock = setup
    publisher.current()
    registry.change(global_groups=_bad_group())
    publisher.current()
    registry.change(global_groups=())
    raw = publisher.current()
    assert publisher.problem is None
    assert publisher.serving_version == registry.conf.version
    verify_globalconf(raw, trusted_keys=make_anchor([KEY]).trusted_keys, instance="EE",
                      at=clock(), last=None)


def test_a_crash_while_building_keeps_the_last_good_document(setup) -> None:  # type: ignore[no-untyped-def]
    """A bug (any exception) is logged with its traceback; the last good copy stays."""
    publisher, registry, clock = setup
    good = publisher.current()
    registry.fail = ZeroDivisionError("boom")
    clock.advance(61)
    with capture_logs() as logs:
        assert publisher.current() == good
    assert publisher.problem == "ZeroDivisionError: boom"
    assert any(e["event"] == "globalconf_build_crashed" for e in logs)


def test_database_down_keeps_the_last_good_document(setup) -> None:  # type: ignore[no-untyped-def]
    """With the database unreachable the registry serves what it has, and says why."""
    publisher, registry, _ = setup
    good = publisher.current()
    registry.fail = StorageError("database error: connection refused")
    with capture_logs() as logs:
        for _ in range(20):
            assert publisher.current() == good
    assert publisher.problem == "database error: connection refused"
    assert len(logs) == 1  # one error line, not one per request


def test_nothing_good_yet_raises_the_reason(setup) -> None:  # type: ignore[no-untyped-def]
    """Without any good document, the failure itself is raised (served as an X-Road error)."""
    publisher, registry, _ = setup
    registry.change(global_groups=_bad_group())
    with pytest.raises(GlobalConfError, match="description: must be 1-1024 characters"):
        publisher.current()
    assert publisher.serving_version is None


def test_rollback_is_caught(setup) -> None:  # type: ignore[no-untyped-def]
    """A lower version than the one served (a restored backup) fails the check."""
    publisher, registry, _ = setup
    registry.change()
    good = publisher.current()
    registry.conf = replace(registry.conf, version=registry.conf.version - 1)
    assert publisher.current() == good
    assert publisher.problem is not None
    assert "older than accepted" in publisher.problem


def test_key_rotation_follows_the_last_served_keys(setup, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """After add (old+new sign) and retire (new only), the self-check still passes."""
    from sild.core.globalconf import signing_key_of

    publisher, registry, _ = setup
    publisher.current()
    new = Ed25519PrivateKey.generate()
    save_private_key(tmp_path / f"{key_id(new.public_key())}.key", new)
    registry.change(signing_keys=(signing_key_of(KEY), signing_key_of(new)))
    publisher.current()
    registry.change(signing_keys=(signing_key_of(new),))
    publisher.current()
    assert publisher.problem is None
    assert publisher.serving_version == registry.conf.version
