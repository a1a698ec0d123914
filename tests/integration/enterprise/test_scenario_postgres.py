"""The enterprise scenario on PostgreSQL: every store (registry, ledger, the three
gateways' message logs and usage records) in its own real PostgreSQL database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sild.enterprise import run_enterprise
from sild.enterprise.data import make_company
from sild.enterprise.layout import subsystem
from sild.store import make_engine
from sild.tracker.store import UsageStore


@pytest.mark.postgres
@pytest.mark.slow
def test_the_scenario_records_every_read_in_postgresql(
        tmp_path: Path, pg_databases: Callable[[str], str]) -> None:
    """Set up and first exchanges on PostgreSQL; the usage records are in its databases."""
    printed: list[str] = []
    assert run_enterprise(tmp_path / "kask", port=0, wait=False, say=printed.append,
                          fixed_ports=False, database_url=pg_databases) == 0
    assert any(line.startswith("Company portal: http://") for line in printed)
    featured = make_company().account_managers[0].code
    for db, system, readers in (("gateway-gw1", "hr", {"payroll", "crm"}),
                                ("gateway-gw1", "payroll", {"accounting"}),
                                ("gateway-gw2", "crm", {"erp"})):
        url = pg_databases(db)
        assert url.startswith("postgresql")
        store = UsageStore(make_engine(url))
        try:
            _, rows = store.page(str(subsystem(system)), featured, offset=0, limit=100)
        finally:
            store.engine.dispose()
        assert {r[2].rsplit("/", 1)[1] for r in rows} >= readers, rows
