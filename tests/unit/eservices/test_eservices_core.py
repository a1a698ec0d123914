"""Pure parts of the e-services and the demo country (docs/spec/eservices.md)."""

from __future__ import annotations

import asyncio
import sys
import types
from pathlib import Path

import pytest

from sild.demo_country import DemoCountry, DemoGateway, DemoPerson
from sild.demo_data import pick_persons
from sild.demo_start import start_portal, stop_portal
from sild.errors import InvalidPersonalCode, InvalidRequest
from sild.eservices.taxreturn import compute
from sild.eservices.web import person, text_field
from sild.registers import generate


def test_tax_below_the_exemption_is_all_refunded() -> None:
    """Income under € 7,848: no tax, everything withheld comes back."""
    sums = compute([{"gross": "7000.00", "withheld": "1540.00"}])
    assert sums == {"gross": 700000, "withheld": 154000, "tax": 0, "due": -154000}


def test_person_reads_bare_estonian_codes() -> None:
    """11 digits are Estonian; the CC form is kept."""
    assert person("38001085718") == "EE38001085718"


@pytest.mark.parametrize("text", ["", "EE38001085719", "x" * 40, None, 5])
def test_person_refuses_what_is_not_a_code(text: object) -> None:
    """Empty, a wrong check digit, too long, not a string: refused."""
    with pytest.raises((InvalidPersonalCode, InvalidRequest)):
        person(text)


@pytest.mark.parametrize("value", ["", "   ", "a\nb", "x" * 11, 3])
def test_text_field_refuses(value: object) -> None:
    """Empty, control characters, over the limit, not a string."""
    with pytest.raises(InvalidRequest):
        text_field({"f": value}, "f", limit=10)


def test_demo_persons_have_their_roles() -> None:
    """The small country still has every named person, the child a minor of the parent."""
    data = generate(seed=2014, size="small")
    picked = pick_persons(data)
    assert {p.role for p in picked.persons} == {"citizen", "locked", "parent", "child",
                                                 "e-resident", "doctor", "officer"}
    assert {"parent": picked.person("parent").code, "child": picked.person("child").code} \
        in [{"parent": r["parent"], "child": r["child"]} for r in data["pop_relations"]]
    assert picked.person("e-resident").code.startswith("JP")
    assert not {p.code for p in picked.persons} & set(picked.pool)


def _country(tmp_path: Path) -> DemoCountry:
    return DemoCountry(
        instance="DEMO", root=tmp_path, registry_url="http://r", ledger_url="http://l",
        gateways={"ria": DemoGateway("RIA", "DEMO/GOV/1", "DEMO/GOV/1/gw6", "http://i",
                                     "http://a", ("DEMO/GOV/1/portal",))},
        services={"population": "DEMO/GOV/2/rr/population"}, find_usage={},
        subsystems={"portal": "DEMO/GOV/1/portal"}, subsystem_gateway={"portal": "ria"},
        eservice_urls={}, eservice_services={}, consent_url="", notify_url="",
        tracker_urls={}, oidc_url="", persons=(DemoPerson("EE38001085718", "A", "B", "c"),))


def test_country_round_trips_through_json(tmp_path: Path) -> None:
    """demo-country.json reads back to the same DemoCountry."""
    c = _country(tmp_path)
    assert DemoCountry.from_json(c.to_json()) == c
    assert c.is_url_for("portal") == "http://i"


def test_country_mappings_are_read_only(tmp_path: Path) -> None:
    """An add-on cannot change the country it was given."""
    with pytest.raises(TypeError):
        _country(tmp_path).services["x"] = "y"  # type: ignore[index]


def test_portal_hook_is_called_and_stopped(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """sild.portal.demo.start(country) is called; what it returns is called at stop."""
    seen: list[object] = []
    module = types.ModuleType("sild.portal.demo")

    async def start(country: DemoCountry) -> object:
        seen.append(country)
        return lambda: seen.append("stopped")

    module.start = start  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sild.portal.demo", module)
    c = _country(tmp_path)

    async def run() -> None:
        await stop_portal(await start_portal(c))

    asyncio.run(run())
    assert seen == [c, "stopped"]


def test_failed_generation_is_one_clear_error(tmp_path: Path) -> None:
    """The child's failure comes back as one ConfigurationError line, its log kept."""
    from sild.demo_data import Generation
    from sild.errors import ConfigurationError

    g = Generation(tmp_path, seed=1, size="huge")
    g.start()
    with pytest.raises(ConfigurationError, match=r"generating the registers failed: .*size"):
        asyncio.run(g.wait())
    assert (tmp_path / "registers" / "generate.log").is_file()


def test_demo_refuses_an_unknown_size(tmp_path: Path) -> None:
    """`sild demo --size` outside small/medium/large: refused before anything starts."""
    from sild.demo import run_demo
    from sild.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="size must be one of"):
        run_demo(tmp_path / "d", port=0, wait=False, say=print, size="huge")
    assert not (tmp_path / "d").exists()
